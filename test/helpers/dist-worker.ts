// One rank of the distributed tests (test/distributed.test.ts), started under
// `mpirun -np N` or alone. argv: mode, then a JSON options object. It prints one JSON line:
// {rank, size, checks?, losses?, weights?} (to <opts.out>/rank<r>.json when opts.out is given).
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Tensor, setDefaultDevice } from '../../lib/tensor.js';
import { Block, Linear, StepRng } from '../../lib/nn/layers.js';
import { Module } from '../../lib/nn/module.js';
import { mseLoss } from '../../lib/ops/loss.js';
import { train, type Recipe } from '../../lib/methods/train.js';
import { initDistributed, world } from '../../lib/dist/world.js';
import { allReduce, allGather, barrier, broadcast } from '../../lib/dist/collectives.js';
import { collectives } from '../../lib/dist/native.js';
import { makeTeacher } from '../../lib/nn/mvd.js';
import { TeacherCache } from '../../lib/methods/teacher-cache.js';
import { readSafetensorsHeader } from '../../lib/io/safetensors.js';

const [mode, json = '{}'] = process.argv.slice(2);
const opts = JSON.parse(json) as Record<string, unknown>;

// Deterministic values from integers (a hash), so every rank can compute every other rank's data.
function val(...xs: number[]): number {
  let h = 2166136261;
  for (const x of xs) h = Math.imul(h ^ (x | 0), 16777619) >>> 0;
  h = Math.imul(h ^ (h >>> 15), 2246822507) >>> 0;
  return ((h ^ (h >>> 13)) >>> 0) / 4294967296;
}

const bf16 = (x: number) => new Uint16Array(Float32Array.of(x).buffer, 2, 1)[0];
const fromBf16 = (h: number) => new Float32Array(Uint32Array.of(h << 16).buffer)[0];
const roundBf16 = (x: number) =>
  fromBf16(new Uint16Array(new Uint32Array(Float32Array.of(x).buffer).map((u) => (u + 0x7fff + ((u >> 16) & 1)) >>> 16).buffer)[0]);

type Check = { name: string; ok: boolean; detail?: string };

function makeData(dtype: string, n: number, rank: number): number[] {
  return Array.from({ length: n }, (_, i) => {
    const u = val(rank, i, n);
    if (dtype === 'u8') return Math.floor(u * 256);
    if (dtype === 'i32') return Math.floor((u - 0.5) * 2e6);
    if (dtype === 'bf16') return fromBf16(bf16(u * 8 - 4) & 0xffff);
    return Math.fround(u * 8 - 4);
  });
}

// Collectives run on this device (cuda:N tests the CUDA path: NCCL, or host staging through MPI).
// 'cuda:local': one GPU per rank, cuda:<local rank>.
const device = String(opts.device ?? 'cpu').replace('cuda:local', `cuda:${initDistributed().localRank}`);

function tensorOf(dtype: string, xs: number[], shape: number[]): Tensor {
  if (dtype === 'f32') return Tensor.fromArray(Float32Array.from(xs), shape, { device });
  if (dtype === 'i32') return Tensor.fromArray(Int32Array.from(xs), shape, { device });
  if (dtype === 'u8') return Tensor.fromArray(Uint8Array.from(xs), shape, { device });
  return Tensor.fromArray(Uint16Array.from(xs.map(bf16)), shape, { device });
}

async function valuesOf(t: Tensor): Promise<number[]> {
  const a = await t.toArray();
  return t.dtype === 'bf16' ? Array.from(a as Uint16Array, fromBf16) : Array.from(a as ArrayLike<number>);
}

function sameValues(got: number[], want: number[], tol: number): string {
  if (got.length !== want.length) return `length ${got.length} vs ${want.length}`;
  for (let i = 0; i < got.length; i++)
    if (!(Math.abs(got[i] - want[i]) <= tol * Math.max(1, Math.abs(want[i])))) return `[${i}] ${got[i]} vs ${want[i]}`;
  return '';
}

