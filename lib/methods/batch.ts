// Batches for the recipes: u8 frames from a clip source become one normalised f32 tensor
// [B, 3, T, H, W] (framesToClip, native). Whole frames are copied with TypedArray.set, never
// element by element.
import { Tensor } from '../tensor.js';
import { framesToClip } from '../ops/frames.js';
import { Rng } from '../data/rng.js';
import type { ClipSource, ClipSample, SkippedVideo } from '../data/types.js';
import { skippedVideosOf } from '../data/bad-videos.js';
import { batchMasks, type MaskType, type TokenGrid } from '../data/masking.js';

export const IMAGENET_MEAN = [0.485, 0.456, 0.406];
export const IMAGENET_STD = [0.229, 0.224, 0.225];

export interface ClipBatch {
  video: Tensor;
  labels: Int32Array;
  /** Every label set the source carries (the synthetic set: appearance and motion). */
  labelSets: Record<string, Int32Array>;
  indices: number[];
}

/** What every recipe built on a BatchSampler exposes besides Recipe: the bad videos it left out. */
export interface SkipReport {
  readonly skippedVideos: SkippedVideo[];
}

/** 'all' frames, or one frame per clip (image pretraining on video frames), chosen by the seed. */
export type FrameSelect = 'all' | 'one';

export function stackClips(samples: ClipSample[], select: FrameSelect = 'all', seed = 0): ClipBatch {
  // A sample is [T, H, W, 3], or [V, T, H, W, 3] with V = 1 view.
  const [t, h, w] = samples[0].shape.length === 5 ? samples[0].shape.slice(1) : samples[0].shape;
  const frame = h * w * 3;
  const tOut = select === 'one' ? 1 : t;
  const data = new Uint8Array(samples.length * tOut * frame);
  const rng = new Rng(seed, 7);
  samples.forEach((s, b) => {
    if (select === 'one') {
      const k = rng.int(t);
      data.set(s.frames.subarray(k * frame, (k + 1) * frame), b * frame);
    } else data.set(s.frames.subarray(0, t * frame), b * t * frame);
  });
  using u8 = Tensor.fromArray(data, [samples.length, tOut, h, w, 3]);
  const labelSets: Record<string, Int32Array> = {};
  for (const key of Object.keys(samples[0].labels ?? {})) labelSets[key] = Int32Array.from(samples, (s) => s.labels![key]);
  return {
    video: framesToClip(u8, IMAGENET_MEAN, IMAGENET_STD),
    labels: Int32Array.from(samples, (s) => s.label),
    labelSets,
    indices: samples.map((s) => s.index),
  };
}

/**
 * Deterministic batches over a source: epoch order from the seed, so a resumed run sees the same
 * data. A bad video in a batch is replaced by the source (deterministically, see VideoClipDataset.get).
 */
export class BatchSampler {
  constructor(readonly source: ClipSource, readonly batchSize: number, readonly seed: number) {}

  /** Bad videos the source has left out so far, once per file. */
  get skippedVideos(): SkippedVideo[] {
    return skippedVideosOf(this.source);
  }

  get stepsPerEpoch(): number {
    return Math.max(1, Math.floor(this.source.length / this.batchSize));
  }

  indicesFor(step: number): number[] {
    const epoch = Math.floor(step / this.stepsPerEpoch), k = step % this.stepsPerEpoch;
    const order = Array.from({ length: this.source.length }, (_, i) => i);
    const rng = new Rng(this.seed, 1000 + epoch);
    for (let i = order.length - 1; i > 0; i--) {
      const j = rng.int(i + 1);
      [order[i], order[j]] = [order[j], order[i]];
    }
    return order.slice(k * this.batchSize, (k + 1) * this.batchSize);
  }

  async batch(step: number, select: FrameSelect = 'all'): Promise<ClipBatch> {
    const idx = this.indicesFor(step);
    const samples = await Promise.all(idx.map((i) => this.source.get(i, this.seed * 1000003 + step)));
    return stackClips(samples, select, this.seed * 7919 + step);
  }
}

/** A batch with its masks as i32 index tensors [B, Nv] / [B, Nm]; dispose() frees all three. */
export interface MaskedBatch extends ClipBatch, Disposable {
  vis: Tensor<'i32'>;
  msk: Tensor<'i32'>;
}

/** Batch `i` plus masks drawn from (seed, i), so a resumed run sees the same masks. */
export async function maskedBatch(data: BatchSampler, i: number, mask: { type: MaskType; grid: TokenGrid; ratio: number; seed: number }, select: FrameSelect = 'all'): Promise<MaskedBatch> {
  const b = await data.batch(i, select);
  const B = b.video.shape[0];
  const m = batchMasks(mask.type, mask.grid, mask.ratio, B, mask.seed * 1000003 + i);
  const vis = Tensor.fromArray(m.visible, [B, m.numVisible]);
  const msk = Tensor.fromArray(m.masked, [B, m.numMasked]);
  return { ...b, vis, msk, [Symbol.dispose]: () => { vis.dispose(); msk.dispose(); b.video.dispose(); } };
}
