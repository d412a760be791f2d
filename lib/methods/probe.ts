// Linear probe on frozen features (and the feature extraction it needs): mean-pooled encoder
// output per clip, then a linear classifier trained with AdamW on those features (standardised per
// dimension with train statistics; weight decay chosen on a held-out part of the train set).
import { Tensor, tensorScope, tidy } from '../tensor.js';
import { ValueError } from '../errors.js';
import { crossEntropy, topkCorrect } from '../ops/xent.js';
import { layerNormForward } from '../ops/norm.js';
import { Linear } from '../nn/layers.js';
import { meanTokens } from '../nn/classifier.js';
import type { VisionTransformer } from '../nn/encoder.js';
import { AdamW } from '../optim/adamw.js';
import { buildParamGroups } from '../optim/groups.js';
import { cosineLr } from '../optim/schedule.js';
import { stackClips } from './batch.js';
import type { BadVideoPolicy, ClipSource, SkippedVideo } from '../data/types.js';
import { NoUsableVideosError, exactRange } from '../data/bad-videos.js';
import { Rng } from '../data/rng.js';

export type FeatureLayer = 'norm' | 'prenorm';

export interface ExtractedFeatures {
  /** [N, D], N = usable clips, in index order. */
  features: Tensor;
  labelSets: Record<string, Int32Array>;
  /** The source index of each feature row (bad videos skipped leave gaps). */
  indices: Int32Array;
  /** Bad videos left out under 'skip', in index order. */
  skippedVideos: SkippedVideo[];
}

/**
 * Mean-pooled features of every usable clip of a source, in index order, with their label sets.
 * A bad video skipped by the source gives no row; when every video is bad, a NoUsableVideosError.
 */
export async function extractFeatures(
  encoder: VisionTransformer,
  source: ClipSource,
  opts: { batchSize?: number; layer?: FeatureLayer; onBadVideo?: BadVideoPolicy } = {},
): Promise<ExtractedFeatures> {
  encoder.eval();
  const bs = opts.batchSize ?? 16;
  const d = encoder.dim;
  const feats = Tensor.empty([source.length, d]);
  const labelSets: Record<string, number[]> = {};
  const indices: number[] = [];
  const skippedVideos: SkippedVideo[] = [];
  // Weights fixed for the whole pass: packed once instead of inside every GEMM call (dropped after).
  if (source.length > bs) encoder.packWeights();
  try {
    for (let s = 0; s < source.length; s += bs) {
      const { samples, skipped } = await exactRange(source, s, Math.min(source.length, s + bs), 0, opts.onBadVideo);
      skippedVideos.push(...skipped);
      if (!samples.length) continue;
      using _scope = tensorScope();
      const b = stackClips(samples);
      for (const [k, v] of Object.entries(b.labelSets)) (labelSets[k] ??= []).push(...v);
      const e = encoder.forward(b.video);
      const x = opts.layer === 'prenorm' || !e.out ? e.prenorm : e.out;
      feats.slice(indices.length, indices.length + samples.length).assign(meanTokens(x) as Tensor<'f32'>);
      indices.push(...b.indices);
    }
    if (!indices.length) throw new NoUsableVideosError('extractFeatures', source.length, skippedVideos);
  } catch (e) {
    feats.dispose();
    throw e;
  } finally {
    encoder.unpackWeights();
  }
  let features = feats;
  if (indices.length < source.length) {
    // A contiguous [kept, D] tensor, so no consumer sees the unused rows.
    using view = feats.slice(0, indices.length);
    features = view.clone();
    feats.dispose();
  }
  return {
    features,
    indices: Int32Array.from(indices),
    skippedVideos,
    labelSets: Object.fromEntries(Object.entries(labelSets).map(([k, v]) => [k, Int32Array.from(v)])),
  };
}

