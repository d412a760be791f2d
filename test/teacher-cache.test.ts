// The teacher cache: the second epoch reads the stored features (teacher forwards counted) and
// gives the same losses as recomputing the teachers on the same (fixed) views; other teacher
// weights do not hit the cache; the CLI flag writes it and reports it.
import t from 'tap';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SyntheticDataset } from '../lib/data/synthetic.js';
import { BatchSampler } from '../lib/methods/batch.js';
import { distillRecipe } from '../lib/methods/distill.js';
import { train } from '../lib/methods/train.js';
import { TeacherCache, teacherHash } from '../lib/methods/teacher-cache.js';
import { makeTeacher, type Teacher } from '../lib/nn/mvd.js';
import { saveWeights } from '../lib/io/checkpoint.js';
import { packageRoot } from '../lib/native.js';

// 8 clips in batches of 4: one epoch = 2 steps.
const data = () => new BatchSampler(new SyntheticDataset({ seed: 2, count: 8, frames: 4, size: 32 }), 4, 2);
const opts = { steps: 6, lr: 1e-3, minLr: 1e-3, warmupSteps: 0, weightDecay: 0.05 };

/** Counts forward passes of a teacher's encoder. */
function counted(teacher: Teacher): { teacher: Teacher; calls: () => number } {
  let calls = 0;
  const enc = teacher.encoder;
  const fwd = enc.forward.bind(enc);
  enc.forward = (...a: Parameters<typeof fwd>) => {
    calls++;
    return fwd(...a);
  };
  return { teacher, calls: () => calls };
}

t.test('epochs after the first read the cache and match recomputed teachers', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'mvd-tcache-'));
  const vid = counted(makeTeacher('vid', { preset: 'tiny', frames: 4, size: 32, seed: 4 }));
  const img = counted(makeTeacher('img', { preset: 'tiny', frames: 4, size: 32, seed: 5 }));
  const teachers = { vid: vid.teacher, img: img.teacher };
  const clip = { clipId: (i: number) => `synth-seed2-${i}`, view: 'full-f4-s32' };
  const cache = { vid: await TeacherCache.open(dir, vid.teacher, clip), img: await TeacherCache.open(dir, img.teacher, clip) };
  const cached = distillRecipe(data(), { student: 'tiny', frames: 4, size: 32, teachers, maskRatio: 0.5, seed: 3, teacherCache: cache });
  const a = (await train(cached, opts)).history;
  t.equal(cache.vid.forwards, 8, 'video teacher ran once per clip (8 clips), not per step');
  t.equal(cache.vid.hits, 6 * 4 - 8, 'the other 16 clip loads came from files');
  t.equal(vid.calls(), 2, 'two teacher batches, both in epoch 1');
  t.equal(img.calls(), 2);
  t.equal(readdirSync(cache.vid.folder).length, 8, 'one file per clip');
  const callsBefore = vid.calls();
  const plain = distillRecipe(data(), { student: 'tiny', frames: 4, size: 32, teachers, maskRatio: 0.5, seed: 3 });
  const b = (await train(plain, opts)).history;
  t.equal(vid.calls() - callsBefore, 6, 'without the cache: a teacher forward every step');
  for (const k of ['loss', 'img', 'vid']) {
    const diff = Math.max(...a.map((r, i) => Math.abs(r.losses[k] - b[i].losses[k])));
    t.ok(diff < 1e-5, `${k}: cached and recomputed losses agree over 3 epochs (max diff ${diff.toExponential(2)})`);
  }
  cached.dispose();
  plain.dispose();

  const other = makeTeacher('vid', { preset: 'tiny', frames: 4, size: 32, seed: 99 });
  t.not(await teacherHash(other), cache.vid.hash, 'other weights, other hash');
  const c2 = await TeacherCache.open(dir, other, clip);
  t.not(c2.folder, cache.vid.folder, 'so a separate folder: no stale hits');
  other.dispose();
  vid.teacher.dispose();
  img.teacher.dispose();
});

const cli = join(packageRoot, 'dist', 'cli', 'main.js');
t.test(
  'mvd distill --teacher-cache writes and reuses the cache',
  { skip: existsSync(cli) ? false : 'dist/ not built (npm run build:ts)' },
  async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'mvd-tcache-cli-'));
    const teacher = makeTeacher('vid', { preset: 'tiny', frames: 4, size: 32, seed: 1 });
    await saveWeights(join(dir, 'vid.safetensors'), teacher.encoder);
    teacher.dispose();
    const args = [
      'distill',
      '--teachers',
      'video',
      '--video-teacher',
      join(dir, 'vid.safetensors'),
      '--frames',
      '4',
      '--size',
      '32',
      '--batch',
      '4',
      '--clips',
      '8',
      '--steps',
      '4',
      '--mask-ratio',
      '0.5',
      '--teacher-cache',
      join(dir, 'cache'),
    ];
    const r = spawnSync(process.execPath, [cli, ...args], { encoding: 'utf8' });
    t.equal(r.status, 0, r.stderr.slice(-800));
    t.match(r.stdout, /teacher cache .*: vid 8 clips computed, 8 read \(fixed views: an approximation/);
    const again = spawnSync(process.execPath, [cli, ...args], { encoding: 'utf8' });
    t.match(again.stdout, /vid 0 clips computed, 16 read/, 'a second run computes nothing');
    const help = spawnSync(process.execPath, [cli, 'distill', '--help'], { encoding: 'utf8' });
    t.match(help.stdout, /--teacher-cache .*APPROXIMATION/);
  },
);
