// Fine-tuning for a few steps on a tiny model: the loss goes down, Mixup/CutMix mix clips as
// defined, layer decay reaches the optimiser, checkpoints load back, resume is exact, and bad
// checkpoints give clear errors.
import t from 'tap';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Tensor } from '../lib/tensor.js';
import { SyntheticDataset } from '../lib/data/synthetic.js';
import { BatchSampler } from '../lib/methods/batch.js';
import { train, NonFiniteLossError } from '../lib/methods/train.js';
import { finetuneRecipe, makeClassifier, mixClips, loadBackbone, finetuneBatch, type FinetuneOptions } from '../lib/methods/finetune.js';
import { mixTargets } from '../lib/data/augment.js';
import { saveWeights, stateDict } from '../lib/io/checkpoint.js';
import { saveSafetensors } from '../lib/io/safetensors.js';
import { makeStudent } from '../lib/nn/mvd.js';
import { buildParamGroups } from '../lib/optim/groups.js';
import { ShapeError, ValueError } from '../lib/errors.js';
import { packageRoot } from '../lib/native.js';

const base: FinetuneOptions = {
  preset: 'tiny',
  frames: 4,
  size: 32,
  numClasses: 4,
  batchSize: 4,
  label: 'appearance',
  seed: 1,
  cropScale: [0.5, 1],
};
const data = (seed = 1, count = 32) => new BatchSampler(new SyntheticDataset({ seed, count, frames: 4, size: 32 }), 4, seed);
const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;

t.test('fine-tuning drives the loss down (no mixing) and runs with Mixup/CutMix', async (t) => {
  // Eight clips without crops or mixing: a tiny model fits them within a few dozen steps (the
  // synthetic task itself needs far more steps than a unit test has).
  const r = finetuneRecipe(data(1, 8), {
    ...base,
    mix: false,
    dropPath: 0,
    repeated: 1,
    cropScale: [1, 1],
    flip: 0,
    labelSmoothing: 0,
    randAugment: false,
    erasing: 0,
  });
  const h = (await train(r, { steps: 40, lr: 3e-3, minLr: 3e-3, warmupSteps: 0, weightDecay: 0.05, beta2: 0.999 })).history.map(
    (x) => x.losses.loss,
  );
  t.ok(mean(h.slice(-5)) < 0.85 * mean(h.slice(0, 5)), `loss ${mean(h.slice(0, 5)).toFixed(3)} → ${mean(h.slice(-5)).toFixed(3)}`);
  r.dispose();
  const m = finetuneRecipe(data(), { ...base });
  const hm = (await train(m, { steps: 4, lr: 1e-3, minLr: 1e-5, warmupSteps: 1, weightDecay: 0.05, layerDecay: { decay: 0.75, depth: 4 } }))
    .history;
  t.ok(
    hm.every((x) => Number.isFinite(x.losses.loss)),
    `mixed losses finite: ${hm.map((x) => x.losses.loss.toFixed(3)).join(' ')}`,
  );
  m.dispose();
});

t.test('repeated augmentation gives two different views per video, labels repeated', async (t) => {
  using b = await finetuneBatch(data(), 0, { ...base, repeated: 2 });
  t.same(b.video.shape, [8, 3, 4, 32, 32]);
  t.equal(b.labels[0], b.labels[1]);
  const v = await b.video.toArray();
  const per = 3 * 4 * 32 * 32;
  let diff = 0;
  for (let i = 0; i < per; i++) diff += Math.abs(v[i] - v[per + i]);
  t.ok(diff > 0, 'the two views of a video differ');
});

