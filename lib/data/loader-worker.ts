// Entry of a loader worker thread (lib/data/loader.ts). It rebuilds the dataset from its plain
// description, then serves {id, index, seed} tasks, a few at a time (decoding mostly waits on
// ffmpeg child processes), and posts each clip back with its frame buffer transferred.
import { parentPort, workerData } from 'node:worker_threads';
import { createDataset } from './source.js';
import type { DatasetSpec } from './types.js';
import { VideoDecodeError } from './video.js';
import { NoUsableVideosError } from './bad-videos.js';
import type { WorkerError } from './loader.js';

interface Task {
  id: number;
  index: number;
  seed: number;
}

const port = parentPort;
if (!port) throw new Error('loader-worker.js must run in a worker thread');
const { spec, concurrency } = workerData as { spec: DatasetSpec; concurrency: number };
const dataset = createDataset(spec);
const queue: Task[] = [];
let running = 0;

function pump(): void {
  while (running < concurrency && queue.length) {
    const task = queue.shift()!;
    running++;
    dataset
      .get(task.index, task.seed)
      .then(
        (sample) => {
          const buf = sample.frames.buffer as ArrayBuffer;
          // A view into a larger or pooled buffer cannot be transferred safely: copy it out once.
          const own = sample.frames.byteOffset === 0 && sample.frames.byteLength === buf.byteLength ? sample.frames : sample.frames.slice();
          port!.postMessage({ type: 'result', id: task.id, sample: { ...sample, frames: own } }, [own.buffer as ArrayBuffer]);
        },
        (e: unknown) => {
          const err = e as Error;
          const error: WorkerError = {
            name: err?.name ?? 'Error',
            message: err?.message ?? String(e),
            stack: err?.stack,
            file: e instanceof VideoDecodeError ? e.file : undefined,
            reason: e instanceof VideoDecodeError ? e.reason : undefined,
            total: e instanceof NoUsableVideosError ? e.total : undefined,
            skippedVideos: e instanceof NoUsableVideosError ? [...e.skippedVideos] : undefined,
          };
          port!.postMessage({ type: 'error', id: task.id, error });
        },
      )
      .finally(() => {
        running--;
        pump();
      });
  }
}

port.on('message', (m: { type: string } & Task) => {
  if (m.type === 'task') {
    queue.push({ id: m.id, index: m.index, seed: m.seed });
    pump();
  }
});
port.postMessage({ type: 'ready' });
