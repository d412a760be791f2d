// The clip loader: runs ahead of training in worker threads with bounded memory and yields
// batches of u8 frames in an order fixed by the seed. Samples are dispatched in order and
// reassembled by position, each drawing its randomness from (seed, epoch, dataset index), so the
// bytes of every batch are the same whatever the number of workers or their timing.
import { Worker } from 'node:worker_threads';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import location from '../module-location.cjs';
import { MvdError, ValueError } from '../errors.js';
import { mixupCutmixParams, type MixParams } from './augment.js';
import { clipMasks, type BatchMask, type MaskType, type TokenGrid } from './masking.js';
import { Rng, deriveSeed } from './rng.js';
import { createDataset } from './source.js';
import type { BadVideoPolicy, BadVideoReport, ClipMeta, ClipSample, ClipSource, DatasetSpec, SkippedVideo } from './types.js';
import { VideoDecodeError } from './video.js';
import { NoUsableVideosError, checkBadVideoPolicy } from './bad-videos.js';

/** Which part of every epoch this loader reads: rank `rank` of `worldSize` (distributed training). */
export interface Shard {
  rank: number;
  worldSize: number;
}

/**
 * Options of VideoLoader: one epoch of one dataset, its batching, order, workers and what each batch carries.
 */
export interface LoaderOptions {
  /**
   * What to load: a plain description (rebuilt in each worker), or a source object. An object
   * runs in worker threads through its datasetSpec(), or in this thread when it has none or
   * `workers` is 0 (the in-memory synthetic set: rendered natively, cheap).
   */
  dataset: DatasetSpec | ClipSource;
  /** Videos per batch (each yields `views` rows: repeated augmentation or test views). */
  batchSize: number;
  seed?: number;
  /** Changes the shuffle and every sample's augmentation; same (seed, epoch) → same batches. */
  epoch?: number;
  shuffle?: boolean;
  /** Drop a final partial batch (default false). */
  dropLast?: boolean;
  /** First batch of the epoch to load (a resumed run): batches before it are neither decoded nor yielded. */
  startBatch?: number;
  /**
   * Rank `rank` of `worldSize` takes epoch positions rank, rank + worldSize, …; every rank gets
   * ceil(n / worldSize) of them, the last ones wrapping to the start of the order (as PyTorch's
   * DistributedSampler pads), so all ranks run the same number of batches.
   */
  shard?: Shard;
  /** Worker threads (default 2); 0 loads in this thread (still asynchronous: ffmpeg runs in child processes). */
  workers?: number;
  /** Samples decoded at once per worker (default 2; decoding mostly waits on ffmpeg). */
  tasksPerWorker?: number;
  /** Most samples dispatched and not yet handed out (default 2 × batchSize); at least batchSize. */
  prefetch?: number;
  /** Also draw token masks, one per clip keyed by (seed, epoch, dataset index, view) ([B·views, N] index arrays). */
  mask?: { type: MaskType; ratio: number; grid: TokenGrid };
  /**
   * The image teacher's input size when it differs from the student's (SPEC §3.1: 196 for a
   * ViT-H/14 teacher with a 224 student). Sets `imageTeacherSize` on the dataset (pretraining
   * transform or synthetic set); batches then carry `teacherFrames`.
   */
  imageTeacherSize?: number;
  /** Also draw Mixup/CutMix parameters per batch (fine-tuning); apply them with mixupCutmix(clips, labels, { params }). */
  mixup?: { mixupAlpha?: number; cutmixAlpha?: number; prob?: number; switchProb?: number };
  /** Overrides the dataset spec's bad-video policy ('skip' by default). */
  onBadVideo?: BadVideoPolicy;
  /** Called on the main thread once per bad file (policy 'skip'), however many workers met it. */
  onBad?: (r: BadVideoReport) => void;
}

/**
 * One batch as yielded: u8 frames, not yet normalised (framesToClip / finetuneClips do that), labels,
 * the indices that key its random choices, and optional masks, Mixup/CutMix draw and teacher input.
 */
