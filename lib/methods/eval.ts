// Multi-view evaluation (SPEC §4.6): every video gives numClips temporal × numCrops spatial views;
// softmax per view, probabilities averaged per video, then top-1/top-5, per-class accuracy and
// the confusion matrix. The model work, softmax and averaging are native ops; only the final
// [videos, classes] matrix is read back to count the confusion matrix.
import { Tensor } from '../tensor.js';
import { ValueError } from '../errors.js';
import { softmax, topkCorrect } from '../ops/xent.js';
import { framesToClip, resizeCrop } from '../ops/frames.js';
import { meanTokens, type VideoClassifier } from '../nn/classifier.js';
import { renderSynthClip } from '../ops/synth.js';
import { synthClipSpec, APPEARANCE_CLASSES, MOTION_CLASSES, type SyntheticLabel } from '../data/synthetic.js';
import { denseTestIndices } from '../data/sampling.js';
import { testCrops } from '../data/augment.js';
import type { BadVideoPolicy, ClipSample, ClipSource, SkippedVideo } from '../data/types.js';
import { NoUsableVideosError, exactRange } from '../data/bad-videos.js';
import { IMAGENET_MEAN, IMAGENET_STD } from './batch.js';
import { initDistributed, abortJob } from '../dist/world.js';
import { allGather } from '../dist/collectives.js';
import { gatherJson, shardRange } from '../dist/gather.js';

/** logits [N·V, C] of N videos × V views → the per-video mean of the per-view softmax, [N, C]. */
export function averageViewProbabilities(logits: Tensor, views: number): Tensor {
  const [rows, c] = logits.shape;
  if (rows % views) throw new ValueError(`averageViewProbabilities: ${rows} rows are not a multiple of ${views} views`);
  using p = softmax(logits);
  using pv = p.reshape([rows / views, views, c]);
  return meanTokens(pv);
}

/** One class's line of an evaluation: videos of that true class, how many were predicted right. */
export interface ClassScore {
  name: string;
  count: number;
  correct: number;
  /** null when the class has no videos. */
  accuracy: number | null;
}

/** Multi-view evaluation scores (SPEC §4.6); accuracies are fractions in [0, 1], over scored videos only. */
export interface EvalResult {
  /** Videos scored: the denominator of every accuracy (skipped videos are not in it). */
  videos: number;
  views: number;
  classes: number;
  top1: number;
  /** Top-5 accuracy (top-k with k = min(5, classes)). */
  top5: number;
  perClass: ClassScore[];
  /** confusion[true][predicted]: video counts. */
  confusion: number[][];
  /** Mean per-class accuracy over classes that have videos. */
  meanClassAccuracy: number;
  /** Bad videos left out under 'skip', one entry per list item, in list order. */
  skippedVideos: SkippedVideo[];
}

/**
 * Scores averaged probabilities [N, C] against labels: top-1/top-5 from the native topkCorrect,
 * per-class accuracy and the confusion matrix from the argmax of each read-back row (first index
 * on ties, as torch.argmax).
 */
export async function scoreProbabilities(
  probs: Tensor,
  labels: Int32Array,
  classNames?: readonly string[],
): Promise<EvalResult & { views: 0 }> {
  const [n, c] = probs.shape;
  if (labels.length !== n) throw new ValueError(`scoreProbabilities: ${labels.length} labels for ${n} rows`);
  for (const y of labels) if (!(y >= 0 && y < c)) throw new ValueError(`scoreProbabilities: label ${y} outside [0, ${c})`);
  using yt = Tensor.fromArray(labels, [n]);
  using hits = topkCorrect(probs, yt, [1, Math.min(5, c)]);
  const [h1, h5] = await hits.toArray();
  const p = await probs.toArray();
  const confusion = Array.from({ length: c }, () => new Array<number>(c).fill(0));
  for (let i = 0; i < n; i++) {
    let best = 0;
    for (let k = 1; k < c; k++) if (p[i * c + k] > p[i * c + best]) best = k;
    confusion[labels[i]][best]++;
  }
  const perClass = confusion.map((row, k) => {
    const count = row.reduce((a, b) => a + b, 0);
    return { name: classNames?.[k] ?? String(k), count, correct: row[k], accuracy: count ? row[k] / count : null };
  });
  const present = perClass.filter((s) => s.accuracy !== null);
  return {
    videos: n,
    views: 0,
    classes: c,
    top1: h1 / n,
    top5: h5 / n,
    perClass,
    confusion,
    meanClassAccuracy: present.reduce((a, s) => a + s.accuracy!, 0) / Math.max(1, present.length),
    skippedVideos: [],
  };
}