async function collectivesMode(): Promise<Check[]> {
  const { rank, size } = initDistributed();
  const checks: Check[] = [];
  const check = (name: string, detail: string) => checks.push({ name, ok: detail === '', detail });
  for (const dtype of ['f32', 'bf16', 'u8', 'i32'])
    for (const n of [1, 7, 1023, 65537]) {
      const all = Array.from({ length: size }, (_, r) => makeData(dtype, n, r));
      const sum = all[0].map((_, i) => all.reduce((s, a) => s + a[i], 0));
      const wrap = (x: number) => (dtype === 'u8' ? x % 256 : dtype === 'i32' ? x | 0 : dtype === 'bf16' ? roundBf16(x) : Math.fround(x));
      // A [n] tensor and an odd-shaped 2-D one in the same bucket, with an offset view in between.
      using t = tensorOf(dtype, all[rank], [n]);
      allReduce(t, 'sum');
      check(`allReduce sum ${dtype} n=${n}`, sameValues(await valuesOf(t), sum.map(wrap), dtype === 'f32' ? 1e-6 : 0));
      if (dtype === 'f32' || dtype === 'bf16') {
        using a = tensorOf(dtype, all[rank], [n]);
        allReduce(a, 'avg');
        check(
          `allReduce avg ${dtype} n=${n}`,
          sameValues(
            await valuesOf(a),
            sum.map((x) => wrap(x / size)),
            dtype === 'f32' ? 1e-6 : 0,
          ),
        );
      }
      using b = tensorOf(dtype, all[rank], [n]);
      broadcast(b, size - 1);
      check(`broadcast ${dtype} n=${n} root=${size - 1}`, sameValues(await valuesOf(b), all[size - 1], 0));
      using src = tensorOf(dtype, all[rank], [n]);
      using g = allGather(src);
      check(`allGather ${dtype} n=${n} shape`, g.shape.join(',') === `${size},${n}` ? '' : `shape ${g.shape}`);
      check(`allGather ${dtype} n=${n}`, sameValues(await valuesOf(g), all.flat(), 0));
    }
  // One bucket of several tensors, one of them a view at an offset into a bigger storage.
  const parts = [3, 17, 1000];
  const base = tensorOf('f32', makeData('f32', 2000, rank), [2000]);
  const view = base.slice(500, 1500);
  const ts = [
    tensorOf('f32', makeData('f32', parts[0], rank + 10), [parts[0]]),
    tensorOf('f32', makeData('f32', parts[1], rank + 20), [parts[1]]),
    view,
  ];
  allReduce(ts, 'avg');
  const ref = (seed: number, k: number) =>
    Array.from(
      { length: k },
      (_, i) => Array.from({ length: size }, (_, r) => makeData('f32', k, r + seed)[i]).reduce((s, x) => s + x, 0) / size,
    );
  const refBase = Array.from({ length: size }, (_, r) => makeData('f32', 2000, r));
  check(
    'bucket of 3 tensors (avg)',
    sameValues(
      [...(await valuesOf(ts[0])), ...(await valuesOf(ts[1])), ...(await valuesOf(ts[2]))],
      [...ref(10, 3), ...ref(20, 17), ...refBase[0].slice(500, 1500).map((_, i) => refBase.reduce((s, a) => s + a[500 + i], 0) / size)],
      1e-6,
    ),
  );
  const head = await valuesOf(base.slice(0, 500));
  check('bucket leaves the rest of a viewed storage alone', sameValues(head, makeData('f32', 2000, rank).slice(0, 500), 0));
  await barrier(device);
  check('barrier', '');
  for (const t of [...ts, base]) t.dispose();
  return checks;
}

// ---- training: a linear regression whose global batch j has rows (j, 0..B-1); rank r of W
// takes rows i·W + r (the loader's interleaved shard), so W ranks × b rows see the same global
// batch as 1 rank × W·b rows.
const IN = 6,
  OUT = 3;
function row(step: number, i: number): { x: number[]; y: number[] } {
  const x = Array.from({ length: IN }, (_, k) => val(step, i, k) * 2 - 1);
  const y = Array.from({ length: OUT }, (_, o) => x.reduce((s, xk, k) => s + xk * Math.sin(o + k), 0) + 0.1 * val(step, i, 99, o));
  return { x, y };
}

function regression(globalBatch: number, failAt: number | null): Recipe {
  const { rank, size } = world();
  const model = new Linear(IN, OUT);
  // Different starting weights on each rank: the broadcast from rank 0 must make them agree.
  model.weight.value.assign(
    Tensor.fromArray(
      Float32Array.from({ length: IN * OUT }, (_, i) => val(7, i, rank) - 0.5),
      [OUT, IN],
    ),
  );
  model.bias!.value.assign(Tensor.fromArray(new Float32Array(OUT).fill(rank), [OUT]));
  const per = globalBatch / size;
  return {
    name: 'regression',
    model,
    async step(batchIndex) {
      if (failAt !== null && batchIndex === failAt && rank === size - 1) {
        if (opts.kill) process.kill(process.pid, 'SIGKILL');
        throw new Error(`injected failure on rank ${rank} at batch ${batchIndex}`);
      }
      const rows = Array.from({ length: per }, (_, i) => row(batchIndex, i * size + rank));
      using x = Tensor.fromArray(Float32Array.from(rows.flatMap((r) => r.x)), [per, IN]);
      using y = Tensor.fromArray(Float32Array.from(rows.flatMap((r) => r.y)), [per, OUT]);
      using pred = model.forward(x);
      const { loss, dPred } = mseLoss(pred, y);
      model.backward(dPred, { inputGrad: false })?.dispose();
      dPred.dispose();
      using l = loss;
      const mse = (await l.toArray())[0];
      // A non-finite loss on one rank only: every rank must still stop at this step.
      return { mse: opts.nanAt === batchIndex && rank === size - 1 ? NaN : mse };
    },
    dispose() {},
  };
}

