// bench/kernels-attention.md's table: mvd's fused CPU attention, an unfused baseline built from the
// addon's own ops (per head: gemm, softmax, gemm), and PyTorch (bench/torch_kernels.py), at ViT-B
// heads (12 × 64) and B = 1. Threads are OpenMP's for the process, so one run gives one thread
// count; PyTorch is given the same count. Needs the compiled TypeScript (`npm run build`).
//   node bench/scripts/attention-cpu.mjs [--tokens 160,1568] [--seconds 0.5] [--no-torch]
//   OMP_NUM_THREADS=1 node bench/scripts/attention-cpu.mjs
import { cpus } from 'node:os';
import { parseArgs } from 'node:util';
import { pathToFileURL } from 'node:url';
import { resolve } from 'node:path';

const dist = resolve(process.env.DIST ?? new URL('../../dist', import.meta.url).pathname);
const mvd = await import(pathToFileURL(`${dist}/index.js`).href);
const { timeIt, fmt, table } = await import(pathToFileURL(`${dist}/bench/timing.js`).href);
const { torchAvailable, runTorchKernels } = await import(pathToFileURL(`${dist}/bench/compare.js`).href);
const { Tensor, randomFill, attentionForward, attentionBackward, gemm, softmax } = mvd;

const { values } = parseArgs({
  options: {
    tokens: { type: 'string', default: '160,1568' },
    seconds: { type: 'string', default: '0.5' },
    'no-torch': { type: 'boolean' },
  },
});
const tokens = values.tokens.split(',').map(Number);
const minSeconds = Number(values.seconds);
if (tokens.some((n) => !Number.isInteger(n) || n < 1))
  throw new Error(`--tokens: positive integers separated by commas (got '${values.tokens}')`);
if (!(minSeconds > 0)) throw new Error(`--seconds: a positive number (got '${values.seconds}')`);
const threads = Number(process.env.OMP_NUM_THREADS ?? cpus().length);
const H = 12,
  hd = 64,
  D = H * hd;
const rand = (shape, seed) => randomFill(Tensor.empty(shape), { dist: 'normal', std: 1 }, seed, 0);
const ms = async (fn) => (await timeIt(fn, { minSeconds })).medianMs;

// Per head, contiguous [N, hd] operands (the split from qkv is left out of the timing, which favours
// this baseline). Its backward runs the four GEMMs only, not the softmax backward: a lower bound.
function unfused(q, k, v, dO) {
  const heads = (t) => Array.from({ length: H }, (_, h) => t.slice(h, h + 1).reshape([t.shape[1], hd]));
  const [Q, K, V, G] = [q, k, v, dO].map(heads);
  const forward = () =>
    Q.map((qh, h) => {
      const s = gemm(qh, K[h], { transB: true, alpha: 1 / Math.sqrt(hd) });
      const p = softmax(s);
      s.dispose();
      return { p, o: gemm(p, V[h]) };
    });
  const backward = (f) =>
    f.forEach(({ p }, h) => {
      const dv = gemm(p, G[h], { transA: true }),
        dp = gemm(G[h], V[h], { transB: true });
      const dq = gemm(dp, K[h]),
        dk = gemm(dp, Q[h], { transA: true });
      for (const t of [dv, dp, dq, dk]) t.dispose();
    });
  const release = (f) =>
    f.forEach(({ p, o }) => {
      p.dispose();
      o.dispose();
    });
  return {
    forward: () => release(forward()),
    fwdBwd: () => {
      const f = forward();
      backward(f);
      release(f);
    },
  };
}

const rows = { mvd: [], unfused: [], torch: [] };
for (const n of tokens) {
  const qkv = rand([1, n, 3 * D], 1),
    dOut = rand([1, n, D], 2);
  const fused = {
    forward: () => {
      const r = attentionForward(qkv, H);
      r.out.dispose();
      r.lse.dispose();
    },
    fwdBwd: () => {
      const r = attentionForward(qkv, H);
      attentionBackward(dOut, qkv, r.out, r.lse, H).dispose();
      r.out.dispose();
      r.lse.dispose();
    },
  };
  const [q, k, v, dO] = [3, 4, 5, 6].map((seed) => rand([H, n, hd], seed));
  const base = unfused(q, k, v, dO);
  rows.mvd.push(await ms(fused.forward), await ms(fused.fwdBwd));
  rows.unfused.push(await ms(base.forward), await ms(base.fwdBwd));
  for (const t of [qkv, dOut, q, k, v, dO]) t.dispose();
}
const torch = values['no-torch'] ? { ok: false, why: '--no-torch' } : torchAvailable();
if (torch.ok) {
  const tm = runTorchKernels(Math.max(...tokens) <= 160);
  for (const n of tokens) rows.torch.push(tm[`attention fwd|${n}`] ?? NaN, tm[`attention fwd+bwd|${n}`] ?? NaN);
}
const header = ['implementation (threads)', ...tokens.flatMap((n) => [`N=${n} fwd ms`, `N=${n} fwd+bwd ms`])];
const line = (name, xs) => [`${name} (${threads})`, ...xs.map((x) => fmt(x, 2))];
const body = [line('mvd', rows.mvd), line('gemm per head + softmax, unfused ¹', rows.unfused)];
if (torch.ok) body.push(line('PyTorch', rows.torch));
console.log(table(header, body));
console.log('\n¹ backward: the four GEMMs only (no softmax backward), a lower bound for that approach.');
if (!torch.ok) console.log(`(no PyTorch row: ${torch.why})`);
