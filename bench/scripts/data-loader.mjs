// The loader tables: bench/data-notes.md (pretraining clips, one row per workers × tasks per worker)
// and bench/NOTES.md "Augmentation" (pretraining against fine-tuning clips with RandAugment).
// Each row is one benchData call (lib/bench/data.ts, what `mvd bench data` runs with its defaults).
// Needs the compiled TypeScript (`npm run build`).
//   node bench/scripts/data-loader.mjs --video ../shared/data/videos/demo.mp4 --clips 64 --grid 2x2,2x1,2x3
//   node bench/scripts/data-loader.mjs --video ../shared/data/videos/demo.mp4 --clips 32 --augment
// Without --video, 4 synthetic mp4 clips are written to a temporary folder and sampled.
import { parseArgs } from 'node:util';
import { pathToFileURL } from 'node:url';
import { resolve } from 'node:path';

const dist = resolve(process.env.DIST ?? new URL('../../dist', import.meta.url).pathname);
const { benchData } = await import(pathToFileURL(`${dist}/bench/data.js`).href);
const { fmt, table } = await import(pathToFileURL(`${dist}/bench/timing.js`).href);

const { values } = parseArgs({
  options: {
    video: { type: 'string' },
    clips: { type: 'string', default: '64' },
    batch: { type: 'string', default: '8' },
    grid: { type: 'string', default: '2x2' },
    augment: { type: 'boolean' },
  },
});
const int = (name, text) => {
  const x = Number(text);
  if (!Number.isInteger(x) || x < 1) throw new Error(`--${name}: a positive integer (got '${text}')`);
  return x;
};
const clips = int('clips', values.clips),
  batchSize = int('batch', values.batch);
// "WxT": W workers, T clips decoded at once per worker.
const grid = values.grid.split(',').map((cell) => {
  const m = /^(\d+)x(\d+)$/.exec(cell);
  if (!m) throw new Error(`--grid: workers x tasks per worker, comma-separated, e.g. 2x2,2x1 (got '${cell}')`);
  return [int('grid workers', m[1]), int('grid tasks per worker', m[2])];
});
const videos = values.video ? [resolve(values.video)] : undefined;

if (values.augment) {
  const [workers, tasksPerWorker] = grid[0];
  const rows = [];
  for (const augment of [false, true]) {
    const r = await benchData({ videos, clips, batchSize, workers, tasksPerWorker, augment });
    rows.push([
      augment ? 'finetune + RandAugment' : 'pretrain (multi-scale crop)',
      fmt(r.clipsPerSec, 2),
      fmt(r.msPerBatch, 0),
      r.consumerMsPerBatch === undefined ? '—' : `${fmt(r.consumerMsPerBatch, 0)} ms`,
    ]);
  }
  console.log(
    table(
      ['transform', 'clips/s', `ms per batch of ${batchSize}`, 'consumer: finetuneClips per batch (normalise + erasing, main thread)'],
      rows,
    ),
  );
} else {
  const rows = [];
  for (const [workers, tasksPerWorker] of grid) {
    const r = await benchData({ videos, clips, batchSize, workers, tasksPerWorker });
    rows.push([workers, tasksPerWorker, fmt(r.clipsPerSec), fmt(r.framesPerSec, 0), fmt(r.msPerBatch, 0)]);
  }
  console.log(table(['workers', 'tasks per worker', 'clips/s', 'sampled frames/s', `ms per batch of ${batchSize}`], rows));
}
