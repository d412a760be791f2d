// The TS model layer end to end on tiny shapes: deterministic init, gradients against finite
// differences, checkpoint round trips with reference key names, and a short training run.
import t from 'tap';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Tensor } from '../lib/index.js';
import { videoVit, imageVit } from '../lib/nn/config.js';
import { VideoClassifier } from '../lib/nn/classifier.js';
import { VisionTransformer } from '../lib/nn/encoder.js';
import { makeStudent, makeTeacher } from '../lib/nn/mvd.js';
import { crossEntropy } from '../lib/ops/xent.js';
import { distillLoss } from '../lib/ops/loss.js';
import { AdamW } from '../lib/optim/adamw.js';
import { buildParamGroups } from '../lib/optim/groups.js';
import { saveWeights, loadWeights, stateDict } from '../lib/io/checkpoint.js';
import { randn } from './helpers/reference.js';
import { SyntheticDataset } from '../lib/data/synthetic.js';
import { stackClips } from '../lib/methods/batch.js';

// 4 frames of 32×32, tubelet 2, patch 16 → 2×2×2 = 8 tokens; width 32, 2 heads of 16.
const tinyCfg = () => videoVit('tiny', { dim: 32, depth: 2, heads: 2, frames: 4, size: 32 });
const clip = (b: number, seed: number) => Tensor.fromArray(randn(b * 3 * 4 * 32 * 32, seed), [b, 3, 4, 32, 32]);

async function values(m: { namedParameters(): [string, { value: Tensor }][] }): Promise<Map<string, Float32Array>> {
  const out = new Map<string, Float32Array>();
  for (const [n, p] of m.namedParameters()) out.set(n, (await p.value.toArray()) as Float32Array);
  return out;
}

/**
 * Analytic and central-difference directional derivatives of `lossOf` along `dir` for one
 * parameter (whose gradient backward has already filled); the value is restored afterwards.
 */
async function directional(p: { value: Tensor; grad: Tensor | null }, dir: Float32Array, eps: number, lossOf: () => Promise<number>) {
  const g = (await p.grad!.toArray()) as Float32Array;
  const base = (await p.value.toArray()) as Float32Array;
  let analytic = 0;
  for (let i = 0; i < g.length; i++) analytic += g[i] * dir[i];
  const at = async (s: number) => {
    using v = Tensor.fromArray(
      base.map((x, i) => x + s * eps * dir[i]),
      p.value.shape,
    );
    p.value.assign(v as Tensor<'f32'>);
    return lossOf();
  };
  const numeric = ((await at(1)) - (await at(-1))) / (2 * eps);
  using orig = Tensor.fromArray(base, p.value.shape);
  p.value.assign(orig as Tensor<'f32'>);
  return { analytic, numeric };
}

t.test('initialisation is deterministic from the seed and follows SPEC §1.4', async (t) => {
  const a = new VideoClassifier(tinyCfg(), { numClasses: 3, seed: 5 });
  const b = new VideoClassifier(tinyCfg(), { numClasses: 3, seed: 5 });
  const c = new VideoClassifier(tinyCfg(), { numClasses: 3, seed: 6 });
  const [va, vb, vc] = [await values(a), await values(b), await values(c)];
  for (const [n, x] of va) t.same(Array.from(x), Array.from(vb.get(n)!), `${n} same for the same seed`);
  t.notSame(Array.from(va.get('blocks.0.attn.qkv.weight')!), Array.from(vc.get('blocks.0.attn.qkv.weight')!), 'another seed differs');
  t.ok(
    va.get('blocks.0.attn.q_bias')!.every((x) => x === 0),
    'q_bias starts at 0',
  );
  t.ok(
    va.get('blocks.0.norm1.weight')!.every((x) => x === 1),
    'LN weight 1',
  );
  const w = va.get('blocks.0.mlp.fc1.weight')!;
  const bound = Math.sqrt(6 / (32 + 128));
  t.ok(w.every((x) => Math.abs(x) <= bound) && Math.max(...w.map(Math.abs)) > 0.9 * bound, 'xavier uniform bound');
  const head = va.get('head.weight')!;
  // timm's trunc_normal_(std=0.02) truncates at ±2 absolute (≈ no truncation), then × init_scale.
  const sd = Math.sqrt(head.reduce((a, x) => a + x * x, 0) / head.length);
  t.ok(sd > 0.5 * 0.02 * 0.001 && sd < 1.5 * 0.02 * 0.001, `head std ${sd.toExponential(2)} ≈ 0.02 × init_scale 0.001`);
  for (const m of [a, b, c]) m.dispose();
});