t.test('mixClips: Mixup is λx + (1−λ)x_rev, CutMix pastes x_rev inside the box', async (t) => {
  const shape = [3, 1, 2, 4, 5];
  const n = shape.reduce((a, b) => a * b, 1),
    per = n / 3;
  const x = Float32Array.from({ length: n }, (_, i) => Math.sin(i) * 3);
  using v = Tensor.fromArray(x, shape);
  using mu = mixClips(v, { mode: 'mixup', lambda: 0.3 });
  const m = await mu.toArray();
  let err = 0;
  for (let i = 0; i < n; i++) {
    const b = Math.floor(i / per),
      r = (2 - b) * per + (i % per);
    err = Math.max(err, Math.abs(m[i] - (0.3 * x[i] + 0.7 * x[r])));
  }
  t.ok(err < 1e-6, `mixup max error ${err}`);
  const box = { y0: 1, y1: 3, x0: 2, x1: 5 };
  using cm = mixClips(v, { mode: 'cutmix', lambda: 1 - 6 / 20, box });
  const c = await cm.toArray();
  let wrong = 0;
  for (let i = 0; i < n; i++) {
    const b = Math.floor(i / per),
      r = (2 - b) * per + (i % per);
    const xx = i % 5,
      yy = Math.floor(i / 5) % 4;
    const inside = yy >= box.y0 && yy < box.y1 && xx >= box.x0 && xx < box.x1;
    if (c[i] !== (inside ? x[r] : x[i])) wrong++;
  }
  t.equal(wrong, 0, 'cutmix copies pixels exactly');
  const tg = mixTargets(Int32Array.from([0, 2, 1]), 4, 0.3, 0.1);
  t.ok(
    Math.abs(tg[0] - (0.3 * 0.925 + 0.7 * 0.025)) < 1e-6 && Math.abs(tg[1] - (0.3 * 0.025 + 0.7 * 0.925)) < 1e-6,
    'soft targets: λ on y, 1−λ on the reversed label',
  );
  t.ok(Math.abs(Array.from(tg.slice(4, 8)).reduce((a, b) => a + b, 0) - 1) < 1e-6, 'rows sum to 1');
});

t.test('layer-wise lr decay: embedding 0.75^(depth+1), head 1', (t) => {
  using m = makeClassifier(base);
  const g = buildParamGroups(m.namedParameters(), { weightDecay: 0.05, layerDecay: 0.75, depth: 4 });
  const scaleOf = (name: string) => g.find((x) => x.params.some(([n]) => n === name))!.lrScale;
  t.equal(scaleOf('patch_embed.proj.weight'), 0.75 ** 5);
  t.equal(scaleOf('blocks.0.mlp.fc1.weight'), 0.75 ** 4);
  t.equal(scaleOf('head.weight'), 1);
  t.end();
});

t.test('student checkpoint loads as the backbone; run folder resumes exactly', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'mvd-ft-'));
  using student = makeStudent('tiny', { vid: 128 }, { frames: 4, size: 32, seed: 5 });
  const ck = join(dir, 'student.safetensors');
  await saveWeights(ck, student);
  const model = makeClassifier(base);
  const rep = await loadBackbone(model, ck);
  t.ok(rep.loaded.includes('blocks.0.attn.qkv.weight') && rep.missing.includes('head.weight'), `loaded ${rep.loaded.length}, head fresh`);
  const a = await stateDict(student).get('blocks.3.mlp.fc2.weight')!.toArray();
  const b = await stateDict(model).get('blocks.3.mlp.fc2.weight')!.toArray();
  t.same(Array.from(a.slice(0, 8)), Array.from(b.slice(0, 8)), 'encoder weights copied');
  model.dispose();

  const o = {
    steps: 6,
    lr: 1e-3,
    minLr: 1e-5,
    warmupSteps: 2,
    weightDecay: 0.05,
    beta2: 0.999,
    layerDecay: { decay: 0.75, depth: 4 },
    checkpointEvery: 3,
  };
  const opts = { ...base, dropPath: 0.1 };
  const straight = finetuneRecipe(data(), opts);
  await loadBackbone(straight.model, ck);
  await train(straight, o);
  const run = join(dir, 'run');
  const p1 = finetuneRecipe(data(), opts);
  await loadBackbone(p1.model, ck);
  await train(p1, { ...o, runDir: run, stopAfter: 3 });
  p1.dispose();
  const p2 = finetuneRecipe(data(), opts);
  const r = await train(p2, { ...o, runDir: run, resume: true });
  t.equal(r.startStep, 3);
  let md = 0;
  const sa = stateDict(straight.model),
    sb = stateDict(p2.model);
  for (const [n, x] of sa) {
    const [u, v] = [await x.toArray(), await sb.get(n)!.toArray()];
    for (let i = 0; i < u.length; i++) md = Math.max(md, Math.abs(u[i] - v[i]));
  }
  t.ok(md < 1e-6, `resumed = straight (max diff ${md})`);
  straight.dispose();
  p2.dispose();
});

