// Per-call overhead: tiny ops (4×4 gemm, add) enqueued back to back, then one read-back, in µs per call.
// Usage: node bench/scripts/per-call.mjs ROOT   (ROOT: a package folder with dist/ and its addon; compare two
// builds by alternating runs, e.g. a `git worktree` of an older commit built beside this one).
const root = process.argv[2];
const { Tensor, gemm, add } = await import(`${root}/dist/index.js`);
const a = Tensor.fromArray(new Float32Array(16).fill(1), [4, 4]);
const b = Tensor.fromArray(new Float32Array(16).fill(2), [4, 4]);
const time = async (fn, n) => {
  let last;
  for (let i = 0; i < 2000; i++) {
    last?.dispose();
    last = fn();
  }
  await last.toArray();
  const t0 = performance.now();
  for (let i = 0; i < n; i++) {
    last.dispose();
    last = fn();
  }
  await last.toArray();
  const us = ((performance.now() - t0) * 1000) / n;
  last.dispose();
  return us;
};
const out = { gemm: await time(() => gemm(a, b), 20000), add: await time(() => add(a, b), 20000) };
console.log(JSON.stringify({ root, gemm_us: +out.gemm.toFixed(2), add_us: +out.add.toFixed(2) }));
