// Bytes each memory-bound CUDA kernel moves per call at the MVD shapes (batch 8, 16×224²), f32 tensors.
const HBM = 3.35e12;
const rows = (tok) => 8 * tok;
const cases = [];
for (const [name, D] of [
  ['S', 384],
  ['B', 768],
  ['L', 1024],
]) {
  for (const [who, tok] of [
    ['teacher', 1568],
    ['student', 157],
  ]) {
    const R = rows(tok);
    cases.push([`layernorm fwd ${name} ${who}`, `${R}×${D}`, 4 * R * D * 2 + 8 * R]);
    cases.push([`layernorm bwd ${name} ${who}`, `${R}×${D}`, 4 * R * D * 3 + 8 * R]);
    cases.push([`gelu fwd+bwd ${name} ${who}`, `${R}×${4 * D}`, 4 * R * 4 * D * 5]);
    cases.push([`residual add ${name} ${who}`, `${R}×${D}`, 4 * R * D * 3]);
  }
  const masked = 8 * (1568 - 157);
  cases.push([`distill loss (2 teachers) ${name}`, `2 × ${masked}×${D}`, 4 * masked * D * 6]);
  cases.push([`gather visible tokens ${name}`, `${rows(157)} of ${rows(1568)} × ${D}`, 4 * rows(157) * D * 2]);
}
for (const [name, P] of [
  ['S student+decoders', 29.87e6],
  ['B student+decoders', 117.34e6],
  ['L student+decoders', 331.18e6],
])
  cases.push([`adamw ${name}`, `${(P / 1e6).toFixed(1)} M params`, 4 * P * 7]);
cases.push(['patchify 16×224² ×8', '8×3×16×224²', 4 * 8 * 3 * 16 * 224 * 224 * 2]);
console.log('| kernel | shape | MB moved | H100 roof µs |\n|---|---|---|---|');
for (const [k, s, b] of cases) console.log(`| ${k} | ${s} | ${(b / 1e6).toFixed(1)} | ${((b / HBM) * 1e6).toFixed(1)} |`);
