// Data-parallel training across processes (issue 19), under `mpirun -np 2 --oversubscribe`: the
// collectives against references for every dtype and odd sizes; 2 ranks × batch b against
// 1 rank × 2b; checkpoints crossing world sizes; one failing or killed rank ending the job.
// Each rank is test/helpers/dist-worker.ts; every rank prints one JSON line.
import t from 'tap';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { launchedSize } from '../lib/dist/world.js';
import { collectives } from '../lib/dist/native.js';
import { allGather, allReduce, barrier, broadcast } from '../lib/dist/collectives.js';
import { Tensor } from '../lib/tensor.js';
import { DTypeError, ValueError } from '../lib/errors.js';
import { Block, StepRng } from '../lib/nn/layers.js';
import { OverlappedGradients } from '../lib/dist/overlap.js';
import { hasMpirun, rankEnv, runRanks, type Run } from './helpers/dist-run.js';

const mpiCompiled = typeof collectives().distributedInfo === 'function' && collectives().distributedInfo().mpiCompiled;
const skip = !hasMpirun
  ? 'mpirun not installed (apt-get install openmpi-bin)'
  : !mpiCompiled
    ? 'addon built without MPI (install libopenmpi-dev and rebuild)'
    : false;
const env = rankEnv();
const run = (ranks: number, mode: string, opts: object = {}, timeoutMs = 60_000) => runRanks(ranks, mode, opts, env, timeoutMs);
const rank0 = (r: Run) => r.lines.find((l) => l.rank === 0) as { losses: number[]; weights: number[]; bias: number[]; size: number };

/** '' when got and want agree to rtol, else the first difference. */
function differs(got: number[], want: number[], rtol: number): string {
  if (got.length !== want.length) return `${got.length} values vs ${want.length}`;
  const i = got.findIndex((g, j) => !(Math.abs(g - want[j]) <= rtol * Math.max(1e-3, Math.abs(want[j]))));
  return i < 0 ? '' : `[${i}] ${got[i]} vs ${want[i]}`;
}

t.test("launch detection reads the launchers' variables", async (t) => {
  t.same(launchedSize({}), { size: 1, source: null });
  t.same(launchedSize({ OMPI_COMM_WORLD_SIZE: '4' }), { size: 4, source: 'OMPI_COMM_WORLD_SIZE' });
  t.same(launchedSize({ PMI_SIZE: '2' }), { size: 2, source: 'PMI_SIZE' });
  t.same(launchedSize({ SLURM_NTASKS: '8' }), { size: 8, source: 'SLURM_NTASKS' });
});

t.test(
  'one process: collectives are the identity, bad arguments are typed errors',
  { skip: typeof (collectives() as { allReduce?: unknown }).allReduce !== 'function' && 'addon without collectives' },
  async (t) => {
    const x = Tensor.fromArray(Float32Array.of(1, 2, 3), [3]);
    allReduce(x, 'avg');
    broadcast(x, 0);
    t.same([...(await x.toArray())], [1, 2, 3], "allReduce and broadcast leave a lone rank's values");
    using g = allGather(x);
    t.same(g.shape, [1, 3], 'allGather adds the world dimension');
    await barrier();
    using i = Tensor.fromArray(Int32Array.of(1, 2), [2]);
    t.throws(() => allReduce(i, 'avg'), DTypeError, 'avg of i32 (a mean would truncate)');
    t.throws(() => allReduce([x, i], 'sum'), DTypeError, 'one bucket, two dtypes');
    t.throws(() => allReduce(x, 'max' as 'sum'), ValueError, 'unknown reduction');
    t.throws(() => broadcast(x, 1), ValueError, 'root outside the world');
    x.dispose();
  },
);

t.test('collectives on 2 ranks match references (every dtype, odd sizes, buckets, views)', { skip }, async (t) => {
  const r = run(2, 'collectives');
  t.equal(r.status, 0, 'mpirun exits 0 (both ranks finalised MPI)', { stderr: r.stderr.slice(-2000) });
  t.equal(r.lines.length, 2, 'both ranks reported');
  for (const l of r.lines)
    for (const c of l.checks as { name: string; ok: boolean; detail: string }[])
      t.ok(c.ok, `rank ${l.rank}: ${c.name}`, { detail: c.detail });
});

// The 1-rank run of 6 steps both tests below compare with (one process start saved).
let single: Run | undefined;
const singleRun = () => (single ??= run(0, 'train', { globalBatch: 8, steps: 6 }));