export interface EvaluateOptions {
  classes: number;
  /** Label key of multi-label samples (synthetic: 'appearance' | 'motion'); default sample.label. */
  label?: string;
  classNames?: readonly string[];
  /** Videos per forward batch (each brings all its views). */
  batchVideos?: number;
  /** Called after each batch with videos done. */
  onProgress?: (done: number, total: number) => void;
  /** Bad videos: 'skip' leaves them out of every count, 'fail' throws; default: the source's own policy. */
  onBadVideo?: BadVideoPolicy;
}

/**
 * Multi-view test of a classifier over a source whose samples are [V, T, H, W, 3] test views
 * (VideoClipDataset with the 'test' transform, or SyntheticTestViews). All videos must have the
 * same V. A bad video skipped by the source is in no count; when every video is bad, a
 * NoUsableVideosError. Under an MPI launch each rank tests a contiguous share of the videos and
 * every rank returns the scores of all of them (gathered; the CLI prints rank 0's); an error on
 * one rank ends the job (MPI_Abort) instead of leaving the others waiting in the gather.
 */
export async function evaluate(model: VideoClassifier, source: ClipSource, o: EvaluateOptions): Promise<EvalResult> {
  const w = initDistributed();
  let share: Share;
  if (w.size === 1) {
    share = await evaluateShare(model, source, o, 0, source.length, source.length);
    try {
      return await scoreShares(source.length, [share], o, share.probs);
    } finally {
      share.probs.dispose();
    }
  }
  try {
    const { start, end, per } = shardRange(source.length, w.rank, w.size);
    share = await evaluateShare(model, source, o, start, end, per);
  } catch (err) {
    return abortJob(err);
  }
  try {
    return await gatherShares(share, source.length, o);
  } finally {
    share.probs.dispose();
  }
}

/** One rank's part of an evaluation: averaged probabilities of its kept videos (rows 0..kept-1). */
interface Share {
  probs: Tensor;
  labels: Int32Array;
  kept: number;
  views: number;
  skippedVideos: SkippedVideo[];
}

/** Videos [start, end) through the model; probs has `rows` rows (≥ end − start), filled from row 0. */
async function evaluateShare(
  model: VideoClassifier,
  source: ClipSource,
  o: EvaluateOptions,
  start: number,
  end: number,
  rows: number,
): Promise<Share> {
  model.eval();
  const n = end - start,
    bs = o.batchVideos ?? 4;
  let views = 0,
    kept = 0;
  const probs = Tensor.empty([Math.max(1, rows), o.classes]);
  const labels = new Int32Array(Math.max(1, rows));
  const skippedVideos: SkippedVideo[] = [];
  // Weights fixed for the whole pass: packed once instead of inside every GEMM call (dropped after).
  if (n > bs) model.packWeights();
  try {
    for (let s = start; s < end; s += bs) {
      const { samples, skipped } = await exactRange(source, s, Math.min(end, s + bs), 0, o.onBadVideo);
      skippedVideos.push(...skipped);
      o.onProgress?.(Math.min(end, s + bs) - start, n);
      if (!samples.length) continue;
      if (!views) views = samples[0].shape.length === 5 ? samples[0].shape[0] : 1;
      const shape = samples[0].shape.slice(-4);
      const per = shape.reduce((a, b) => a * b, 1);
      const data = new Uint8Array(samples.length * views * per);
      samples.forEach((x, b) => {
        const xv = x.shape.length === 5 ? x.shape[0] : 1;
        if (xv !== views || x.shape.slice(-4).join() !== shape.join())
          throw new ValueError(`evaluate: video ${x.index} has ${xv} views of [${x.shape.slice(-4)}], expected ${views} of [${shape}]`);
        data.set(x.frames.subarray(0, views * per), b * views * per);
        labels[kept + b] = o.label !== undefined ? (x.labels?.[o.label] ?? x.label) : x.label;
      });
      using u8 = Tensor.fromArray(data, [samples.length * views, ...shape]);
      using clip = framesToClip(u8, IMAGENET_MEAN, IMAGENET_STD);
      using logits = model.forward(clip);
      if (logits.shape[1] !== o.classes) throw new ValueError(`evaluate: the model has ${logits.shape[1]} classes, expected ${o.classes}`);
      using avg = averageViewProbabilities(logits, views);
      using dst = probs.slice(kept, kept + samples.length);
      dst.assign(avg as Tensor<'f32'>);
      kept += samples.length;
    }
    return { probs, labels, kept, views, skippedVideos };
  } catch (err) {
    probs.dispose();
    throw err;
  } finally {
    model.unpackWeights();
  }
}

