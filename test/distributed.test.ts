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
import { hasMpirun, rankEnv, runRanks, type Run } from './helpers/dist-run.js';

const mpiCompiled = typeof collectives().distributedInfo === 'function' && collectives().distributedInfo().mpiCompiled;
const skip = !hasMpirun ? 'mpirun not installed (apt-get install openmpi-bin)' : !mpiCompiled ? 'addon built without MPI (install libopenmpi-dev and rebuild)' : false;
const env = rankEnv();
const run = (ranks: number, mode: string, opts: object = {}, timeoutMs = 60_000) => runRanks(ranks, mode, opts, env, timeoutMs);
const rank0 = (r: Run) => r.lines.find((l) => l.rank === 0) as { losses: number[]; weights: number[]; bias: number[]; size: number };

/** '' when got and want agree to rtol, else the first difference. */
function differs(got: number[], want: number[], rtol: number): string {
  if (got.length !== want.length) return `${got.length} values vs ${want.length}`;
  const i = got.findIndex((g, j) => !(Math.abs(g - want[j]) <= rtol * Math.max(1e-3, Math.abs(want[j]))));
  return i < 0 ? '' : `[${i}] ${got[i]} vs ${want[i]}`;
}

t.test('launch detection reads the launchers\' variables', async (t) => {
  t.same(launchedSize({}), { size: 1, source: null });
  t.same(launchedSize({ OMPI_COMM_WORLD_SIZE: '4' }), { size: 4, source: 'OMPI_COMM_WORLD_SIZE' });
  t.same(launchedSize({ PMI_SIZE: '2' }), { size: 2, source: 'PMI_SIZE' });
  t.same(launchedSize({ SLURM_NTASKS: '8' }), { size: 8, source: 'SLURM_NTASKS' });
});

t.test('one process: collectives are the identity, bad arguments are typed errors', { skip: typeof (collectives() as { allReduce?: unknown }).allReduce !== 'function' && 'addon without collectives' }, async (t) => {
  const x = Tensor.fromArray(Float32Array.of(1, 2, 3), [3]);
  allReduce(x, 'avg');
  broadcast(x, 0);
  t.same([...(await x.toArray())], [1, 2, 3], 'allReduce and broadcast leave a lone rank\'s values');
  using g = allGather(x);
  t.same(g.shape, [1, 3], 'allGather adds the world dimension');
  await barrier();
  using i = Tensor.fromArray(Int32Array.of(1, 2), [2]);
  t.throws(() => allReduce(i, 'avg'), DTypeError, 'avg of i32 (a mean would truncate)');
  t.throws(() => allReduce([x, i], 'sum'), DTypeError, 'one bucket, two dtypes');
  t.throws(() => allReduce(x, 'max' as 'sum'), ValueError, 'unknown reduction');
  t.throws(() => broadcast(x, 1), ValueError, 'root outside the world');
  x.dispose();
});

t.test('collectives on 2 ranks match references (every dtype, odd sizes, buckets, views)', { skip }, async (t) => {
  const r = run(2, 'collectives');
  t.equal(r.status, 0, 'mpirun exits 0 (both ranks finalised MPI)', { stderr: r.stderr.slice(-2000) });
  t.equal(r.lines.length, 2, 'both ranks reported');
  for (const l of r.lines)
    for (const c of l.checks as { name: string; ok: boolean; detail: string }[]) t.ok(c.ok, `rank ${l.rank}: ${c.name}`, { detail: c.detail });
});

// The 1-rank run of 6 steps both tests below compare with (one process start saved).
let single: Run | undefined;
const singleRun = () => (single ??= run(0, 'train', { globalBatch: 8, steps: 6 }));

t.test('2 ranks × batch 4 train like 1 rank × batch 8', { skip }, async (t) => {
  const one = singleRun();
  const two = run(2, 'train', { globalBatch: 8, steps: 6 });
  t.equal(one.status, 0, '1 rank', { stderr: one.stderr.slice(-2000) });
  t.equal(two.status, 0, '2 ranks', { stderr: two.stderr.slice(-2000) });
  const a = rank0(one), b = rank0(two);
  t.equal(b.size, 2);
  t.equal(differs(b.losses, a.losses, 1e-5), '', 'losses of 6 steps');
  t.equal(differs(b.weights, a.weights, 1e-5), '', 'final weights');
  t.equal(differs(b.bias, a.bias, 1e-5), '', 'final bias');
  const other = two.lines.find((l) => l.rank === 1) as typeof b;
  t.same(other.weights, b.weights, 'both ranks end with identical weights');
  t.same(other.losses, b.losses, 'both ranks log the same (averaged) losses');
});

t.test('checkpoints resume across world sizes (2 → 1 and 1 → 2)', { skip }, async (t) => {
  const ref = rank0(singleRun());
  for (const [first, second] of [[2, 0], [0, 2]]) {
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
  t.match(killed.stderr, /process rank 1 .*exited on signal 9/, 'the launcher names the killed rank', { stderr: killed.stderr.slice(-1500) });
  t.match(killed.stderr, /rank 0 of 2: stopped by the MPI launcher/, 'the surviving rank says why it stops');
});