export interface Batch {
  /** u8 rgb24 [B·V, T, H, W, 3]; rows b·V … b·V+V−1 come from video b. */
  frames: Uint8Array;
  shape: number[];
  /** [B·V] labels, repeated over each video's views. */
  labels: Int32Array;
  /** [B] dataset indices actually loaded. */
  indices: Int32Array;
  /** [B] dataset indices the epoch order asked for: with `epoch`, the keys of every random choice. */
  requested: Int32Array;
  epoch: number;
  /** Views per video (1 for pretraining, numSample for repeated augmentation, clips×crops at test). */
  views: number;
  /** Batch number within the epoch. */
  batch: number;
  /** Per-video extra labels (e.g. the synthetic set's appearance and motion). */
  labelSets?: Record<string, Int32Array>;
  /** Augmentation choices per row. */
  meta?: (ClipMeta | undefined)[];
  mask?: BatchMask;
  mix?: MixParams;
  /** u8 [B·V, T, S, S, 3]: the image teacher's input (imageTeacherSize), same frames and crops. */
  teacherFrames?: Uint8Array;
  teacherShape?: number[];
  bad: BadVideoReport[];
}

/**
 * Sample counters of a VideoLoader (dispatched to workers, delivered in batches, bad videos), for tests and logs.
 */
export interface LoaderStats {
  dispatched: number;
  delivered: number;
  /** Largest number of samples dispatched and not yet handed out, seen so far. */
  maxOutstanding: number;
  badVideos: number;
}

/** A failure inside a loader worker that was not a bad video. */
export class LoaderError extends MvdError {}

interface Backend {
  run(index: number, seed: number): Promise<ClipSample>;
  close(): Promise<void>;
}

/**
 * The worker entry sits next to this module: loader-worker.js in dist/, loader-worker.ts when the
 * sources run through a TypeScript loader (tests); the worker inherits this thread's execArgv, so
 * the same loader applies to it.
 */
function workerUrl(): URL {
  // From module-location, not import.meta.url, which the CommonJS build (dist/cjs/) cannot parse.
  return pathToFileURL(join(location.libDir, 'data', `loader-worker${location.moduleExt}`));
}

/** What a worker posts for a failed task: enough to rebuild the typed bad-video errors here. */
export interface WorkerError {
  name: string;
  message: string;
  stack?: string;
  file?: string;
  reason?: string;
  total?: number;
  skippedVideos?: SkippedVideo[];
}

function errorFromWorker(e: WorkerError): Error {
  if (e.file !== undefined && e.reason !== undefined) return new VideoDecodeError(e.file, e.reason, e.message);
  if (e.skippedVideos !== undefined && e.total !== undefined) return new NoUsableVideosError('VideoLoader', e.total, e.skippedVideos);
  const err = new LoaderError(`loader worker failed: ${e.name}: ${e.message}`);
  if (e.stack) err.stack = `${err.name}: ${err.message}\n  worker stack:\n${e.stack}`;
  return err;
}

class WorkerPool implements Backend {
  private busy = 0;
  private readonly workers: { w: Worker; load: number }[] = [];
  private readonly pending = new Map<number, { resolve: (s: ClipSample) => void; reject: (e: Error) => void; worker: number }>();
  private nextId = 0;
  private closed = false;

  constructor(spec: DatasetSpec, count: number, concurrency: number) {
    for (let i = 0; i < count; i++) {
      const w = new Worker(workerUrl(), { workerData: { spec, concurrency } });
      const slot = { w, load: 0 };
      w.on('message', (m: { type: string; id: number; sample?: ClipSample; error?: WorkerError }) => {
        if (m.type === 'ready') return;
        const p = this.pending.get(m.id);
        if (!p) return;
        this.pending.delete(m.id);
        slot.load--;
        this.settled();
        if (m.type === 'result') p.resolve(m.sample!);
        else p.reject(errorFromWorker(m.error!));
      });
      // A worker that dies takes its tasks with it: fail them rather than hang.
      const fail = (e: Error) => {
        for (const [id, p] of this.pending)
          if (p.worker === i) {
            this.pending.delete(id);
            this.settled();
            p.reject(e);
          }
      };
      w.on('error', (e) => fail(new LoaderError(`loader worker ${i} crashed: ${e.message}`)));
      w.on('exit', (code) => {
        if (!this.closed) fail(new LoaderError(`loader worker ${i} exited with code ${code}`));
      });
      // Idle workers must not keep the process alive: a run that ends without closing its
      // loader (prefetch for a step that never comes) still exits once the work in flight is done.
      w.unref();
      this.workers.push(slot);
    }
  }

  private settled(): void {
    if (--this.busy === 0) for (const s of this.workers) s.w.unref();
  }