t.test('a non-finite loss stops fine-tuning and keeps the last good checkpoint', async (t) => {
  const run = mkdtempSync(join(tmpdir(), 'mvd-ftnan-'));
  const r = finetuneRecipe(data(), { ...base, mix: false });
  await train(r, { steps: 1, lr: 1e-3, minLr: 1e-3, warmupSteps: 0, weightDecay: 0.05, runDir: run });
  const latest = readFileSync(join(run, 'checkpoints', 'latest.json'), 'utf8');
  await t.rejects(
    train(r, {
      steps: 20,
      lr: 1e30,
      minLr: 1e30,
      warmupSteps: 0,
      weightDecay: 0.05,
      runDir: run,
      resume: true,
      override: true,
      onWarning: () => {},
      checkpointEvery: 100,
    }),
    NonFiniteLossError,
  );
  t.equal(readFileSync(join(run, 'checkpoints', 'latest.json'), 'utf8'), latest, 'latest.json untouched');
  r.dispose();
});

t.test('bad checkpoints: missing file, wrong shape, not an encoder', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'mvd-ftbad-'));
  using model = makeClassifier(base);
  await t.rejects(loadBackbone(model, join(dir, 'nope.safetensors')), /nope\.safetensors/);
  // Frames and size change no weight shape of a video ViT (tables are recomputed), so build a true mismatch:
  using w = Tensor.zeros([8, 3, 2, 16, 16]);
  await saveSafetensors(join(dir, 'wrong.safetensors'), { 'patch_embed.proj.weight': w });
  await t.rejects(loadBackbone(model, join(dir, 'wrong.safetensors')), ShapeError, 'wrong shape → ShapeError');
  await t.rejects(loadBackbone(model, join(dir, 'wrong.safetensors')), /patch_embed\.proj\.weight: \[8,3,2,16,16\] vs \[128,3,2,16,16\]/);
  using x = Tensor.zeros([4]);
  await saveSafetensors(join(dir, 'unrelated.safetensors'), { foo: x });
  await t.rejects(loadBackbone(model, join(dir, 'unrelated.safetensors')), ValueError, 'no encoder weights → ValueError');
});

const cli = join(packageRoot, 'dist', 'cli', 'main.js');
const mvd = (...args: string[]) => spawnSync(process.execPath, [cli, ...args], { encoding: 'utf8' });

t.test(
  'CLI on mp4 list files: finetune with a val list, then a multi-view eval',
  { skip: existsSync(cli) ? false : 'dist/ not built (npm run build:ts)' },
  (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'mvd-ftlist-'));
    const synth = join(dir, 'synth');
    const s = mvd('synth', '--out', synth, '--videos', '6', '--frames', '8', '--size', '32', '--json');
    t.equal(s.status, 0, s.stderr.slice(-800));
    const lr = join(dir, 'ft-list');
    const f = mvd(
      'finetune',
      '--list',
      join(synth, 'appearance_train.txt'),
      '--val-list',
      join(synth, 'appearance_val.txt'),
      '--frames',
      '4',
      '--size',
      '32',
      '--batch',
      '2',
      '--repeated',
      '1',
      '--steps',
      '1',
      '--out',
      lr,
      '--json',
    );
    t.equal(f.status, 0, f.stderr.slice(-800));
    t.ok(JSON.parse(f.stdout).val.videos > 0, 'validated on the val list');
    const el = mvd(
      'eval',
      '--checkpoint',
      join(lr, 'model.safetensors'),
      '--list',
      join(synth, 'appearance_val.txt'),
      '--num-clips',
      '1',
      '--num-crops',
      '3',
      '--json',
    );
    t.equal(el.status, 0, el.stderr.slice(-800));
    t.equal(JSON.parse(el.stdout).views, 3);

    t.end();
  },
);

t.test('fc dropout: each data-parallel rank draws its own masks; the same rank draws the same', async (t) => {
  const o = { preset: 'tiny' as const, frames: 4, size: 32, numClasses: 3, fcDropout: 0.5, seed: 2 };
  using x = Tensor.fromArray(
    Float32Array.from({ length: 2 * 3 * 4 * 32 * 32 }, (_, i) => Math.sin(i)),
    [2, 3, 4, 32, 32],
  );
  const logits = async (rank: number) => {
    using m = makeClassifier(o);
    m.dropoutRank = rank;
    m.train();
    using y = m.forward(x);
    const v = await y.toArray();
    m.clearCache();
    return Array.from(v);
  };
  const [a, b, a2] = [await logits(0), await logits(1), await logits(0)];
  t.same(a2, a, 'rank 0 twice: the same masks');
  t.not(JSON.stringify(b), JSON.stringify(a), 'rank 1 drops other features than rank 0');
});