/** The scores of shares laid end to end in list order; `probs` holds their kept rows in that order. */
async function scoreShares(n: number, shares: Share[], o: EvaluateOptions, probs: Tensor): Promise<EvalResult> {
  const skippedVideos = shares.flatMap((s) => s.skippedVideos);
  const kept = shares.reduce((a, s) => a + s.kept, 0);
  if (kept === 0) throw new NoUsableVideosError('evaluate', n, skippedVideos);
  const views = new Set(shares.filter((s) => s.kept).map((s) => s.views));
  if (views.size > 1)
    throw new ValueError(
      `evaluate: the ranks' videos have different view counts (${[...views].join(' vs ')}); every video must have the same views`,
    );
  const labels = new Int32Array(kept);
  let at = 0;
  for (const s of shares) labels.set(s.labels.subarray(0, s.kept), (at += s.kept) - s.kept);
  using scored = probs.slice(0, kept);
  const r = await scoreProbabilities(scored, labels, o.classNames);
  return { ...r, views: [...views][0], skippedVideos };
}

/**
 * Every rank's share on every rank: the probability rows by all-gather ([world, rows, classes];
 * rank r's kept rows moved together, in rank order = list order), the rest as JSON.
 */
async function gatherShares(share: Share, n: number, o: EvaluateOptions): Promise<EvalResult> {
  const meta = await gatherJson({
    kept: share.kept,
    views: share.views,
    labels: [...share.labels.subarray(0, share.kept)],
    skippedVideos: share.skippedVideos,
  });
  using all = allGather(share.probs);
  const [, rows, classes] = all.shape;
  const kept = meta.reduce((a, m) => a + m.kept, 0);
  const probs = Tensor.empty([Math.max(1, kept), classes]);
  try {
    let at = 0;
    using flat = all.reshape([all.shape[0] * rows, classes]);
    meta.forEach((m, r) => {
      if (!m.kept) return;
      using src = flat.slice(r * rows, r * rows + m.kept);
      using dst = probs.slice(at, at + m.kept);
      dst.assign(src as Tensor<'f32'>);
      at += m.kept;
    });
    const shares: Share[] = meta.map((m) => ({
      probs,
      labels: Int32Array.from(m.labels),
      kept: m.kept,
      views: m.views,
      skippedVideos: m.skippedVideos,
    }));
    return await scoreShares(n, shares, o, probs);
  } finally {
    probs.dispose();
  }
}

export interface SyntheticTestViewsOptions {
  seed?: number;
  count: number;
  frames: number;
  size: number;
  label?: SyntheticLabel;
  numClips?: number;
  numCrops?: number;
}

/**
 * Test views of the synthetic set, made the way SPEC §4.6 makes them from a longer, wider video:
 * each clip is rendered with twice the frames (same per-frame motion) and a frame wider than tall
 * (same object path, centred), then numClips windows (denseTestIndices at stride 1) × numCrops
 * square crops along the long side (testCrops). The centre window's centre crop shows the
 * training clip's object path; the background differs, since it is drawn over the wider frame.
 */
export class SyntheticTestViews implements ClipSource {
  readonly length: number;
  readonly classes: readonly string[];
  readonly views: number;
  constructor(readonly o: SyntheticTestViewsOptions) {
    this.length = o.count;
    this.classes = (o.label ?? 'appearance') === 'appearance' ? APPEARANCE_CLASSES : MOTION_CLASSES;
    this.views = (o.numClips ?? 2) * (o.numCrops ?? 3);
  }

  async get(index: number): Promise<ClipSample> {
    const { frames: f, size } = this.o;
    const nc = this.o.numClips ?? 2,
      ncrop = this.o.numCrops ?? 3;
    const spec = synthClipSpec(this.o.seed ?? 0, index, f, size);
    const long = nc > 1 ? 2 * f : f;
    const margin = ncrop > 1 ? 2 * Math.round(size / 8) : 0;
    const wide = size + 2 * margin;
    const lead = Math.floor((long - f) / 2);
    const p = spec.params;
    const frames = renderSynthClip({ ...p, T: long, W: wide, cx: p.cx + margin - p.vx * lead, cy: p.cy - p.vy * lead });
    const windows = denseTestIndices(long, nc, f, 1);
    const { crops } = testCrops(wide, size, size, ncrop);
    const frame = size * wide * 3;
    const out = new Uint8Array(nc * ncrop * f * size * size * 3);
    let o = 0;
    for (const idx of windows) {
      const win = new Uint8Array(f * frame);
      idx.forEach((k, j) => win.set(frames.subarray(k * frame, (k + 1) * frame), j * frame));
      using t = Tensor.fromArray(win, [f, size, wide, 3]);
      for (const crop of crops) {
        using c = resizeCrop(t, crop, size, size);
        out.set(await c.toArray(), o);
        o += f * size * size * 3;
      }
    }
    const label = (this.o.label ?? 'appearance') === 'appearance' ? spec.appearance : spec.motion;
    return {
      frames: out,
      shape: [nc * ncrop, f, size, size, 3],
      label,
      labels: { appearance: spec.appearance, motion: spec.motion },
      index,
      requested: index,
      bad: [],
    };
  }
}
