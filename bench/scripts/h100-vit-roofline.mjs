// The two tables of bench/NOTES.md "CUDA GEMM and attention on paper": FLOPs, bytes and H100
// roofline time of the ViT GEMMs and attention at 16×224², batch 8 (no GPU needed: arithmetic only).
//   node bench/scripts/h100-vit-roofline.mjs
const PEAK = 989e12,
  BW = 3.35e12,
  CUBLAS = 790e12;
const models = { S: { D: 384, H: 6, L: 12 }, B: { D: 768, H: 12, L: 12 }, L: { D: 1024, H: 16, L: 24 } };
const batch = 8,
  seqs = { 'teacher (1568 tok)': 1568, 'student (157 tok)': 157 };
const f = (x, d = 1) => x.toFixed(d);
const rows = [];
const line = (...c) => rows.push(`| ${c.join(' | ')} |`);
line('model', 'tokens', 'op', 'M×N×K', 'GFLOP', 'MB f32 / bf16', 'intensity f32 (FLOP/B)', 'roof µs f32 / bf16', 'at 790 TFLOP/s µs');
line('---', '---', '---', '---', '---:', '---:', '---:', '---:', '---:');
const totals = [];
for (const [m, { D, H, L }] of Object.entries(models))
  for (const [, n] of Object.entries(seqs)) {
    const M = batch * n;
    let layerRoof32 = 0,
      layerRoof16 = 0,
      layerFlop = 0;
    for (const [op, N, K] of [
      ['qkv', 3 * D, D],
      ['proj', D, D],
      ['fc1', 4 * D, D],
      ['fc2', D, 4 * D],
    ]) {
      const fl = 2 * M * N * K,
        elems = M * K + K * N + M * N;
      const t32 = Math.max(fl / PEAK, (4 * elems) / BW),
        t16 = Math.max(fl / PEAK, (2 * elems) / BW);
      layerRoof32 += t32;
      layerRoof16 += t16;
      layerFlop += fl;
      line(
        `ViT-${m}`,
        n,
        op,
        `${M}×${N}×${K}`,
        f(fl / 1e9, 2),
        `${f((4 * elems) / 1e6)} / ${f((2 * elems) / 1e6)}`,
        f(fl / (4 * elems), 0),
        `${f(t32 * 1e6)} / ${f(t16 * 1e6)}`,
        f((fl / CUBLAS) * 1e6),
      );
    }
    const hd = D / H,
      bh = batch * H;
    const afl = 4 * n * n * hd * bh,
      abw = 2.5 * afl,
      abwOurs = 3.5 * afl;
    const aby = 4 * (3 + 1) * M * D + 4 * bh * n,
      abyB = 4 * (3 + 1 + 1 + 3) * M * D + 4 * bh * n;
    const tf = Math.max(afl / PEAK, aby / BW),
      tb = Math.max(abw / PEAK, abyB / BW);
    line(
      `ViT-${m}`,
      n,
      'attn fwd',
      `${bh} heads × ${n}² × ${hd}`,
      f(afl / 1e9, 2),
      f(aby / 1e6),
      f(afl / aby, 0),
      f(tf * 1e6),
      `FA2 ≈300: ${f((afl / 300e12) * 1e6)}`,
    );
    line(
      `ViT-${m}`,
      n,
      'attn bwd',
      `FA2 count 2.5× fwd (ours does 3.5×)`,
      `${f(abw / 1e9, 2)} (${f(abwOurs / 1e9, 2)})`,
      f(abyB / 1e6),
      f(abw / abyB, 0),
      f(tb * 1e6),
      `FA2 ≈230: ${f((abw / 230e12) * 1e6)}`,
    );
    totals.push([`ViT-${m}`, n, L, layerFlop, afl, layerRoof32 + tf, layerRoof16 + tf]);
  }
rows.push('');
rows.push('| model | tokens | layers | forward GFLOP (GEMM + attn) | attention share | forward roof ms f32 / bf16 I/O |');
rows.push('| --- | --- | ---: | ---: | ---: | ---: |');
for (const [m, n, L, gf, af, r32, r16] of totals)
  rows.push(
    `| ${m} | ${n} | ${L} | ${f((L * (gf + af)) / 1e9, 0)} | ${f((100 * af) / (gf + af), 1)}% | ${f(L * r32 * 1e3, 2)} / ${f(L * r16 * 1e3, 2)} |`,
  );
console.log(rows.join('\n'));
