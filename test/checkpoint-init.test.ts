// Models that loading fills completely are built without a random initialisation (init: 'none')
// and take the file's tensors as their parameters: the CLI's teachers (loadTeacher), the figures'
// feature encoder (loadFeatureEncoder) and the fine-tuning backbone (loadBackbone) must give the
// same outputs, bit for bit, as the old path (initialise, then copy every loaded tensor in).
import t from 'tap';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Tensor, ValueError } from '../lib/index.js';
import { imageVit, videoVit, type VitConfig } from '../lib/nn/config.js';
import { VisionTransformer } from '../lib/nn/encoder.js';
import { Teacher } from '../lib/nn/mvd.js';
import { loadStateDict, saveWeights } from '../lib/io/checkpoint.js';
import { loadSafetensors, saveSafetensors } from '../lib/io/safetensors.js';
import { loadTeacher } from '../lib/cli/commands/train.js';
import { loadFeatureEncoder } from '../lib/plot/figures.js';
import { loadBackbone, makeClassifier } from '../lib/methods/finetune.js';
import type { Module } from '../lib/nn/module.js';

const dir = mkdtempSync(join(tmpdir(), 'mvd-ckpt-init-'));
const FRAMES = 4,
  SIZE = 32;

function clip(seed: number): Tensor {
  let s = seed >>> 0;
  const a = Float32Array.from({ length: 3 * FRAMES * SIZE * SIZE }, () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 31 - 1;
  });
  return Tensor.fromArray(a, [1, 3, FRAMES, SIZE, SIZE]);
}

/** The old way: a randomly initialised model, every loaded tensor copied into it. */
async function loadedTheOldWay<M extends Module>(m: M, path: string, mayStayFresh?: string[]): Promise<M> {
  const { tensors } = await loadSafetensors(path);
  try {
    loadStateDict(m, tensors, { source: path, ...(mayStayFresh ? { mayStayFresh } : {}) });
  } finally {
    for (const x of tensors.values()) x.dispose();
  }
  return m;
}

async function save(name: string, cfg: VitConfig, opts: { finalNorm: boolean; frameStride?: number }): Promise<string> {
  const p = join(dir, name);
  using m = new VisionTransformer(cfg, { ...opts, seed: 11 });
  await saveWeights(p, m);
  return p;
}

/** Whether two outputs are identical (shape and every bit); disposes both. */
async function identical(a: Tensor, b: Tensor): Promise<string> {
  const [x, y] = [await a.toArray(), await b.toArray()];
  const [sa, sb] = [`${a.shape}`, `${b.shape}`];
  a.dispose();
  b.dispose();
  if (sa !== sb) return `shapes differ: [${sa}] vs [${sb}]`;
  const i = x.findIndex((v, k) => !Object.is(v, y[k]));
  return x.length === 0 ? 'empty output' : i < 0 ? 'identical' : `element ${i}: ${x[i]} vs ${y[i]}`;
}

t.test('loadTeacher: video and image teachers give the features of the old load', async (t) => {
  const vidCfg = videoVit('tiny', { frames: FRAMES, size: SIZE, posEmbed: 'sinusoid1d' });
  const imgCfg = imageVit('tiny', { size: SIZE });
  const vid = await save('vid.safetensors', vidCfg, { finalNorm: true });
  const img = await save('img.safetensors', imgCfg, { finalNorm: true, frameStride: 2 });
  using x = clip(5);
  for (const [kind, path, cfg] of [
    ['vid', vid, vidCfg],
    ['img', img, imgCfg],
  ] as const) {
    const fresh = await loadTeacher(kind, path, 'tiny', FRAMES, SIZE);
    const old = new Teacher(
      kind,
      await loadedTheOldWay(new VisionTransformer(cfg, { finalNorm: true, frameStride: kind === 'img' ? 2 : undefined }), path),
    );
    t.equal(await identical(fresh.features(x), old.features(x)), 'identical', `${kind} teacher: same features, bit for bit`);
    fresh.encoder.dispose();
    old.encoder.dispose();
  }
  // Nothing may stay unset: a file without one weight is refused, naming it.
  const partial = join(dir, 'vid-partial.safetensors');
  {
    const { tensors } = await loadSafetensors(vid);
    tensors.get('blocks.1.mlp.fc2.bias')!.dispose();
    tensors.delete('blocks.1.mlp.fc2.bias');
    await saveSafetensors(partial, tensors);
    for (const v of tensors.values()) v.dispose();
  }
  await t.rejects(loadTeacher('vid', partial, 'tiny', FRAMES, SIZE), ValueError);
  await t.rejects(loadTeacher('vid', partial, 'tiny', FRAMES, SIZE), /1 missing \(blocks\.1\.mlp\.fc2\.bias\)/);
});

t.test('loadFeatureEncoder: student, fine-tuned (no final norm) and image checkpoints give the old features', async (t) => {
  const student = await save('student.safetensors', videoVit('tiny', { frames: FRAMES, size: SIZE }), { finalNorm: true });
  const tuned = join(dir, 'tuned.safetensors');
  {
    using c = makeClassifier({ preset: 'tiny', frames: FRAMES, size: SIZE, numClasses: 3, seed: 4 });
    await saveWeights(tuned, c);
  }
  const image = await save('image.safetensors', imageVit('tiny', { size: SIZE }), { finalNorm: true, frameStride: 2 });
  using x = clip(9);
  for (const [path, kind] of [
    [student, 'student'],
    [tuned, 'student'],
    [image, 'image'],
  ] as const) {
    using fresh = await loadFeatureEncoder(path, { frames: FRAMES, size: SIZE });
    t.equal(fresh.kind, kind);
    const cfg = kind === 'image' ? imageVit('tiny', { size: SIZE }) : videoVit('tiny', { frames: FRAMES, size: SIZE });
    const enc = await loadedTheOldWay(
      new VisionTransformer(cfg, { finalNorm: true, frameStride: kind === 'image' ? 2 : undefined }),
      path,
      ['norm.'],
    );
    const old = new Teacher(kind === 'image' ? 'img' : 'vid', enc);
    t.equal(await identical(fresh.features(x), old.features(x)), 'identical', `${path.split('/').pop()}: same features, bit for bit`);
    enc.dispose();
  }
});

t.test('loadBackbone: the classifier gives the logits of the old load, head kept fresh', async (t) => {
  const student = join(dir, 'student.safetensors');
  const o = { preset: 'tiny' as const, frames: FRAMES, size: SIZE, numClasses: 5, seed: 8 };
  using x = clip(13);
  using fresh = makeClassifier({ ...o, encoderInit: 'none' });
  const rep = await loadBackbone(fresh, student);
  t.same(rep.missing.sort(), ['fc_norm.bias', 'fc_norm.weight', 'head.bias', 'head.weight'], 'only the classifier parts stay fresh');
  using old = await loadedTheOldWay(makeClassifier(o), student, ['head.', 'fc_norm.']);
  fresh.eval();
  old.eval();
  t.equal(await identical(fresh.forward(x), old.forward(x)), 'identical', 'same logits, bit for bit');
});
