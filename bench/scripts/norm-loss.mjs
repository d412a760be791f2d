// The end-to-end tables of bench/kernels-norm-loss.md: LayerNorm, GELU, the distillation loss,
// AdamW and an allocation probe, mvd against PyTorch (bench/scripts/norm_loss_torch.py, same
// threads), median and minimum of --runs calls after 10 warm-ups. A call includes allocating its
// outputs and, for mvd, waiting for the queue. Needs the compiled TypeScript (`npm run build`).
//   node bench/scripts/norm-loss.mjs [--runs 30] [--no-torch]
//   GLIBC_TUNABLES=glibc.malloc.mmap_threshold=268435456:glibc.malloc.trim_threshold=1073741824 node bench/scripts/norm-loss.mjs
import { spawnSync } from 'node:child_process';
import { cpus } from 'node:os';
import { parseArgs } from 'node:util';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { resolve } from 'node:path';

const dist = resolve(process.env.DIST ?? new URL('../../dist', import.meta.url).pathname);
const { Tensor, randomFill, layerNormForward, layerNormBackward, gelu, geluBackward, distillLoss, adamw, scale, fill } = await import(
  pathToFileURL(`${dist}/index.js`).href
);
const { timeIt, fmt, table } = await import(pathToFileURL(`${dist}/bench/timing.js`).href);
const { torchAvailable, torchPython } = await import(pathToFileURL(`${dist}/bench/compare.js`).href);

const { values } = parseArgs({ options: { runs: { type: 'string', default: '30' }, 'no-torch': { type: 'boolean' } } });
const runs = Number(values.runs);
if (!Number.isInteger(runs) || runs < 1) throw new Error(`--runs: a positive integer (got '${values.runs}')`);
const threads = Number(process.env.OMP_NUM_THREADS ?? cpus().length);
const rand = (shape, seed) => randomFill(Tensor.empty(shape), { dist: 'normal', std: 1 }, seed, 0);
const free = (...ts) => {
  for (const t of ts) t?.dispose();
};

const ours = {};
const time = async (name, fn) => {
  const t = await timeIt(fn, { warmup: 10, minRuns: runs, minSeconds: 1e-3 });
  ours[name] = [t.medianMs, t.minMs];
};
for (const [rows, d] of [
  [3136, 768],
  [320, 384],
]) {
  const x = rand([rows, d], 1),
    dy = rand([rows, d], 2),
    w = rand([d], 3),
    b = rand([d], 4);
  await time(`layernorm fwd+bwd [${rows},${d}]`, () => {
    const f = layerNormForward(x, w, b, 1e-6);
    const g = layerNormBackward(dy, x, f.mean, f.rstd, w);
    free(f.y, f.mean, f.rstd, g.dx, g.dWeight, g.dBias);
  });
}
for (const [rows, d] of [
  [3136, 3072],
  [320, 1536],
]) {
  const x = rand([rows, d], 5),
    dy = rand([rows, d], 6);
  await time(`gelu fwd+bwd [${rows},${d}]`, () => free(gelu(x), geluBackward(dy, x)));
}
for (const d of [768, 384]) {
  const [p1, t1, p2, t2] = [7, 8, 9, 10].map((seed) => rand([2, 1408, d], seed));
  await time(`distill smoothl1 2 pairs [2,1408,${d}]`, () => {
    const l = distillLoss(p1, t1, p2, t2, { kind: 'smoothl1' });
    free(l.loss, l.dPredImg, l.dPredVid);
  });
}
{
  // The shapes of norm_loss_torch.py: 12 ViT-S blocks, weight decay on matrices only.
  const block = [[384], [384], [1152, 384], [1152], [384, 384], [384], [384], [384], [1536, 384], [1536], [384, 1536], [384]];
  const shapes = Array.from({ length: 12 }, () => block).flat();
  const [p, g] = [0, 1].map((k) => shapes.map((s, i) => rand(s, 100 * k + i)));
  const [m, v] = [0, 1].map(() => shapes.map((s) => fill(Tensor.empty(s), 0)));
  const weightDecay = shapes.map((s) => (s.length > 1 ? 0.05 : 0));
  let step = 0;
  await time('adamw ViT-S blocks (144 tensors, 21.3M)', () =>
    adamw(p, g, m, v, { lr: shapes.map(() => 1e-3), weightDecay, beta1: 0.9, beta2: 0.95, eps: 1e-8, step: ++step }),
  );
}
{
  const x = rand([3136, 768], 11);
  await time('alloc probe: 2 live [3136,768] outputs', () => free(scale(x, 2), scale(x, 3)));
}

const torch = values['no-torch'] ? { ok: false, why: '--no-torch' } : torchAvailable();
let theirs = {};
if (torch.ok) {
  const script = fileURLToPath(new URL('norm_loss_torch.py', import.meta.url));
  const r = spawnSync(torchPython(), [script, String(threads), String(runs)], { encoding: 'utf8', maxBuffer: 16 << 20 });
  if (r.status !== 0) throw new Error(`norm_loss_torch.py failed (status ${r.status}): ${r.stderr.slice(-2000)}`);
  theirs = JSON.parse(r.stdout.trim().split('\n').pop());
}
const pair = (x) => (x ? `${fmt(x[0], 2)} / ${fmt(x[1], 2)}` : '-');
console.log(`threads: ${threads}\n`);
console.log(
  table(
    ['workload', 'mvd median / min (ms)', 'torch median / min (ms)', 'speed-up (median)'],
    Object.entries(ours).map(([name, x]) => [name, pair(x), pair(theirs[name]), theirs[name] ? `${fmt(theirs[name][0] / x[0], 2)}x` : '-']),
  ),
);
if (!torch.ok) console.log(`\n(no PyTorch column: ${torch.why})`);