export interface ProbeResult {
  trainAcc: number;
  valAcc: number;
  top5: number | null;
  /** The weight decay used for the final fit (chosen on a held-out part of the TRAIN features when several were given). */
  weightDecay: number;
  /** Bad videos left out of the train and val features (as extractFeatures reported them). */
  skippedVideos: SkippedVideo[];
  /**
   * With `keepHead`: the final classifier as 'weight' [classes, D] and 'bias' [classes], acting on
   * the normalised features (the caller owns them). A head fitted with norm 'layernorm' is the
   * head of a VideoClassifier whose fc_norm is at its initial identity (LP-FT's starting point).
   */
  head?: Map<string, Tensor>;
}

/** Features with their labels; `skippedVideos` as extractFeatures gives them. */
export interface ProbeSet {
  x: Tensor;
  y: Int32Array;
  skippedVideos?: readonly SkippedVideo[];
}

export type ProbeNorm = 'standardize' | 'layernorm';

export interface ProbeOptions {
  steps?: number;
  lr?: number;
  /** One value, or several: then each is fitted on 80% of the train features, scored on the other 20%, and the best refitted on all of them. */
  weightDecay?: number | number[];
  /** 'standardize' (default): per-dimension mean/std of the train features (the BatchNorm-without-affine of the usual probe); 'layernorm': per-sample. */
  norm?: ProbeNorm;
  seed?: number;
  /** Return the final fit's classifier weights (ProbeResult.head). */
  keepHead?: boolean;
}

/** Per-dimension standardisation with the statistics of `fit` (rows [N, D]). */
function standardizer(fit: Float32Array, n: number, d: number): (x: Float32Array, m: number) => Float32Array {
  const mu = new Float64Array(d),
    sd = new Float64Array(d);
  for (let i = 0; i < n; i++) for (let j = 0; j < d; j++) mu[j] += fit[i * d + j];
  for (let j = 0; j < d; j++) mu[j] /= n;
  for (let i = 0; i < n; i++) for (let j = 0; j < d; j++) sd[j] += (fit[i * d + j] - mu[j]) ** 2;
  for (let j = 0; j < d; j++) sd[j] = Math.sqrt(sd[j] / n) + 1e-6;
  return (x, m) => {
    const o = new Float32Array(m * d);
    for (let i = 0; i < m; i++) for (let j = 0; j < d; j++) o[i * d + j] = (x[i * d + j] - mu[j]) / sd[j];
    return o;
  };
}

function layerNormRows(x: Tensor): Tensor {
  return tidy(() => layerNormForward(x, null, null, 1e-6).y);
}

/** Rows of a [N, D] array picked by index. */
function pickRows(x: Float32Array, d: number, idx: number[]): Float32Array {
  const o = new Float32Array(idx.length * d);
  idx.forEach((r, i) => o.set(x.subarray(r * d, (r + 1) * d), i * d));
  return o;
}

/** Full-batch AdamW on normalised features; returns top-1 (and top-5 for > 5 classes) on both sets. */
async function fitProbe(
  xt: Tensor,
  yt: Int32Array,
  xv: Tensor,
  yv: Int32Array,
  classes: number,
  wd: number,
  o: ProbeOptions,
  keepHead = false,
) {
  const d = xt.shape[1];
  using lin = new Linear(d, classes).init({ kind: 'xavier_uniform' }, { seed: o.seed ?? 0, prefix: 'probe.' });
  const opt = new AdamW(
    buildParamGroups(
      lin.namedParameters().map(([n, p]) => [`probe.${n}`, p]),
      { weightDecay: wd },
    ),
    { beta2: 0.999 },
  );
  using ytT = Tensor.fromArray(yt, [yt.length]);
  using yvT = Tensor.fromArray(yv, [yv.length]);
  const steps = o.steps ?? 300;
  lin.train();
  for (let s = 0; s < steps; s++) {
    lin.zeroGrad();
    tidy(() => {
      lin.backward(crossEntropy(lin.forward(xt), ytT).dLogits, { inputGrad: false });
    });
    await opt.update(cosineLr({ lr: o.lr ?? 3e-2, minLr: 0, warmupSteps: 10, totalSteps: steps }, s));
  }
  lin.eval();
  const acc = async (x: Tensor, y: Tensor, n: number) => {
    using logits = lin.forward(x);
    const ks = classes > 5 ? [1, 5] : [1];
    using c = topkCorrect(logits, y, ks);
    const v = await c.toArray();
    return ks.map((_, i) => v[i] / n);
  };
  const [trainAcc] = await acc(xt, ytT, yt.length);
  const [valAcc, top5] = await acc(xv, yvT, yv.length);
  opt.dispose();
  const head = keepHead ? new Map(lin.namedParameters().map(([n, p]) => [n, p.value.clone()])) : undefined;
  return { trainAcc, valAcc, top5: top5 ?? null, head };
}

