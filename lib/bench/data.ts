// Loader throughput: clips/s of 16×224² pretraining clips (16 frames at stride 4, multi-scale
// corner crop, bilinear to 224) decoded from mp4 by the worker-thread loader (`mvd bench data`).
// Timing starts after the first batch, so worker start-up is excluded. With `augment`, the same
// for fine-tuning clips (dense sampling, random-resized crop, flip, RandAugment m7-n4 applied in the
// workers, numSample views per video), plus the consumer-side cost of finetuneClips (normalise +
// random erasing on the batch), timed separately on the main thread.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { VideoLoader, type Batch } from '../data/loader.js';
import { probeVideo } from '../data/video.js';
import { writeSyntheticSet } from '../data/synthetic.js';
import { finetuneClips } from '../data/augment.js';
import type { ClipTransform } from '../data/types.js';

export interface BenchDataOptions {
  /** Videos to sample from (cycled); default: 4 synthetic 64-frame 320×256-ish mp4 clips written to a temp dir. */
  videos?: string[];
  /** Clips to time (after the first batch). Default 64. */
  clips?: number;
  workers?: number;
  batchSize?: number;
  /** Samples decoded at once per worker. */
  tasksPerWorker?: number;
  size?: number;
  numFrames?: number;
  stride?: number;
  /** Fine-tuning clips with augmentation instead of pretraining clips. */
  augment?: boolean;
  /** Views per video with `augment` (repeated augmentation; default 2 as in MVD fine-tuning). */
  numSample?: number;
}

export interface BenchDataResult {
  clipsPerSec: number;
  framesPerSec: number;
  msPerBatch: number;
  clips: number;
  batchSize: number;
  workers: number;
  tasksPerWorker: number;
  clip: [number, number, number, number];
  source: { path: string; width: number; height: number; fps: number; frameCount: number; codec: string }[];
  startupMs: number;
  transform: 'pretrain' | 'finetune';
  /** With `augment`: finetuneClips (u8 → normalised f32 + erasing) per batch on the main thread. */
  consumerMsPerBatch?: number;
}

export async function benchData(opts: BenchDataOptions = {}): Promise<BenchDataResult> {
  let tmp: string | null = null;
  let videos = opts.videos;
  if (!videos) {
    tmp = mkdtempSync(join(tmpdir(), 'mvd-bench-data-'));
    const w = await writeSyntheticSet({ outDir: tmp, videos: 4, frames: 64, size: 256, seed: 1, valFraction: 0 });
    videos = Array.from({ length: w.videos }, (_, i) => join(tmp!, 'videos', `clip_${String(i).padStart(6, '0')}.mp4`));
  }
  const clips = opts.clips ?? 64,
    B = opts.batchSize ?? 8,
    workers = opts.workers ?? 2;
  const size = opts.size ?? 224,
    nf = opts.numFrames ?? 16,
    stride = opts.stride ?? 4,
    tpw = opts.tasksPerWorker ?? 2;
  const total = clips + B;
  const items = Array.from({ length: total }, (_, i) => ({ path: videos[i % videos.length], label: 0 }));
  const infos = await Promise.all(videos.map((v) => probeVideo(v)));
  const t0 = performance.now();
  const V = opts.augment ? (opts.numSample ?? 2) : 1;
  const transform: ClipTransform = opts.augment
    ? { kind: 'finetune', sampling: 'dense', numFrames: nf, stride, size, numSample: V }
    : { kind: 'pretrain', numFrames: nf, stride, size };
  // Batches count clips: B/V videos of V views each.
  const videosPerBatch = Math.max(1, Math.round(B / V));
  const loader = new VideoLoader({
    dataset: { kind: 'videos', items: items.slice(0, Math.ceil(total / V)), transform },
    batchSize: videosPerBatch,
    seed: 1,
    workers,
    tasksPerWorker: tpw,
    prefetch: 2 * videosPerBatch,
    dropLast: true,
  });
  let tStart = 0,
    n = 0,
    batches = 0;
  let last: Batch | undefined;
  for await (const b of loader) {
    last = b;
    if (!tStart) {
      tStart = performance.now();
      continue;
    }
    n += b.shape[0];
    batches++;
  }
  const sec = (performance.now() - tStart) / 1000;
  let consumerMsPerBatch: number | undefined;
  if (opts.augment && last) {
    const reps = 3;
    const t1 = performance.now();
    for (let r = 0; r < reps; r++) {
      const clips = finetuneClips(last);
      await clips.toArray();
      clips.dispose();
    }
    consumerMsPerBatch = (performance.now() - t1) / reps;
  }
  if (tmp) rmSync(tmp, { recursive: true, force: true });
  return {
    clipsPerSec: n / sec,
    framesPerSec: (n * nf) / sec,
    msPerBatch: (sec * 1000) / batches,
    clips: n,
    batchSize: B,
    workers,
    tasksPerWorker: tpw,
    clip: [nf, size, size, 3],
    source: infos.map(({ path, width, height, fps, frameCount, codec }) => ({ path, width, height, fps, frameCount, codec })),
    startupMs: tStart - t0,
    transform: opts.augment ? 'finetune' : 'pretrain',
    consumerMsPerBatch,
  };
}
