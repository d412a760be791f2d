import t from 'tap';
import { join } from 'node:path';
import {
  VideoLoader,
  VideoDecodeError,
  writeSyntheticSet,
  readListFile,
  SyntheticDataset,
  epochOrder,
  tokenGrid,
  type Batch,
  type DatasetSpec,
} from '../lib/data/index.js';
import { tempDir } from './helpers/data-fixtures.js';

async function collect(loader: VideoLoader): Promise<Batch[]> {
  const out: Batch[] = [];
  for await (const b of loader) out.push(b);
  return out;
}

const synth: DatasetSpec = { kind: 'synthetic', seed: 3, count: 10, frames: 4, size: 32, label: 'motion' };

t.test('loader over the in-memory synthetic set: 2 workers give the same batches as in-thread', async (t) => {
  const a = await collect(new VideoLoader({ dataset: synth, batchSize: 4, seed: 11, workers: 2 }));
  const b = await collect(new VideoLoader({ dataset: synth, batchSize: 4, seed: 11, workers: 0 }));
  t.equal(a.length, 3);
  t.same(
    a.map((x) => x.shape),
    [
      [4, 4, 32, 32, 3],
      [4, 4, 32, 32, 3],
      [2, 4, 32, 32, 3],
    ],
  );
  const order = Array.from(epochOrder(10, 11, 0));
  t.same(
    a.flatMap((x) => Array.from(x.indices)),
    order,
    'order fixed by the seed',
  );
  for (let i = 0; i < a.length; i++) {
    t.ok(Buffer.from(a[i].frames).equals(Buffer.from(b[i].frames)), `batch ${i}: same bytes`);
    t.same(a[i].labels, b[i].labels);
  }
  const ds = new SyntheticDataset({ seed: 3, count: 10, frames: 4, size: 32, label: 'motion' });
  const first = ds.getSync(order[0]);
  t.ok(Buffer.from(a[0].frames.subarray(0, first.frames.length)).equals(Buffer.from(first.frames)));
  t.equal(a[0].labels[0], first.labels!.motion);
  t.equal(a[0].labelSets!.appearance[0], first.labels!.appearance);
  const other = await collect(new VideoLoader({ dataset: synth, batchSize: 4, seed: 11, epoch: 1, workers: 0, dropLast: true }));
  t.equal(other.length, 2);
  t.notSame(
    other.flatMap((x) => Array.from(x.indices)),
    order.slice(0, 8),
    'another epoch, another order',
  );
});

t.test('loader over mp4 files with 2 workers: reproducible bytes, bounded prefetch, masks, bad videos', async (t) => {
  const dir = tempDir(t);
  await writeSyntheticSet({ outDir: dir, videos: 12, frames: 24, size: 64, seed: 1, valFraction: 0 });
  const items = await readListFile(join(dir, 'appearance_train.txt'));
  t.equal(items.length, 12);
  items.splice(5, 0, { path: join(dir, 'missing.mp4'), label: 0 });
  const dataset: DatasetSpec = { kind: 'videos', items, transform: { kind: 'pretrain', numFrames: 4, stride: 4, size: 32 } };
  const mask = { type: 'tube' as const, ratio: 0.9, grid: tokenGrid(4, 32, 16, 2) };
  const run = async (slowMs: number) => {
    const loader = new VideoLoader({ dataset, batchSize: 3, seed: 7, workers: 2, prefetch: 4, mask });
    const batches: Batch[] = [];
    for await (const b of loader) {
      t.ok(loader.stats.dispatched - loader.stats.delivered <= 4, 'no more than prefetch samples in flight');
      batches.push(b);
      if (slowMs) await new Promise((r) => setTimeout(r, slowMs));
    }
    t.ok(loader.stats.maxOutstanding <= 4, `max outstanding ${loader.stats.maxOutstanding} <= 4`);
    return { batches, bad: loader.badVideos };
  };
  const a = await run(0),
    b = await run(60);
  t.equal(a.batches.length, 5);
  t.same(a.batches[0].shape, [3, 4, 32, 32, 3]);
  t.equal(a.batches[0].mask!.visible.length, 3 * 2);
  t.equal(a.batches[0].mask!.masked.length, 3 * 6);
  for (let i = 0; i < a.batches.length; i++) {
    t.ok(Buffer.from(a.batches[i].frames).equals(Buffer.from(b.batches[i].frames)), `batch ${i}: same bytes whatever the timing`);
    t.same(a.batches[i].indices, b.batches[i].indices);
    t.same(a.batches[i].mask, b.batches[i].mask);
  }
  t.equal(a.bad.length, 1, 'the missing file is reported once');
  t.equal(a.bad[0].file, join(dir, 'missing.mp4'));
  t.match(a.bad[0].reason, /not found/);
  const seen = a.batches.flatMap((x) => Array.from(x.indices));
  t.notOk(seen.includes(5), 'the bad index was substituted');

  // Policy fail: the error surfaces from the worker with file and reason.
  const failing = new VideoLoader({ dataset: { ...dataset, onBadVideo: 'fail' }, batchSize: 13, seed: 7, workers: 2 });
  const err = await collect(failing).then(
    () => null,
    (e: unknown) => e,
  );
  t.ok(err instanceof VideoDecodeError, 'VideoDecodeError from the worker');
  t.equal((err as VideoDecodeError).file, join(dir, 'missing.mp4'));

  // Breaking out early shuts the workers down.
  const early = new VideoLoader({ dataset, batchSize: 2, seed: 1, workers: 2 });
  for await (const _b of early) break;
  await t.rejects(collect(early), { message: /closed|already/ });
});

t.test('loader: await using disposes the workers', async (t) => {
  {
    await using loader = new VideoLoader({ dataset: synth, batchSize: 5, workers: 2 });
    const it = loader[Symbol.asyncIterator]();
    const first = await it.next();
    t.same((first.value as Batch).shape, [5, 4, 32, 32, 3]);
  }
  t.pass('disposed without hanging');
});
