// Loader throughput: clips/s of 16×224² pretraining clips (16 frames at stride 4, multi-scale
// corner crop, bilinear to 224) decoded from mp4 by the worker-thread loader (`mvd bench data`).
// Timing starts after the first batch, so worker start-up is excluded.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { VideoLoader } from '../data/loader.js';
import { probeVideo } from '../data/video.js';
import { writeSyntheticSet } from '../data/synthetic.js';

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
}

export async function benchData(opts: BenchDataOptions = {}): Promise<BenchDataResult> {
  let tmp: string | null = null;
  let videos = opts.videos;
  if (!videos) {
    tmp = mkdtempSync(join(tmpdir(), 'mvd-bench-data-'));
    const w = await writeSyntheticSet({ outDir: tmp, videos: 4, frames: 64, size: 256, seed: 1, valFraction: 0 });
    videos = Array.from({ length: w.videos }, (_, i) => join(tmp!, 'videos', `clip_${String(i).padStart(6, '0')}.mp4`));
  }
  const clips = opts.clips ?? 64, B = opts.batchSize ?? 8, workers = opts.workers ?? 2;
  const size = opts.size ?? 224, nf = opts.numFrames ?? 16, stride = opts.stride ?? 4, tpw = opts.tasksPerWorker ?? 2;
  const total = clips + B;
  const items = Array.from({ length: total }, (_, i) => ({ path: videos[i % videos.length], label: 0 }));
  const infos = await Promise.all(videos.map((v) => probeVideo(v)));
  const t0 = performance.now();
  const loader = new VideoLoader({
    dataset: { kind: 'videos', items, transform: { kind: 'pretrain', numFrames: nf, stride, size } },
    batchSize: B, seed: 1, workers, tasksPerWorker: tpw, prefetch: 2 * B, dropLast: true,
  });
  let tStart = 0, n = 0, batches = 0;
  for await (const b of loader) {
    if (!tStart) {
      tStart = performance.now();
      continue;
    }
    n += b.shape[0];
    batches++;
  }
  const sec = (performance.now() - tStart) / 1000;
  if (tmp) rmSync(tmp, { recursive: true, force: true });
  return {
    clipsPerSec: n / sec, framesPerSec: (n * nf) / sec, msPerBatch: (sec * 1000) / batches, clips: n, batchSize: B, workers,
    tasksPerWorker: tpw, clip: [nf, size, size, 3],
    source: infos.map(({ path, width, height, fps, frameCount, codec }) => ({ path, width, height, fps, frameCount, codec })),
    startupMs: tStart - t0,
  };
}