  run(index: number, seed: number): Promise<ClipSample> {
    if (this.closed) return Promise.reject(new LoaderError('loader is closed'));
    let best = 0;
    for (let i = 1; i < this.workers.length; i++) if (this.workers[i].load < this.workers[best].load) best = i;
    const id = this.nextId++;
    const slot = this.workers[best];
    slot.load++;
    if (this.busy++ === 0) for (const s of this.workers) s.w.ref();
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject, worker: best });
      slot.w.postMessage({ type: 'task', id, index, seed });
    });
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const [, p] of this.pending) p.reject(new LoaderError('loader closed'));
    this.pending.clear();
    this.busy = 0;
    await Promise.all(this.workers.map((s) => s.w.terminate()));
  }
}

class InThread implements Backend {
  constructor(private readonly ds: ClipSource) {}
  run(index: number, seed: number): Promise<ClipSample> {
    return this.ds.get(index, seed);
  }
  async close(): Promise<void> {}
}

function isSource(d: DatasetSpec | ClipSource): d is ClipSource {
  return typeof (d as ClipSource).get === 'function';
}

function datasetLength(d: DatasetSpec | ClipSource): number {
  if (isSource(d)) return d.length;
  return d.kind === 'videos' ? d.items.length : d.count;
}

function checkShard(shard: Shard | undefined): Shard {
  if (shard === undefined) return { rank: 0, worldSize: 1 };
  const { rank, worldSize } = shard;
  if (!Number.isInteger(worldSize) || worldSize < 1) throw new ValueError(`shard.worldSize must be a positive integer, got ${worldSize}`);
  if (!Number.isInteger(rank) || rank < 0 || rank >= worldSize)
    throw new ValueError(`shard.rank must be an integer in [0, ${worldSize}), got ${rank}`);
  return shard;
}

/**
 * This shard's part of an epoch order: positions rank, rank + worldSize, …, ceil(n / worldSize)
 * of them, wrapping past the end so every rank has as many.
 */
export function shardOrder(order: Int32Array, shard: Shard): Int32Array {
  const { rank, worldSize } = checkShard(shard);
  if (worldSize === 1) return order;
  const n = order.length,
    out = new Int32Array(Math.ceil(n / worldSize));
  for (let j = 0; j < out.length; j++) out[j] = order[(j * worldSize + rank) % n];
  return out;
}

function sourceWithImageTeacher(src: ClipSource, size: number): ClipSource {
  if (!src.withImageTeacherSize)
    throw new ValueError(`imageTeacherSize ${size}: this source cannot give the image teacher's input (it has no withImageTeacherSize)`);
  return src.withImageTeacherSize(size);
}

/** The dataset spec with the image teacher's size set where it applies. */
export function withImageTeacherSize(spec: DatasetSpec, size: number | undefined): DatasetSpec {
  if (size === undefined) return spec;
  if (!Number.isInteger(size) || size <= 0) throw new ValueError(`imageTeacherSize must be a positive integer, got ${size}`);
  if (spec.kind === 'synthetic') return { ...spec, imageTeacherSize: size };
  if (spec.transform.kind !== 'pretrain')
    throw new ValueError(`imageTeacherSize applies to the pretraining transform, not '${spec.transform.kind}'`);
  return { ...spec, transform: { ...spec.transform, imageTeacherSize: size } };
}

/** The per-sample seed: a function of (seed, epoch, dataset index) only. */
export function sampleSeed(seed: number, epoch: number, index: number): number {
  return deriveSeed(seed, epoch, index, 0xc11b);
}

/** The order in which an epoch visits the dataset. */
export function epochOrder(length: number, seed: number, epoch: number, shuffle = true): Int32Array {
  const order = new Int32Array(length);
  for (let i = 0; i < length; i++) order[i] = i;
  return shuffle ? new Rng(seed, epoch, 0x0d3e).shuffle(order) : order;
}

/**
 * Batches of one epoch, decoded ahead in worker threads and yielded in epoch order. Iterate it once
 * (one loader per epoch); ending or leaving the loop stops the workers, close() covers the rest.
 */
