// `mvd eval` under `mpirun -np 2` (issue 19): each rank tests its share of the videos, the
// averaged probabilities are all-gathered, and rank 0 alone prints scores equal to a single
// process's. Batch 1, so every forward is one video's views on both sides (no batch-dependent
// rounding), and an odd video count, so the two shares differ in size.
import t from 'tap';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { makeClassifier } from '../lib/methods/finetune.js';
import { saveWeights } from '../lib/io/checkpoint.js';
import { collectives } from '../lib/dist/native.js';
import { hasMpirun, rankEnv } from './helpers/dist-run.js';

const cli = join(import.meta.dirname, '..', 'dist', 'cli', 'main.js');
const mpiCompiled = typeof collectives().distributedInfo === 'function' && collectives().distributedInfo().mpiCompiled;
const skip = !existsSync(cli)
  ? 'dist/ not built (npm run build)'
  : !hasMpirun
    ? 'mpirun not installed'
    : !mpiCompiled
      ? 'addon built without MPI'
      : false;

t.test('mvd eval on 2 ranks reports what 1 process does, from rank 0 only', { skip }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'mvd-ddp-eval-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const ck = join(dir, 'model.safetensors');
  {
    using m = makeClassifier({ preset: 'tiny', frames: 4, size: 32, numClasses: 4, seed: 5 });
    await saveWeights(ck, m);
  }
  const args = [
    cli,
    'eval',
    '--checkpoint',
    ck,
    '--model',
    'tiny',
    '--frames',
    '4',
    '--size',
    '32',
    '--pos',
    'sincos3d',
    '--clips',
    '7',
    '--batch',
    '1',
    '--num-clips',
    '1',
    '--num-crops',
    '2',
    '--json',
  ];
  const env = rankEnv();
  const one = spawnSync(process.execPath, args, { env, encoding: 'utf8', timeout: 120_000 });
  const two = spawnSync('mpirun', ['-np', '2', '--oversubscribe', process.execPath, ...args], { env, encoding: 'utf8', timeout: 120_000 });
  t.equal(one.status, 0, '1 process', { stderr: one.stderr.slice(-2000) });
  t.equal(two.status, 0, '2 ranks', { stderr: two.stderr.slice(-2000) });
  const a = JSON.parse(one.stdout),
    b = JSON.parse(two.stdout); // one JSON document: rank 1 printed nothing
  t.equal(b.videos, 7, 'all 7 videos scored');
  t.same(b, a, 'the same scores, per-class counts and confusion matrix');
  t.ok(
    a.confusion.flat().some((x: number, i: number) => x > 0 && i % 5 !== 0) || a.top1 === 1,
    'a non-trivial confusion matrix (the check could fail)',
  );
});