t.test('classifier gradients match finite differences (directional, float32)', async (t) => {
  const m = new VideoClassifier(tinyCfg(), { numClasses: 3, seed: 1, initScale: 1 });
  const x = clip(2, 11);
  const labels = Tensor.fromArray(new Int32Array([0, 2]), [2]);
  const lossOf = async () => {
    m.eval();
    const logits = m.forward(x);
    const r = crossEntropy(logits, labels);
    const v = await r.loss.item();
    for (const z of [logits, r.loss, r.dLogits]) z.dispose();
    return v;
  };
  m.train();
  m.zeroGrad();
  const logits = m.forward(x);
  const r = crossEntropy(logits, labels);
  m.backward(r.dLogits);
  const names = [
    'blocks.0.attn.qkv.weight',
    'blocks.1.mlp.fc2.weight',
    'blocks.0.attn.v_bias',
    'patch_embed.proj.weight',
    'fc_norm.weight',
    'blocks.1.norm1.bias',
  ];
  const named = new Map(m.namedParameters());
  for (const name of names) {
    const p = named.get(name)!;
    const { analytic, numeric } = await directional(p, randn(p.value.numel, 99), 1e-2, lossOf);
    const rel = Math.abs(numeric - analytic) / Math.max(1e-4, Math.abs(numeric) + Math.abs(analytic));
    t.ok(rel < 3e-2, `${name}: analytic ${analytic.toExponential(4)} numeric ${numeric.toExponential(4)} rel ${rel.toExponential(2)}`);
  }
  m.dispose();
});

t.test('a tiny ViT learns a fixed toy problem (loss goes down)', async (t) => {
  const m = new VideoClassifier(tinyCfg(), { numClasses: 4, seed: 3, initScale: 1 });
  const opt = new AdamW(buildParamGroups(m.namedParameters(), { weightDecay: 0.05 }), { beta2: 0.999 });
  const x = clip(8, 21);
  const labels = Tensor.fromArray(new Int32Array([0, 1, 2, 3, 0, 1, 2, 3]), [8]);
  const losses: number[] = [];
  for (let step = 0; step < 150; step++) {
    m.zeroGrad();
    const logits = m.forward(x);
    const r = crossEntropy(logits, labels);
    m.backward(r.dLogits);
    await opt.update(1e-3);
    losses.push(await r.loss.item());
    for (const z of [logits, r.loss, r.dLogits]) z.dispose();
  }
  t.ok(losses[0] > 1.2, `starts near ln 4: ${losses[0].toFixed(3)}`);
  t.ok(losses[losses.length - 1] < 0.1, `memorises: final ${losses[losses.length - 1].toFixed(4)}`);
  opt.dispose();
  m.dispose();
});

t.test('MVD student + teachers: one distillation step, gradients flow, checkpoint round trip', async (t) => {
  const teachers = {
    img: makeTeacher('img', { preset: 'tiny', frames: 4, size: 32 }),
    vid: makeTeacher('vid', { preset: 'tiny', frames: 4, size: 32 }),
  };
  const s = makeStudent('tiny', { img: teachers.img.dim, vid: teachers.vid.dim }, { frames: 4, size: 32 });
  const x = clip(2, 31);
  // 8 tokens (2×2×2): tube mask keeps spatial positions {1} at both times → visible {1, 5}.
  const vis = Tensor.fromArray(new Int32Array([1, 5, 2, 6]), [2, 2]);
  const msk = Tensor.fromArray(new Int32Array([0, 2, 3, 4, 6, 7, 0, 1, 3, 4, 5, 7]), [2, 6]);
  const tImg = teachers.img.targets(x, msk),
    tVid = teachers.vid.targets(x, msk);
  t.same(tImg.shape, [2, 6, 128]);
  t.same(tVid.shape, [2, 6, 128]);
  const preds = s.forward(x, vis, msk);
  t.same(preds.img!.shape, [2, 6, 128]);
  const l = distillLoss(preds.img!, tImg, preds.vid!, tVid, { kind: 'smoothl1' });
  s.backward({ img: l.dPredImg!, vid: l.dPredVid! });
  const loss = await l.loss.toArray();
  t.ok(loss[0] > 0 && Math.abs(loss[0] - loss[1] - loss[2]) < 1e-5, `total = img + vid: ${Array.from(loss)}`);
  const named = new Map(s.namedParameters());
  for (const n of [
    'patch_embed.proj.weight',
    'blocks.0.attn.q_bias',
    'mask_token_img',
    'decoder_vid.head.weight',
    'down_img.weight',
    'norm.weight',
  ])
    t.ok(named.get(n)?.hasGrad, `${n} has a gradient`);
  t.notOk(named.get('pos_embed')!.trainable, 'pos_embed is frozen');
  const dir = mkdtempSync(join(tmpdir(), 'mvd-ck-'));
  await saveWeights(join(dir, 's.safetensors'), s);
  const s2 = makeStudent('tiny', { img: 128, vid: 128 }, { frames: 4, size: 32, seed: 9 });
  const rep = await loadWeights(join(dir, 's.safetensors'), s2, { strict: true });
  t.same(rep.missing, []);
  t.same(rep.unexpected, [], 'pos tables are recomputed, not loaded');
  const [a, b] = [await values(s), await values(s2)];
  for (const n of ['blocks.1.attn.qkv.weight', 'mask_token_vid']) t.same(Array.from(a.get(n)!), Array.from(b.get(n)!), `${n} reloaded`);
  t.ok(stateDict(s).has('pos_embed_img'), 'student state dict carries the frozen tables (SPEC §5.1)');
  s.dispose();
  s2.dispose();
  teachers.img.dispose();
  teachers.vid.dispose();
});