export class VideoLoader implements AsyncIterable<Batch>, AsyncDisposable {
  readonly length: number;
  readonly stats: LoaderStats = { dispatched: 0, delivered: 0, maxOutstanding: 0, badVideos: 0 };
  /** Every bad video reported so far, once per file. */
  readonly badVideos: BadVideoReport[] = [];
  private readonly reported = new Set<string>();
  private readonly opts: Required<
    Pick<LoaderOptions, 'batchSize' | 'seed' | 'epoch' | 'shuffle' | 'dropLast' | 'prefetch' | 'startBatch' | 'shard'>
  > &
    LoaderOptions;
  private backend: Backend | null = null;
  private closed = false;
  private iterating = false;

  constructor(opts: LoaderOptions) {
    const batchSize = opts.batchSize;
    if (!Number.isInteger(batchSize) || batchSize <= 0) throw new ValueError(`batchSize must be a positive integer, got ${batchSize}`);
    const prefetch = Math.max(batchSize, opts.prefetch ?? 2 * batchSize);
    const startBatch = opts.startBatch ?? 0;
    if (!Number.isInteger(startBatch) || startBatch < 0)
      throw new ValueError(`startBatch must be a non-negative integer, got ${startBatch}`);
    const shard = checkShard(opts.shard);
    this.opts = {
      ...opts,
      batchSize,
      seed: opts.seed ?? 0,
      epoch: opts.epoch ?? 0,
      shuffle: opts.shuffle ?? true,
      dropLast: opts.dropLast ?? false,
      prefetch,
      startBatch,
      shard,
    };
    const n = Math.ceil(datasetLength(opts.dataset) / shard.worldSize);
    this.length = this.opts.dropLast ? Math.floor(n / batchSize) : Math.ceil(n / batchSize);
    if (startBatch > this.length) throw new ValueError(`startBatch ${startBatch} is past the epoch's ${this.length} batches`);
  }

  private start(): Backend {
    if (this.closed) throw new LoaderError('loader is closed');
    if (!this.backend) {
      const d = this.opts.dataset;
      const workers = this.opts.workers ?? 2;
      if (!Number.isInteger(workers) || workers < 0) throw new ValueError(`workers must be a non-negative integer, got ${workers}`);
      if (isSource(d) && (workers === 0 || !d.datasetSpec)) {
        if (this.opts.onBadVideo !== undefined)
          throw new ValueError('onBadVideo: set the policy on the source object itself, not on the loader');
        this.backend = new InThread(this.opts.imageTeacherSize === undefined ? d : sourceWithImageTeacher(d, this.opts.imageTeacherSize));
        return this.backend;
      }
      // Parallelism comes from the workers; one decoder thread per ffmpeg keeps 2 workers from
      // oversubscribing a small machine.
      let spec: DatasetSpec = isSource(d) ? d.datasetSpec!() : d;
      if (spec.kind === 'videos' && spec.decodeThreads === undefined && workers > 0) spec = { ...spec, decodeThreads: 1 };
      if (spec.kind === 'videos' && this.opts.onBadVideo !== undefined)
        spec = { ...spec, onBadVideo: checkBadVideoPolicy(this.opts.onBadVideo, 'VideoLoader') };
      spec = withImageTeacherSize(spec, this.opts.imageTeacherSize);
      this.backend = workers > 0 ? new WorkerPool(spec, workers, this.opts.tasksPerWorker ?? 2) : new InThread(createDataset(spec));
    }
    return this.backend;
  }

  async *[Symbol.asyncIterator](): AsyncGenerator<Batch> {
    if (this.iterating) throw new LoaderError('this loader is already being iterated; make one loader per epoch');
    this.iterating = true;
    const backend = this.start();
    const { batchSize: B, seed, epoch, prefetch, startBatch } = this.opts;
    const order = shardOrder(epochOrder(datasetLength(this.opts.dataset), seed, epoch, this.opts.shuffle), this.opts.shard);
    const total = Math.min(order.length, this.length * B);
    const results = new Map<number, Promise<ClipSample>>();
    let dispatched = startBatch * B,
      consumed = dispatched;
    const fill = () => {
      while (dispatched < total && dispatched - consumed < prefetch) {
        const idx = order[dispatched];
        const p = backend.run(idx, sampleSeed(seed, epoch, idx));
        p.catch(() => {}); // observed when its batch is assembled
        results.set(dispatched, p);
        dispatched++;
        this.stats.dispatched++;
        this.stats.maxOutstanding = Math.max(this.stats.maxOutstanding, dispatched - consumed);
      }
    };
    try {
      for (let b = startBatch; b < this.length; b++) {
        fill();
        const lo = b * B,
          hi = Math.min(lo + B, total);
        const samples: ClipSample[] = [];
        for (let p = lo; p < hi; p++) {
          samples.push(await results.get(p)!);
          results.delete(p);
        }
        const batch = this.assemble(samples, order.subarray(lo, hi), b);
        consumed = hi;
        this.stats.delivered += samples.length;
        // Refill before handing the batch out, so decoding overlaps the consumer's step.
        fill();
        yield batch;
      }
    } finally {
      this.iterating = false;
      await this.close();
    }
  }

