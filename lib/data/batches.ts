// Step-addressed training batches for the recipes, drawn through the one loader (loader.ts): the
// loader decodes and augments ahead in worker threads (in this thread for in-memory sources),
// this file turns its u8 batches into normalised f32 clips [B, 3, T, H, W] and draws the
// student's masks. Every random choice is keyed by (seed, epoch, dataset index), so clips of a
// batch differ, and a resumed run (a fresh sampler asked for step k) gets the same bytes.
import { Tensor } from '../tensor.js';
import { framesToClip } from '../ops/frames.js';
import { ValueError } from '../errors.js';
import { Rng } from './rng.js';
import { skippedVideosOf } from './bad-videos.js';
import { clipMasks, type MaskType, type TokenGrid } from './masking.js';
import { LoaderError, VideoLoader, type Batch, type Shard } from './loader.js';
import type { ClipSample, ClipSource, SkippedVideo } from './types.js';

/** Per-channel RGB mean on the [0, 1] scale (SPEC §3.1), which every clip is normalised with. */
export const IMAGENET_MEAN = [0.485, 0.456, 0.406];
/** Per-channel RGB std on the [0, 1] scale, paired with IMAGENET_MEAN. */
export const IMAGENET_STD = [0.229, 0.224, 0.225];

/**
 * One batch as the model takes it: video f32 [B, 3, T, H, W] ImageNet-normalised (T = 1 under select
 * 'one'), with labels and the dataset indices actually loaded. The caller disposes the tensors.
 */
export interface ClipBatch {
  video: Tensor;
  /** The image teacher's input ([B, 3, T, S, S]) when the sampler was given an imageTeacherSize. */
  teacherVideo?: Tensor;
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

function normalised(data: Uint8Array, shape: number[]): Tensor {
  using u8 = Tensor.fromArray(data, shape);
  return framesToClip(u8, IMAGENET_MEAN, IMAGENET_STD);
}

/**
 * Frames [B, T, H, W, 3] (one view per clip) to a clip tensor; with 'one', clip b keeps the frame
 * frameRng(b) picks.
 */
function clipTensor(frames: Uint8Array, shape: readonly number[], select: FrameSelect, frameRng: (b: number) => Rng): Tensor {
  const [n, t, h, w] = shape;
  if (select === 'all') return normalised(frames, [n, t, h, w, 3]);
  const frame = h * w * 3,
    data = new Uint8Array(n * frame);
  for (let b = 0; b < n; b++) {
    const k = frameRng(b).int(t);
    data.set(frames.subarray((b * t + k) * frame, (b * t + k + 1) * frame), b * frame);
  }
  return normalised(data, [n, 1, h, w, 3]);
}

/** Samples ([T, H, W, 3], or [1, T, H, W, 3]) as one batch; 'one' draws each clip's frame from (seed, index). */
export function stackClips(samples: ClipSample[], select: FrameSelect = 'all', seed = 0): ClipBatch {
  const [t, h, w] = samples[0].shape.length === 5 ? samples[0].shape.slice(1) : samples[0].shape;
  const clip = t * h * w * 3;
  const data = new Uint8Array(samples.length * clip);
  samples.forEach((s, b) => data.set(s.frames.subarray(0, clip), b * clip));
  const labelSets: Record<string, Int32Array> = {};
  for (const key of Object.keys(samples[0].labels ?? {})) labelSets[key] = Int32Array.from(samples, (s) => s.labels![key]);
  return {
    video: clipTensor(data, [samples.length, t, h, w], select, (b) => new Rng(seed, samples[b].index, 7)),
    labels: Int32Array.from(samples, (s) => s.label),
    labelSets,
    indices: samples.map((s) => s.index),
  };
}

/** A loader batch with one view per clip as tensors; 'one' draws each clip's frame from (seed, epoch, index). */
export function clipBatch(b: Batch, select: FrameSelect = 'all', seed = 0): ClipBatch {
  if (b.views !== 1)
    throw new ValueError(
      `clipBatch: batch ${b.batch} has ${b.views} views per clip, expected 1 (use the fine-tuning batch for repeated views)`,
    );
  const video = clipTensor(b.frames, b.shape, select, (k) => new Rng(seed, b.epoch, b.requested[k], 7));
  const out: ClipBatch = { video, labels: b.labels, labelSets: b.labelSets ?? {}, indices: Array.from(b.indices) };
  if (b.teacherFrames && b.teacherShape) {
    if (select !== 'all') throw new ValueError(`clipBatch: the image teacher's input needs every frame, not select '${select}'`);
    out.teacherVideo = normalised(b.teacherFrames, b.teacherShape);
  }
  return out;
}

/** Options of BatchSampler: loader workers, prefetch depth, distributed shard and teacher input size. */
export interface SamplerOptions {
  /** Loader worker threads: default 2 for sources loaders can rebuild (video files), else 0 (in this thread). */
  workers?: number;
  /** Batches decoded ahead of the one being trained on (default 2). */
  prefetch?: number;
  /** This process's part of every epoch (distributed training). */
  shard?: Shard;
  /** Also give the image teacher's input at this size (ClipBatch.teacherVideo). */
  imageTeacherSize?: number;
}

interface Cursor {
  loader: VideoLoader;
  it: AsyncIterator<Batch>;
  epoch: number;
  /** The batch of the epoch the next `it.next()` yields. */
  next: number;
  /** `it.next()` already called for `next`: decoding and assembly overlap the step. */
  ahead?: Promise<IteratorResult<Batch>>;
}

/**
 * Deterministic batches over a source, addressed by step: epoch = step / stepsPerEpoch, the epoch
 * order and every clip's augmentation from the seed. Steps asked in order stream from one loader
 * per epoch, the next batch loading while the current one trains; any other step (a resume)
 * starts a loader at that batch. A bad video is replaced by the dataset (see VideoClipDataset.get).
 */
export class BatchSampler implements AsyncDisposable {
  private cursor: Cursor | null = null;
  private chain: Promise<unknown> = Promise.resolve();
  private started = false;
  private readonly reported = new Map<string, SkippedVideo>();
  private readonly opts: SamplerOptions;

