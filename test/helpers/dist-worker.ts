// One rank of the distributed tests (test/distributed.test.ts), started under
// `mpirun -np N` or alone. argv: mode, then a JSON options object. It prints one JSON line:
// {rank, size, checks?, losses?, weights?} (to <opts.out>/rank<r>.json when opts.out is given).
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Tensor, setDefaultDevice } from '../../lib/tensor.js';
import { Linear } from '../../lib/nn/layers.js';
import { mseLoss } from '../../lib/ops/loss.js';
import { train, type Recipe } from '../../lib/methods/train.js';
import { initDistributed, world } from '../../lib/dist/world.js';
import { allReduce, allGather, barrier, broadcast } from '../../lib/dist/collectives.js';
import { collectives } from '../../lib/dist/native.js';

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
const roundBf16 = (x: number) => fromBf16(new Uint16Array(new Uint32Array(Float32Array.of(x).buffer).map((u) => (u + 0x7fff + ((u >> 16) & 1)) >>> 16).buffer)[0]);

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
        check(`allReduce avg ${dtype} n=${n}`, sameValues(await valuesOf(a), sum.map((x) => wrap(x / size)), dtype === 'f32' ? 1e-6 : 0));
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
  const ts = [tensorOf('f32', makeData('f32', parts[0], rank + 10), [parts[0]]), tensorOf('f32', makeData('f32', parts[1], rank + 20), [parts[1]]), view];
  allReduce(ts, 'avg');
  const ref = (seed: number, k: number) => Array.from({ length: k }, (_, i) => Array.from({ length: size }, (_, r) => makeData('f32', k, r + seed)[i]).reduce((s, x) => s + x, 0) / size);
  const refBase = Array.from({ length: size }, (_, r) => makeData('f32', 2000, r));
  check('bucket of 3 tensors (avg)', sameValues([...(await valuesOf(ts[0])), ...(await valuesOf(ts[1])), ...(await valuesOf(ts[2]))],
    [...ref(10, 3), ...ref(20, 17), ...refBase[0].slice(500, 1500).map((_, i) => refBase.reduce((s, a) => s + a[500 + i], 0) / size)], 1e-6));
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
const IN = 6, OUT = 3;
function row(step: number, i: number): { x: number[]; y: number[] } {
  const x = Array.from({ length: IN }, (_, k) => val(step, i, k) * 2 - 1);
  const y = Array.from({ length: OUT }, (_, o) => x.reduce((s, xk, k) => s + xk * Math.sin(o + k), 0) + 0.1 * val(step, i, 99, o));
  return { x, y };
}

function regression(globalBatch: number, failAt: number | null): Recipe {
  const { rank, size } = world();
  const model = new Linear(IN, OUT);
  // Different starting weights on each rank: the broadcast from rank 0 must make them agree.
  model.weight.value.assign(Tensor.fromArray(Float32Array.from({ length: IN * OUT }, (_, i) => val(7, i, rank) - 0.5), [OUT, IN]));
  model.bias!.value.assign(Tensor.fromArray(new Float32Array(OUT).fill(rank), [OUT]));
  const per = globalBatch / size;
  return {
    name: 'regression', model,
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

async function trainMode(): Promise<Record<string, unknown>> {
  const w = initDistributed();
  if (device !== 'cpu') setDefaultDevice(device);
  const recipe = regression(Number(opts.globalBatch ?? 8), (opts.failAt as number | undefined) ?? null);
  const r = await train(recipe, {
    steps: Number(opts.steps ?? 6), lr: 0.05, minLr: 0.005, warmupSteps: 1, weightDecay: 0.01, clipGrad: 0.5,
    accumulate: Number(opts.accumulate ?? 1), runDir: opts.runDir as string | undefined, resume: Boolean(opts.resume),
    stopAfter: opts.stopAfter as number | undefined, checkpointEvery: 1, onWarning: () => {},
  });
  return {
    rank: w.rank, size: w.size, losses: r.history.map((h) => h.losses.mse), gradNorms: r.history.map((h) => h.gradNorm),
    weights: [...(await recipe.model.namedParameters()[0][1].value.toArray())], bias: [...(await recipe.model.namedParameters()[1][1].value.toArray())],
  };
}

const info = () => collectives().distributedInfo();
const out = mode === 'collectives' ? { checks: await collectivesMode(), cudaPath: info().cudaPath, mpiCompiled: info().mpiCompiled } : await trainMode();
const line = JSON.stringify({ ...out, rank: world().rank, size: world().size });
// A file per rank when asked: mpirun may split long lines of two ranks' stdout into each other.
if (opts.out) writeFileSync(join(String(opts.out), `rank${world().rank}.json`), line);
else process.stdout.write(line + '\n');