/**
 * Trains a linear classifier on normalised frozen features and reports top-1 on the validation
 * features. Normalisation statistics and the weight-decay choice come from the train features only;
 * the validation features are touched once, by the final classifier.
 */
export async function linearProbe(train: ProbeSet, val: ProbeSet, classes: number, opts: ProbeOptions = {}): Promise<ProbeResult> {
  const [n, d] = train.x.shape;
  const m = val.x.shape[0];
  if (train.y.length !== n || val.y.length !== m)
    throw new ValueError(
      `linearProbe: ${train.y.length} train and ${val.y.length} val labels for ${n} and ${m} feature rows, expected one label per row`,
    );
  const skippedVideos = [...(train.skippedVideos ?? []), ...(val.skippedVideos ?? [])];
  const norm = opts.norm ?? 'standardize';
  const wds = Array.isArray(opts.weightDecay) ? opts.weightDecay : [opts.weightDecay ?? 1e-4];
  const xtA = (await train.x.toArray()) as Float32Array;
  const xvA = (await val.x.toArray()) as Float32Array;
  // Both sets normalised as the fitting set dictates (standardize: statistics of `fit`).
  const prepare = (fit: Float32Array, fitN: number, other: Float32Array, otherN: number): [Tensor, Tensor] => {
    if (norm === 'layernorm')
      return tidy(() => [layerNormRows(Tensor.fromArray(fit, [fitN, d])), layerNormRows(Tensor.fromArray(other, [otherN, d]))]) as [
        Tensor,
        Tensor,
      ];
    const f = standardizer(fit, fitN, d);
    return [Tensor.fromArray(f(fit, fitN), [fitN, d]), Tensor.fromArray(f(other, otherN), [otherN, d])];
  };
  let best = wds[0];
  if (wds.length > 1) {
    // Deterministic 80/20 split of the TRAIN rows, stratified by class.
    const rng = new Rng(opts.seed ?? 0, 0x9b0e);
    const fitIdx: number[] = [],
      holdIdx: number[] = [];
    for (let c = 0; c < classes; c++) {
      const rows = Array.from(train.y.keys()).filter((i) => train.y[i] === c);
      for (let i = rows.length - 1; i > 0; i--) {
        const j = rng.int(i + 1);
        [rows[i], rows[j]] = [rows[j], rows[i]];
      }
      const k = Math.round(rows.length * 0.2);
      holdIdx.push(...rows.slice(0, k));
      fitIdx.push(...rows.slice(k));
    }
    const [xf, xh] = prepare(pickRows(xtA, d, fitIdx), fitIdx.length, pickRows(xtA, d, holdIdx), holdIdx.length);
    const yf = Int32Array.from(fitIdx, (i) => train.y[i]),
      yh = Int32Array.from(holdIdx, (i) => train.y[i]);
    let bestAcc = -1;
    for (const wd of wds) {
      const r = await fitProbe(xf, yf, xh, yh, classes, wd, opts);
      if (r.valAcc > bestAcc) [bestAcc, best] = [r.valAcc, wd];
    }
    xf.dispose();
    xh.dispose();
  }
  const [xt, xv] = prepare(xtA, n, xvA, m);
  try {
    return { ...(await fitProbe(xt, train.y, xv, val.y, classes, best, opts, opts.keepHead)), weightDecay: best, skippedVideos };
  } finally {
    xt.dispose();
    xv.dispose();
  }
}