  constructor(
    readonly source: ClipSource,
    readonly batchSize: number,
    readonly seed: number,
    opts: SamplerOptions = {},
  ) {
    if (!Number.isInteger(batchSize) || batchSize <= 0)
      throw new ValueError(`BatchSampler: batchSize must be a positive integer, got ${batchSize}`);
    const prefetch = opts.prefetch ?? 2;
    if (!Number.isInteger(prefetch) || prefetch < 1)
      throw new ValueError(`BatchSampler: prefetch must be a positive integer (batches), got ${prefetch}`);
    this.opts = { ...opts, prefetch };
  }

  /** Bad videos left out so far (by the source here or by loader workers), once per file. */
  get skippedVideos(): SkippedVideo[] {
    const all = new Map(skippedVideosOf(this.source).map((s) => [s.path, s]));
    for (const [p, s] of this.reported) if (!all.has(p)) all.set(p, s);
    return [...all.values()];
  }

  /** Clips this process loads per epoch (its shard's share). */
  private get shardLength(): number {
    return Math.ceil(this.source.length / (this.opts.shard?.worldSize ?? 1));
  }

  get stepsPerEpoch(): number {
    return Math.max(1, Math.floor(this.shardLength / this.batchSize));
  }

  /** Sets the image teacher's input size; only before the first batch, so no batch lacks it. */
  setImageTeacherSize(size: number | undefined): void {
    if (size === this.opts.imageTeacherSize) return;
    if (this.started)
      throw new ValueError(`BatchSampler: imageTeacherSize ${size} set after batches were drawn (with ${this.opts.imageTeacherSize})`);
    this.opts.imageTeacherSize = size;
  }

