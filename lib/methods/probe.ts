// Linear probe on frozen features (and the feature extraction it needs): mean-pooled encoder
// output per clip, then a linear classifier trained with AdamW on those features.
import { Tensor } from '../tensor.js';
import { crossEntropy, topkCorrect } from '../ops/xent.js';
import { layerNormForward } from '../ops/norm.js';
import { Linear } from '../nn/layers.js';
import { meanTokens } from '../nn/classifier.js';
import type { VisionTransformer } from '../nn/encoder.js';
import { AdamW } from '../optim/adamw.js';
import { buildParamGroups } from '../optim/groups.js';
import { cosineLr } from '../optim/schedule.js';
import { stackClips } from './batch.js';
import type { ClipSource } from '../data/types.js';

export type FeatureLayer = 'norm' | 'prenorm';

/** Mean-pooled features [N, D] of every clip of a source, in index order, with their label sets. */
export async function extractFeatures(encoder: VisionTransformer, source: ClipSource, opts: { batchSize?: number; layer?: FeatureLayer } = {}) {
  encoder.eval();
  const bs = opts.batchSize ?? 16;
  const d = encoder.dim;
  const feats = Tensor.empty([source.length, d]);
  const labelSets: Record<string, number[]> = {};
  for (let s = 0; s < source.length; s += bs) {
    const idx = Array.from({ length: Math.min(bs, source.length - s) }, (_, i) => s + i);
    const b = stackClips(await Promise.all(idx.map((i) => source.get(i, 0))));
    for (const [k, v] of Object.entries(b.labelSets)) (labelSets[k] ??= []).push(...v);
    const e = encoder.forward(b.video);
    const x = opts.layer === 'prenorm' || !e.out ? e.prenorm : e.out;
    const pooled = meanTokens(x);
    using rows = feats.slice(s, s + idx.length);
    rows.assign(pooled as Tensor<"f32">);
    for (const t of [pooled, e.prenorm, e.out, b.video]) t?.dispose();
  }
  return { features: feats, labelSets: Object.fromEntries(Object.entries(labelSets).map(([k, v]) => [k, Int32Array.from(v)])) };
}

export interface ProbeResult {
  trainAcc: number;
  valAcc: number;
  top5: number | null;
}

/**
 * Trains a linear classifier on standardised features (a BatchNorm-free version of the usual
 * probe: features are LayerNorm-ed without affine) and reports top-1 on the validation features.
 */
export async function linearProbe(train: { x: Tensor; y: Int32Array }, val: { x: Tensor; y: Int32Array }, classes: number, opts: { steps?: number; lr?: number; weightDecay?: number; seed?: number } = {}): Promise<ProbeResult> {
  const d = train.x.shape[1];
  using lin = new Linear(d, classes).init({ kind: 'xavier_uniform' }, { seed: opts.seed ?? 0, prefix: 'probe.' });
  const opt = new AdamW(buildParamGroups(lin.namedParameters().map(([n, p]) => [`probe.${n}`, p]), { weightDecay: opts.weightDecay ?? 1e-4 }), { beta2: 0.999 });
  const norm = (x: Tensor) => {
    const r = layerNormForward(x, null, null, 1e-6);
    r.mean.dispose();
    r.rstd.dispose();
    return r.y;
  };
  using xt = norm(train.x);
  using xv = norm(val.x);
  using yt = Tensor.fromArray(train.y, [train.y.length]);
  using yv = Tensor.fromArray(val.y, [val.y.length]);
  const steps = opts.steps ?? 300;
  lin.train();
  for (let s = 0; s < steps; s++) {
    lin.zeroGrad();
    const logits = lin.forward(xt);
    const r = crossEntropy(logits, yt);
    lin.backward(r.dLogits, { inputGrad: false });
    await opt.update(cosineLr({ lr: opts.lr ?? 3e-2, minLr: 0, warmupSteps: 10, totalSteps: steps }, s));
    for (const t of [logits, r.loss, r.dLogits]) t.dispose();
  }
  lin.eval();
  const acc = async (x: Tensor, y: Tensor, n: number) => {
    using logits = lin.forward(x);
    const ks = classes > 5 ? [1, 5] : [1];
    using c = topkCorrect(logits, y, ks);
    const v = await c.toArray();
    return ks.map((_, i) => v[i] / n);
  };
  const [trainAcc] = await acc(xt, yt, train.y.length);
  const [valAcc, top5] = await acc(xv, yv, val.y.length);
  opt.dispose();
  return { trainAcc, valAcc, top5: top5 ?? null };
}