  private assemble(samples: ClipSample[], requested: Int32Array, b: number): Batch {
    const V = samples[0].shape[0];
    const clipShape = samples[0].shape.slice(1);
    const clipBytes = clipShape.reduce((a, x) => a * x, 1);
    for (const s of samples)
      if (s.shape.length !== 5 || s.shape[0] !== V || s.shape.slice(1).some((d, k) => d !== clipShape[k]))
        throw new LoaderError(`sample ${s.index} has shape [${s.shape.join(',')}], expected [${V},${clipShape.join(',')}]`);
    const frames = new Uint8Array(samples.length * V * clipBytes);
    const labels = new Int32Array(samples.length * V);
    const indices = new Int32Array(samples.length);
    const bad: BadVideoReport[] = [];
    const meta: (ClipMeta | undefined)[] = [];
    const setNames = Object.keys(samples[0].labels ?? {});
    const labelSets: Record<string, Int32Array> = {};
    for (const k of setNames) labelSets[k] = new Int32Array(samples.length);
    samples.forEach((s, i) => {
      frames.set(s.frames, i * V * clipBytes);
      labels.fill(s.label, i * V, (i + 1) * V);
      indices[i] = s.index;
      for (const k of setNames) labelSets[k][i] = s.labels?.[k] ?? -1;
      for (let v = 0; v < V; v++) meta.push(s.meta?.[v]);
      for (const r of s.bad) {
        // Each worker remembers its own bad files: two workers may both meet one.
        if (this.reported.has(r.file)) continue;
        this.reported.add(r.file);
        bad.push(r);
        this.badVideos.push(r);
        this.stats.badVideos++;
        this.opts.onBad?.(r);
      }
    });
    const { seed, epoch } = this.opts;
    const batch: Batch = {
      frames,
      shape: [samples.length * V, ...clipShape],
      labels,
      indices,
      requested: Int32Array.from(requested),
      epoch,
      views: V,
      batch: b,
      meta,
      bad,
    };
    if (samples[0].teacherFrames && samples[0].teacherShape) {
      const tShape = samples[0].teacherShape.slice(1),
        tBytes = tShape.reduce((a, x) => a * x, 1);
      const tf = new Uint8Array(samples.length * V * tBytes);
      samples.forEach((s, i) => {
        if (!s.teacherFrames || s.teacherFrames.length !== V * tBytes)
          throw new LoaderError(`sample ${s.index} has no image-teacher frames of shape [${V},${tShape.join(',')}]`);
        tf.set(s.teacherFrames, i * V * tBytes);
      });
      batch.teacherFrames = tf;
      batch.teacherShape = [samples.length * V, ...tShape];
    }
    if (setNames.length) batch.labelSets = labelSets;
    if (this.opts.mask) {
      const m = this.opts.mask;
      batch.mask = clipMasks(m.type, m.grid, m.ratio, seed, epoch, requested, V);
    }
    if (this.opts.mixup) {
      const [, , H, W] = clipShape;
      batch.mix = mixupCutmixParams(W, H, new Rng(seed, epoch, b, 0x31c), this.opts.mixup);
    }
    return batch;
  }

  /** The bad videos left out so far, once per file. */
  get skippedVideos(): SkippedVideo[] {
    return this.badVideos.map((r) => ({ path: r.file, reason: r.reason }));
  }

  /** Stops the workers; pending samples are dropped. Safe to call twice. */
  async close(): Promise<void> {
    this.closed = true;
    const b = this.backend;
    this.backend = null;
    if (b) await b.close();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}

/** `for await (const batch of createLoader({...}))`; one loader per epoch (it closes when iterated). */
export function createLoader(opts: LoaderOptions): VideoLoader {
  return new VideoLoader(opts);
}