t.test('attention-bias conventions convert on load (MAE qkv.bias → VideoMAE q_bias/v_bias)', async (t) => {
  const mae = new VisionTransformer(imageVit('tiny', { dim: 32, depth: 1, heads: 2, size: 32 }), { seed: 1 });
  const vmae = new VisionTransformer(
    videoVit('tiny', { dim: 32, depth: 1, heads: 2, frames: 2, tubelet: 1, size: 32, posEmbed: 'sinusoid1d' }),
    { seed: 2 },
  );
  const bias = Float32Array.from({ length: 96 }, (_, i) => i);
  const named = new Map(mae.namedParameters());
  named.get('blocks.0.attn.qkv.bias')!.value.assign(Tensor.fromArray(bias, [96]));
  const dir = mkdtempSync(join(tmpdir(), 'mvd-bias-'));
  await saveWeights(join(dir, 'mae.safetensors'), mae);
  const rep = await loadWeights(join(dir, 'mae.safetensors'), vmae);
  t.ok(rep.loaded.includes('blocks.0.attn.q_bias') && rep.loaded.includes('blocks.0.attn.v_bias'));
  t.ok(rep.unexpected.includes('cls_token'));
  const v = new Map(vmae.namedParameters());
  t.same(Array.from(await v.get('blocks.0.attn.q_bias')!.value.toArray()), Array.from(bias.slice(0, 32)));
  t.same(Array.from(await v.get('blocks.0.attn.v_bias')!.value.toArray()), Array.from(bias.slice(64, 96)));
  mae.dispose();
  vmae.dispose();
});

t.test('gradient checkpointing (recompute per block) gives the same gradients', async (t) => {
  const grads = async (checkpoint: boolean) => {
    const m = new VideoClassifier(tinyCfg(), { numClasses: 3, seed: 4, initScale: 1 });
    m.encoder.setCheckpointing(checkpoint);
    const x = clip(2, 41);
    const labels = Tensor.fromArray(new Int32Array([1, 2]), [2]);
    m.train();
    m.zeroGrad();
    const logits = m.forward(x);
    const r = crossEntropy(logits, labels);
    m.backward(r.dLogits);
    const out = new Map<string, Float32Array>();
    for (const [n, p] of m.namedParameters()) if (p.hasGrad) out.set(n, (await p.grad!.toArray()) as Float32Array);
    m.dispose();
    return out;
  };
  const [a, b] = [await grads(false), await grads(true)];
  t.equal(a.size, b.size);
  let maxDiff = 0;
  for (const [n, g] of a) for (let i = 0; i < g.length; i++) maxDiff = Math.max(maxDiff, Math.abs(g[i] - b.get(n)![i]));
  t.equal(maxDiff, 0, 'bit-identical gradients with and without recomputation');
});

t.test('every parameter of the demo-shape classifier matches finite differences on rendered clips', async (t) => {
  // The demo's own shapes (tiny preset, 8 frames of 64², 64 tokens, 2 heads of 64) on real
  // synthetic clips, so no path the demo takes is left out of the gradient check.
  const ds = new SyntheticDataset({ seed: 1, count: 3, frames: 8, size: 64 });
  const batch = stackClips([0, 1, 2].map((i) => ds.getSync(i)));
  const m = new VideoClassifier(videoVit('tiny', { frames: 8, size: 64 }), { numClasses: 4, seed: 5, initScale: 1 });
  using labels = Tensor.fromArray(new Int32Array([0, 1, 2]), [3]);
  const lossOf = async (back: boolean) => {
    const logits = m.forward(batch.video);
    const r = crossEntropy(logits, labels);
    if (back) m.backward(r.dLogits);
    const v = await r.loss.item();
    for (const z of [logits, r.loss, r.dLogits]) z.dispose();
    return v;
  };
  m.zeroGrad();
  await lossOf(true);
  let checked = 0,
    worst = 0;
  for (const [name, p] of m.namedParameters()) {
    if (!p.trainable) continue;
    // A step of fixed length along the direction keeps the float32 loss change well above rounding.
    const n = p.value.numel;
    const { analytic, numeric } = await directional(p, randn(n, 1000 + checked), 0.03 / Math.sqrt(n), () => lossOf(false));
    // The floor (2e-3) is above the float32 noise of the central difference (~5e-5 here), so
    // near-zero directional derivatives are not compared at rounding level.
    const rel = Math.abs(numeric - analytic) / Math.max(2e-3, Math.abs(numeric) + Math.abs(analytic));
    worst = Math.max(worst, rel);
    if (rel > 2e-2)
      t.fail(`${name}: analytic ${analytic.toExponential(4)} numeric ${numeric.toExponential(4)} rel ${rel.toExponential(2)}`);
    checked++;
  }
  t.equal(
    checked,
    m.namedParameters().filter(([, p]) => p.trainable).length,
    `all ${checked} trainable parameters checked, worst rel ${worst.toExponential(2)}`,
  );
  batch.video.dispose();
  m.dispose();
});