// ---- the same with drop path: one transformer block (dropPath 0.5) on [rows, 3 tokens, 8] inputs
// (q and v biases only: a k bias has a zero gradient, which AdamW would turn into rounding noise).
// Row i of rank r is global row i·W + r, and drop path keys its draws by that global row.
const TOK = 3,
  DIM = 8;
function dropPathRegression(globalBatch: number): Recipe {
  const { rank, size } = world();
  const model = new Block(DIM, 2, 2, 'qv', 0.5, 1e-6, new StepRng(11));
  // Rank-dependent initial weights: the broadcast from rank 0 must make them agree.
  model.init({ kind: 'xavier_uniform' }, { seed: 3 + rank, prefix: '' });
  const per = globalBatch / size;
  const rows = (batchIndex: number, k: number) =>
    Float32Array.from(
      { length: per * TOK * DIM },
      (_, j) => val(batchIndex, Math.floor(j / (TOK * DIM)) * size + rank, j % (TOK * DIM), k) * 2 - 1,
    );
  return {
    name: 'regression',
    model,
    async step(batchIndex) {
      using x = Tensor.fromArray(rows(batchIndex, 0), [per, TOK, DIM]);
      using y = Tensor.fromArray(rows(batchIndex, 1), [per * TOK, DIM]);
      using pred = model.forward(x);
      using flat = pred.reshape([per * TOK, DIM]);
      const { loss, dPred } = mseLoss(flat, y);
      using dp = dPred.reshape([per, TOK, DIM]);
      model.backward(dp).dispose();
      dPred.dispose();
      using l = loss;
      return { mse: (await l.toArray())[0] };
    },
    dispose() {},
  };
}

async function trainMode(): Promise<Record<string, unknown>> {
  const w = initDistributed();
  if (device !== 'cpu') setDefaultDevice(device);
  // With drop path (a model of blocks): counts the bucket all-reduces started during backward.
  let started = 0;
  if (opts.dropPath) {
    const native = collectives(),
      start = native.allReduceStart.bind(native);
    native.allReduceStart = (ts, op) => {
      started++;
      return start(ts, op);
    };
  }
  const globalBatch = Number(opts.globalBatch ?? 8);
  const recipe = opts.dropPath ? dropPathRegression(globalBatch) : regression(globalBatch, (opts.failAt as number | undefined) ?? null);
  const r = await train(recipe, {
    steps: Number(opts.steps ?? 6),
    lr: 0.05,
    minLr: 0.005,
    warmupSteps: 1,
    weightDecay: 0.01,
    clipGrad: 0.5,
    accumulate: Number(opts.accumulate ?? 1),
    runDir: opts.runDir as string | undefined,
    resume: Boolean(opts.resume),
    stopAfter: opts.stopAfter as number | undefined,
    checkpointEvery: 1,
    onWarning: () => {},
  });
  return {
    rank: w.rank,
    size: w.size,
    losses: r.history.map((h) => h.losses.mse),
    gradNorms: r.history.map((h) => h.gradNorm),
    weights: [...(await recipe.model.namedParameters()[0][1].value.toArray())],
    bias: [...(await recipe.model.namedParameters()[1][1].value.toArray())],
    started,
    all: (await Promise.all(recipe.model.namedParameters().map(async ([, p]) => [...(await p.value.toArray())]))).flat(),
  };
}

