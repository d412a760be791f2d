// The demo's teacher files: the one the package ships fits the default demo and is intact;
// training is deterministic (the same settings give the same hash); a file round-trips; a damaged
// or foreign file, or teachers of other settings, are errors that name what differs. The CLI's
// teacher flags are checked before any work.
import t from 'tap';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { packageRoot } from '../lib/native.js';
import { DEMO_DEFAULTS, runDemo } from '../lib/methods/demo.js';
import {
  loadDemoTeachers,
  saveDemoTeachers,
  shippedDemoTeacherFiles,
  shippedDemoTeachersFor,
  teacherSettingDifferences,
  teacherSettingsOf,
  trainDemoTeachers,
} from '../lib/methods/demo-teachers.js';
import { imageVit, videoVit } from '../lib/nn/config.js';
import { VisionTransformer } from '../lib/nn/encoder.js';
import { readSafetensorsHeader, saveSafetensors } from '../lib/io/safetensors.js';
import { Tensor } from '../lib/tensor.js';
import { ValueError } from '../lib/errors.js';

const dir = mkdtempSync(join(tmpdir(), 'mvd-demo-teachers-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));

// Tiny teacher settings: a few steps on a small pool.
const SMALL = {
  ...DEMO_DEFAULTS,
  seed: 3,
  frames: 4,
  trainClips: 32,
  probeClips: 16,
  valClips: 16,
  labelledClips: 16,
  batch: 4,
  teacherSteps: 3,
};

const names = (cfg: ConstructorParameters<typeof VisionTransformer>[0]) => {
  using enc = new VisionTransformer(cfg, { finalNorm: true, seed: 0 });
  return enc
    .namedParameters()
    .map(([n]) => n)
    .sort();
};

t.test('the shipped teacher files: intact, made by --train-teachers, one for each seed of --full at the defaults', async (t) => {
  const files = shippedDemoTeacherFiles();
  t.equal(files.length, 3, files.join(', '));
  const o = DEMO_DEFAULTS;
  for (const [i, path] of files.entries()) {
    const seed = i + 1;
    const h = await readSafetensorsHeader(path);
    t.equal(h.metadata.command, `mvd demo --train-teachers weights/demo-teachers-s${seed}.safetensors --seed ${seed}`, 'its command');
    t.equal(await shippedDemoTeachersFor({ ...o, seed }), path, `the file for seed ${seed}`);
    const tt = await loadDemoTeachers(path); // verifies the tensors against the recorded hash
    try {
      t.equal(tt.sha256, h.metadata.tensorsSha256);
      t.same(teacherSettingDifferences(tt.settings, teacherSettingsOf({ ...o, seed })), [], 'settings = the defaults');
      t.same(
        [...tt.image.keys()].sort(),
        names(imageVit(o.preset, { size: o.size, patch: o.patch })),
        'image teacher: every MAE encoder weight',
      );
      t.same(
        [...tt.video.keys()].sort(),
        names(videoVit(o.preset, { frames: o.frames, size: o.size, patch: o.patch, posEmbed: 'sinusoid1d' })),
        'video teacher: every VideoMAE encoder weight',
      );
      t.ok(tt.loss.video > 0 && tt.loss.video < 1, `VideoMAE's final loss ${tt.loss.video} (normalised targets start near 1)`);
    } finally {
      tt.dispose();
    }
  }
  t.equal(await shippedDemoTeachersFor({ ...o, seed: 4 }), null, 'none for seed 4');
  t.equal(await shippedDemoTeachersFor({ ...o, seed: 1, teacherSteps: 1000 }), null, 'none for other steps');
});

t.test('training is deterministic, and a teacher file round-trips with its settings and hash', async (t) => {
  const a = await trainDemoTeachers(SMALL);
  const b = await trainDemoTeachers(SMALL);
  const c = await trainDemoTeachers({ ...SMALL, teacherMaskRatio: 0.9 });
  try {
    t.equal(a.sha256, b.sha256, 'same settings, same weights');
    t.not(a.sha256, c.sha256, 'another mask ratio, other weights');
    t.same(a.loss, b.loss);
    const file = join(dir, 'small.safetensors');
    t.equal(await saveDemoTeachers(file, a, { command: 'test', version: '0' }), a.sha256);
    const back = await loadDemoTeachers(file);
    try {
      t.equal(back.sha256, a.sha256);
      t.same(back.settings, teacherSettingsOf(SMALL));
      t.same(back.loss, a.loss);
      t.equal(back.source, file);
    } finally {
      back.dispose();
    }
  } finally {
    for (const x of [a, b, c]) x.dispose();
  }
});

t.test('a damaged or foreign file is a ValueError naming it', async (t) => {
  const good = join(dir, 'good.safetensors');
  const tt = await trainDemoTeachers(SMALL);
  await saveDemoTeachers(good, tt, { command: 'test', version: '0' });
  tt.dispose();
  const bytes = readFileSync(good);
  const bad = join(dir, 'flipped.safetensors');
  const flipped = Buffer.from(bytes);
  flipped[flipped.length - 3] ^= 0x40; // one bit of the last tensor
  writeFileSync(bad, flipped);
  await t.rejects(loadDemoTeachers(bad), {
    name: ValueError.name,
    message: /flipped\.safetensors is damaged: its tensors hash to [0-9a-f]{64}, its metadata records/,
  });
  const foreign = join(dir, 'plain.safetensors');
  await saveSafetensors(foreign, { w: Tensor.fromArray(new Float32Array(4), [4]) });
  await t.rejects(loadDemoTeachers(foreign), { message: /plain\.safetensors has format null, expected 'mvd-demo-teachers\/1'/ });
  await t.rejects(loadDemoTeachers(join(dir, 'absent.safetensors')), { message: /no file at .*absent\.safetensors/ });
});

t.test('runDemo refuses teachers of other settings, naming each difference, before any work', async (t) => {
  const tt = await trainDemoTeachers(SMALL);
  try {
    const started: string[] = [];
    await t.rejects(runDemo({ ...SMALL, teacherSteps: 4, seed: 4, teachers: tt, onProgress: (s) => started.push(s) }), {
      name: ValueError.name,
      message: /seed: file 3, this run 4; teacherSteps: file 3, this run 4/,
    });
    t.same(started, [], 'no stage ran');
  } finally {
    tt.dispose();
  }
});

const cli = join(packageRoot, 'dist', 'cli', 'main.js');
const mvd = (args: string[]) =>
  spawnSync(process.execPath, [cli, ...args], { encoding: 'utf8', timeout: 60000, env: { ...process.env, MVD_DEBUG: '' } });

t.test('mvd demo: contradicting teacher flags are usage errors (exit 2) before any work', async (t) => {
  const shipped = shippedDemoTeacherFiles()[0];
  for (const args of [
    ['--teachers', shipped, '--fresh-teachers'],
    ['--fresh-teachers', '--train-teachers', join(dir, 'x.safetensors')],
    ['--full', '--train-teachers', join(dir, 'x.safetensors')],
  ]) {
    const r = mvd(['demo', ...args]);
    t.equal(r.status, 2, `${args.join(' ')}: exit 2 (${r.stderr.trim()})`);
  }
});

t.test('mvd demo --train-teachers writes a loadable file and reports its hash', async (t) => {
  const out = join(dir, 'cli.safetensors');
  const r = mvd(['demo', '--train-teachers', out, '--teacher-steps', '2', '--json']);
  t.equal(r.status, 0, r.stderr);
  const rep = JSON.parse(r.stdout);
  t.match(rep.shipped, /no shipped file has these settings/, 'the shipped files are for 4000 steps');
  const back = await loadDemoTeachers(out);
  try {
    t.equal(back.sha256, rep.sha256);
    t.equal(back.settings.teacherSteps, 2);
  } finally {
    back.dispose();
  }
  const h = await readSafetensorsHeader(out);
  t.equal(h.metadata.command, `mvd demo --train-teachers ${out} --teacher-steps 2 --json`);
});

t.test('the package root exports what a library caller needs to run the demo from the shipped teachers', async (t) => {
  const mvd = await import('../lib/index.js');
  const path = await mvd.shippedDemoTeachersFor({ ...mvd.DEMO_DEFAULTS, seed: 2 });
  t.equal(path, shippedDemoTeacherFiles()[1]);
  const tt = await mvd.loadDemoTeachers(path!);
  t.equal(tt.settings.seed, 2);
  tt.dispose();
  for (const f of [mvd.runDemo, mvd.trainDemoTeachers, mvd.saveDemoTeachers]) t.equal(typeof f, 'function');
});