t.test('2 ranks × batch 4 train like 1 rank × batch 8', { skip }, async (t) => {
  const one = singleRun();
  const two = run(2, 'train', { globalBatch: 8, steps: 6 });
  t.equal(one.status, 0, '1 rank', { stderr: one.stderr.slice(-2000) });
  t.equal(two.status, 0, '2 ranks', { stderr: two.stderr.slice(-2000) });
  const a = rank0(one),
    b = rank0(two);
  t.equal(b.size, 2);
  t.equal(differs(b.losses, a.losses, 1e-5), '', 'losses of 6 steps');
  t.equal(differs(b.weights, a.weights, 1e-5), '', 'final weights');
  t.equal(differs(b.bias, a.bias, 1e-5), '', 'final bias');
  const other = two.lines.find((l) => l.rank === 1) as typeof b;
  t.same(other.weights, b.weights, 'both ranks end with identical weights');
  t.same(other.losses, b.losses, 'both ranks log the same (averaged) losses');
});

// Per-step randomness across ranks. Equal between 2 ranks × b and 1 rank × 2b, so each rank's
// clips draw their own numbers: the data (each clip's window, crop, flip, RandAugment, erasing,
// student mask and MAE frame are keyed by (seed, epoch, dataset index)), and drop path (keyed by
// the draw's place in the sequence and the row's place in the global batch, StepRng.rows).
// Not equal, by construction: Mixup/CutMix pairs clips inside each rank's own batch, as the
// reference's per-GPU mixing does (1 rank × 2b pairs across the whole batch); and the classifier's
// fc dropout, whose mask is keyed by a per-forward seed (salted with the rank: each rank draws its
// own masks) and the element's local index.
t.test('drop path: each rank draws its own rows, and 2 ranks × 4 rows draw what 1 rank × 8 does', async (t) => {
  const draw = (rank: number, worldSize: number, batch: number, rowsPerSample = 1) => {
    const r = new StepRng(99);
    r.layout = { rank, worldSize, rowsPerSample };
    r.rows(batch); // a first forward: the second one below must be keyed the same way
    return { u: [...r.rows(batch)], state: r.state };
  };
  const one = draw(0, 1, 8),
    a = draw(0, 2, 4),
    b = draw(1, 2, 4);
  t.not(a.u.join(), b.u.join(), 'the two ranks draw different numbers');
  t.same(
    [0, 1, 2, 3].flatMap((i) => [a.u[i], b.u[i]]),
    one.u,
    "interleaved, they are the single rank's draws",
  );
  t.ok(a.state === b.state && a.state === one.state, 'every rank keeps the same generator state');
  // Repeated augmentation: 2 views per sample stay together (rows 2s, 2s+1 of sample s).
  const v1 = draw(0, 1, 8, 2),
    v0 = draw(0, 2, 4, 2),
    w1 = draw(1, 2, 4, 2);
  t.same(
    [...v0.u.slice(0, 2), ...w1.u.slice(0, 2), ...v0.u.slice(2), ...w1.u.slice(2)],
    v1.u,
    'views of one sample keep their global rows',
  );
  const r = new StepRng(1);
  r.layout = { rank: 0, worldSize: 1, rowsPerSample: 2 };
  t.throws(() => r.rows(3), ValueError, 'a batch that is not whole samples');
});

t.test(
  'overlapped all-reduce: a block that runs backward twice in one armed micro-batch is a ValueError',
  { skip: typeof collectives().allReduceStart !== 'function' && 'addon without allReduceStart (rebuild it)' },
  async (t) => {
    using block = new Block(8, 2, 2, 'qv').init({ kind: 'xavier_uniform' }, { seed: 1, prefix: '' });
    using overlap = new OverlappedGradients(block);
    t.equal(overlap.bucketCount, 1, 'one block, one bucket');
    overlap.arm();
    using x = Tensor.fromArray(
      new Float32Array(2 * 3 * 8).map((_, i) => Math.sin(i)),
      [2, 3, 8],
    );
    const pass = () => {
      using y = block.forward(x);
      block.backward(y).dispose();
    };
    pass();
    t.throws(pass, ValueError, 'the second backward would write gradients already sent');
    overlap.finish(block.parameters());
    pass(); // finished: the next step starts clean (not armed: no bucket starts)
  },
);

t.test('2 ranks × batch 4 train like 1 rank × batch 8 with drop path 0.5, all-reduce overlapped with backward', { skip }, async (t) => {
  const one = run(0, 'train', { globalBatch: 8, steps: 5, dropPath: true });
  const two = run(2, 'train', { globalBatch: 8, steps: 5, dropPath: true });
  t.equal(one.status, 0, '1 rank', { stderr: one.stderr.slice(-2000) });
  t.equal(two.status, 0, '2 ranks', { stderr: two.stderr.slice(-2000) });
  const a = one.lines[0] as { losses: number[]; all: number[] },
    b = two.lines.find((l) => l.rank === 0) as typeof a;
  t.equal(differs(b.losses, a.losses, 1e-5), '', 'losses of 5 steps');
  t.equal(differs(b.all, a.all, 1e-5), '', 'every final weight');
  // The block's gradients are one bucket, started as soon as its backward is queued.
  t.same(
    two.lines.map((l) => l.started),
    [5, 5],
    "each rank started the block's all-reduce during backward, once per step",
  );
  t.equal((one.lines[0] as { started: number }).started, 0, 'one process reduces nothing');
});

