// A shard (rank, worldSize) splits each epoch's order: the ranks of a world of 2 together load
// every clip of an epoch exactly once, in as many batches each.
import t from 'tap';
import { VideoLoader, SyntheticDataset, epochOrder, shardOrder, type Batch, type DatasetSpec } from '../lib/data/index.js';
import { BatchSampler } from '../lib/methods/batch.js';
import { ValueError } from '../lib/errors.js';

const spec = (count: number): DatasetSpec => ({ kind: 'synthetic', seed: 4, count, frames: 2, size: 16 });

async function indicesOf(loader: VideoLoader): Promise<number[]> {
  const out: number[] = [];
  for await (const b of loader as AsyncIterable<Batch>) out.push(...b.indices);
  return out;
}

t.test('a shard of 2 covers an epoch exactly once', async (t) => {
  for (const epoch of [0, 1]) {
    const ranks = await Promise.all(
      [0, 1].map((rank) =>
        indicesOf(new VideoLoader({ dataset: spec(12), batchSize: 3, seed: 5, epoch, workers: rank, shard: { rank, worldSize: 2 } })),
      ),
    );
    t.same(
      ranks.map((r) => r.length),
      [6, 6],
      `epoch ${epoch}: 6 clips per rank`,
    );
    t.same(
      [...ranks[0], ...ranks[1]].sort((a, b) => a - b),
      Array.from({ length: 12 }, (_, i) => i),
      `epoch ${epoch}: every clip once`,
    );
  }
  const order = epochOrder(12, 5, 0);
  t.same(
    Array.from(shardOrder(order, { rank: 1, worldSize: 2 })),
    Array.from(order).filter((_, p) => p % 2 === 1),
    'rank 1 takes the odd positions',
  );
});

t.test('an uneven split pads the last rank from the start of the order', async (t) => {
  const ranks = [0, 1].map((rank) => Array.from(shardOrder(epochOrder(11, 5, 0), { rank, worldSize: 2 })));
  t.same(
    ranks.map((r) => r.length),
    [6, 6],
    'equal shares',
  );
  t.equal(new Set([...ranks[0], ...ranks[1]]).size, 11, 'every clip at least once');
});

t.test('the sampler: steps per epoch of the shard, disjoint batches across ranks', async (t) => {
  const src = new SyntheticDataset({ seed: 4, count: 8, frames: 2, size: 16 });
  const samplers = [0, 1].map((rank) => new BatchSampler(src, 2, 3, { shard: { rank, worldSize: 2 } }));
  t.equal(samplers[0].stepsPerEpoch, 2);
  const seen: number[] = [];
  for (const s of samplers)
    for (const step of [0, 1]) {
      const b = await s.batch(step);
      seen.push(...b.indices);
      b.video.dispose();
    }
  t.same(
    seen.sort((a, b) => a - b),
    [0, 1, 2, 3, 4, 5, 6, 7],
  );
  for (const s of samplers) await s.close();
});

t.test('bad shards are typed errors', async (t) => {
  t.throws(() => new VideoLoader({ dataset: spec(4), batchSize: 2, shard: { rank: 2, worldSize: 2 } }), ValueError);
  t.throws(() => new VideoLoader({ dataset: spec(4), batchSize: 2, shard: { rank: 0, worldSize: 0 } }), ValueError);
  t.throws(() => new VideoLoader({ dataset: spec(4), batchSize: 2, startBatch: 3 }), ValueError);
});