  private open(epoch: number, startBatch: number): Cursor {
    const workers = this.opts.workers ?? (this.source.datasetSpec ? 2 : 0);
    const loader = new VideoLoader({
      dataset: this.source,
      batchSize: this.batchSize,
      seed: this.seed,
      epoch,
      startBatch,
      workers,
      shard: this.opts.shard,
      // A set smaller than one batch still gives one (partial) batch per epoch.
      dropLast: this.shardLength >= this.batchSize,
      prefetch: this.opts.prefetch! * this.batchSize,
      imageTeacherSize: this.opts.imageTeacherSize,
      onBad: (r) => this.reported.set(r.file, { path: r.file, reason: r.reason }),
    });
    return { loader, it: loader[Symbol.asyncIterator](), epoch, next: startBatch };
  }

  private async take(step: number): Promise<Batch> {
    if (!Number.isInteger(step) || step < 0) throw new ValueError(`BatchSampler: step must be a non-negative integer, got ${step}`);
    this.started = true;
    const spe = this.stepsPerEpoch,
      epoch = Math.floor(step / spe),
      k = step % spe;
    let c = this.cursor;
    if (!c || c.epoch !== epoch || c.next !== k) {
      await this.closeCursor();
      c = this.cursor = this.open(epoch, k);
    }
    const r = await (c.ahead ?? c.it.next());
    c.ahead = undefined;
    if (r.done) throw new LoaderError(`BatchSampler: the loader of epoch ${epoch} ended before batch ${k}`);
    c.next++;
    if (c.next < spe) {
      c.ahead = c.it.next();
    } else {
      // The next epoch's loader starts now, so its first batch decodes during this step too.
      await c.loader.close();
      const n = this.open(epoch + 1, 0);
      n.ahead = n.it.next();
      this.cursor = n;
    }
    this.cursor!.ahead?.catch(() => {}); // observed by the step that takes it
    return r.value;
  }

  /** Batch `step` as the loader made it (u8 frames, per-row augmentation choices). */
  loaderBatch(step: number): Promise<Batch> {
    // One step at a time: the cursor moves in step order.
    const p = this.chain.then(() => this.take(step));
    this.chain = p.catch(() => {});
    return p;
  }

  async batch(step: number, select: FrameSelect = 'all'): Promise<ClipBatch> {
    return clipBatch(await this.loaderBatch(step), select, this.seed);
  }

  private async closeCursor(): Promise<void> {
    const c = this.cursor;
    this.cursor = null;
    if (c) await c.loader.close();
  }

  /** Stops the loader (and its workers). Later steps start a new one. */
  close(): Promise<void> {
    const p = this.chain.then(() => this.closeCursor());
    this.chain = p.catch(() => {});
    return p;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}

/** A batch with its masks as i32 index tensors [B, Nv] / [B, Nm]; dispose() frees them and the clips. */
export interface MaskedBatch extends ClipBatch, Disposable {
  vis: Tensor<'i32'>;
  msk: Tensor<'i32'>;
}

/** Batch `i` plus one mask per clip, keyed by (mask seed, epoch, dataset index): a resumed run sees the same ones. */
export async function maskedBatch(
  data: BatchSampler,
  i: number,
  mask: { type: MaskType; grid: TokenGrid; ratio: number; seed: number },
  select: FrameSelect = 'all',
): Promise<MaskedBatch> {
  const lb = await data.loaderBatch(i);
  const b = clipBatch(lb, select, data.seed);
  const B = b.video.shape[0];
  const m = clipMasks(mask.type, mask.grid, mask.ratio, mask.seed, lb.epoch, lb.requested);
  const vis = Tensor.fromArray(m.visible, [B, m.numVisible]);
  const msk = Tensor.fromArray(m.masked, [B, m.numMasked]);
  return {
    ...b,
    vis,
    msk,
    [Symbol.dispose]: () => {
      vis.dispose();
      msk.dispose();
      b.video.dispose();
      b.teacherVideo?.dispose();
    },
  };
}