t.test("the teacher cache is sharded by rank: each rank writes its own clips and reads the others'", { skip }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'mvd-ddp-cache-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const r = run(2, 'cache', { dir });
  t.equal(r.status, 0, 'mpirun exits 0', { stderr: r.stderr.slice(-2000) });
  t.equal(r.lines.length, 2, 'both ranks reported');
  for (const l of r.lines as { rank: number; forwards: number; hits: number; totals: object; writers: string[]; maxDiff: number }[]) {
    t.same([l.forwards, l.hits], [4, 4], `rank ${l.rank}: computed its 4 clips, read the other rank's 4`);
    t.same(l.totals, { forwards: 8, hits: 8 }, `rank ${l.rank}: totals over the ranks`);
    t.same(l.writers, Array(4).fill(`${l.rank} of 2`), `rank ${l.rank}: its shard's entries were written by it`);
    t.ok(l.maxDiff < 1e-5, `rank ${l.rank}: features read from the other rank's files equal the teacher's (max diff ${l.maxDiff})`);
  }
});

t.test('checkpoints resume across world sizes (2 → 1 and 1 → 2)', { skip }, async (t) => {
  const ref = rank0(singleRun());
  for (const [first, second] of [
    [2, 0],
    [0, 2],
  ]) {
    const dir = mkdtempSync(join(tmpdir(), 'mvd-ddp-'));
    t.teardown(() => rmSync(dir, { recursive: true, force: true }));
    const runDir = join(dir, 'run');
    const a = run(first, 'train', { globalBatch: 8, steps: 6, runDir, stopAfter: 3 });
    t.equal(a.status, 0, `first half on ${first || 1} rank(s)`, { stderr: a.stderr.slice(-2000) });
    const b = run(second, 'train', { globalBatch: 8, steps: 6, runDir, resume: true });
    t.equal(b.status, 0, `resumed on ${second || 1} rank(s)`, { stderr: b.stderr.slice(-2000) });
    const r = rank0(b);
    t.equal(differs([...rank0(a).losses, ...r.losses], ref.losses, 1e-5), '', `${first || 1} → ${second || 1}: losses`);
    t.equal(differs(r.weights, ref.weights, 1e-5), '', `${first || 1} → ${second || 1}: final weights`);
  }
});

t.test('a non-finite loss on one rank stops every rank at the same step', { skip }, async (t) => {
  const r = run(2, 'train', { globalBatch: 8, steps: 50, nanAt: 3 }, 60_000);
  t.not(r.status, 0, 'mpirun reports failure');
  t.equal(r.signal, null, 'mpirun was not killed by the test timeout');
  const stops = r.stderr.match(/NonFiniteLossError: regression: loss 'mse' is NaN at step 3 \(mean over 2 ranks\)/g) ?? [];
  t.equal(stops.length, 2, 'both ranks stop at step 3 with the same error', { stderr: r.stderr.slice(-2000) });
  t.notMatch(r.stderr, /MPI_ABORT/, 'an agreed stop, not an abort');
});

t.test('a failing rank ends the job with its error; a killed rank ends the other within 30 s', { skip }, async (t) => {
  const failed = run(2, 'train', { globalBatch: 8, steps: 50, failAt: 2 }, 60_000);
  t.not(failed.status, 0, 'mpirun reports failure');
  t.equal(failed.signal, null, 'mpirun was not killed by the test timeout');
  t.match(failed.stderr, /rank 1 of 2 failed: injected failure on rank 1 at batch 2/, 'the failing rank says what failed');
  t.ok(failed.seconds < 30, `ended in ${failed.seconds.toFixed(1)} s`);
  const killed = run(2, 'train', { globalBatch: 8, steps: 50, failAt: 2, kill: true }, 60_000);
  t.not(killed.status, 0, 'mpirun reports failure');
  t.equal(killed.signal, null, 'mpirun was not killed by the test timeout');
  t.ok(killed.seconds < 30, `ended in ${killed.seconds.toFixed(1)} s`);
  t.match(killed.stderr, /process rank 1 .*exited on signal 9/, 'the launcher names the killed rank', {
    stderr: killed.stderr.slice(-1500),
  });
  t.match(killed.stderr, /rank 0 of 2: stopped by the MPI launcher/, 'the surviving rank says why it stops');
});