// ---- the teacher cache in one shared folder: epoch 0 gives rank r clips i·W + r, epoch 1 the next
// rank's clips. Reports this rank's counts, the ranks' totals, who wrote its epoch-0 entries, and
// how far epoch 1's features (read from another rank's files) are from running the teacher.
async function cacheMode(): Promise<Record<string, unknown>> {
  const { rank, size } = initDistributed();
  const teacher = makeTeacher('vid', { preset: 'tiny', frames: 4, size: 32 });
  const cache = await TeacherCache.open(String(opts.dir), teacher, { clipId: (i) => `clip${i}`, view: 'test' });
  const per = 8 / size,
    clip = 3 * 4 * 32 * 32;
  const video = (owner: number) =>
    Tensor.fromArray(
      Float32Array.from({ length: per * clip }, (_, j) => val(Math.floor(j / clip) * size + owner, j % clip)),
      [per, 3, 4, 32, 32],
    );
  const indices = (owner: number) => Array.from({ length: per }, (_, i) => i * size + owner);
  {
    using v = video(rank);
    (await cache.features(v, indices(rank))).dispose();
  }
  await barrier();
  const next = (rank + 1) % size;
  using v = video(next);
  using got = await cache.features(v, indices(next));
  using want = teacher.features(v);
  const [g, w] = [await got.toArray(), await want.toArray()];
  let maxDiff = 0;
  for (let i = 0; i < g.length; i++) maxDiff = Math.max(maxDiff, Math.abs(Number(g[i]) - Number(w[i])));
  const writers = await Promise.all(indices(rank).map(async (i) => (await readSafetensorsHeader(cache.pathOf(i))).metadata.rank));
  const totals = await cache.totals();
  teacher.dispose();
  return { forwards: cache.forwards, hits: cache.hits, totals, writers, maxDiff };
}

// ---- timing (not a test): `depth` transformer blocks of width `dim` on [batch, tokens, dim] per
// rank, trained with the gradient all-reduce overlapped with backward or after it. Reports the
// per-step seconds of both, alternating runs of `steps` so that load from elsewhere hits both.
async function benchMode(): Promise<Record<string, unknown>> {
  const w = initDistributed();
  const dim = Number(opts.dim ?? 384),
    depth = Number(opts.depth ?? 12),
    tokens = Number(opts.tokens ?? 16),
    batch = Number(opts.batch ?? 2);
  const blocks = Array.from({ length: depth }, () => new Block(dim, 6, 4, 'qv', 0, 1e-6));
  class Stack extends Module {
    constructor() {
      super();
      blocks.forEach((b, i) => this.child(`blocks.${i}`, b).init({ kind: 'xavier_uniform' }, { seed: 1, prefix: `blocks.${i}.` }));
    }
  }
  const model = new Stack();
  const recipe: Recipe = {
    name: 'bench',
    model,
    async step(batchIndex) {
      let x: Tensor = Tensor.fromArray(
        Float32Array.from({ length: batch * tokens * dim }, (_, j) => val(batchIndex, w.rank, j) - 0.5),
        [batch, tokens, dim],
      );
      const input = x;
      for (const b of blocks) {
        const next = b.forward(x);
        if (x !== input) x.dispose();
        x = next;
      }
      using y = Tensor.fromArray(new Float32Array(batch * tokens * dim), [batch, tokens, dim]);
      const { loss, dPred } = mseLoss(x, y);
      if (x !== input) x.dispose();
      input.dispose();
      let d: Tensor = dPred;
      for (const b of [...blocks].reverse()) {
        const n = b.backward(d);
        d.dispose();
        d = n;
      }
      d.dispose();
      using l = loss;
      return { mse: (await l.toArray())[0] };
    },
    dispose() {},
  };
  const steps = Number(opts.steps ?? 6),
    rounds = Number(opts.rounds ?? 3);
  const times: Record<string, number[]> = { overlapped: [], after: [] };
  for (let r = 0; r < rounds; r++)
    for (const mode of ['after', 'overlapped']) {
      const h = await train(recipe, {
        steps,
        lr: 1e-4,
        minLr: 1e-5,
        warmupSteps: 1,
        weightDecay: 0,
        overlapAllReduce: mode === 'overlapped',
      });
      times[mode].push(...h.history.slice(1).map((x) => x.seconds)); // the first step warms caches
    }
  const params = model.parameters().reduce((a, p) => a + p.value.numel, 0);
  return { rank: w.rank, size: w.size, params, times };
}

const info = () => collectives().distributedInfo();
const out =
  mode === 'collectives'
    ? { checks: await collectivesMode(), cudaPath: info().cudaPath, mpiCompiled: info().mpiCompiled }
    : mode === 'cache'
      ? await cacheMode()
      : mode === 'bench'
        ? await benchMode()
        : await trainMode();
const line = JSON.stringify({ ...out, rank: world().rank, size: world().size });
// A file per rank when asked: mpirun may split long lines of two ranks' stdout into each other.
if (opts.out) writeFileSync(join(String(opts.out), `rank${world().rank}.json`), line);
else process.stdout.write(`${line}\n`);
