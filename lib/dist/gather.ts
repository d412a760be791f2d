// Gathering small host-side results from every rank (evaluation predictions, counters, lists of
// skipped files): each rank contributes a value, every rank gets all of them in rank order.
import { Tensor } from '../tensor.js';
import { allGather } from './collectives.js';
import { world } from './world.js';

/** Rank r's contiguous part [start, end) of n items: ceil(n / size) each, the last ones shorter. */
export function shardRange(n: number, rank = world().rank, size = world().size): { start: number; end: number; per: number } {
  const per = Math.ceil(n / size);
  return { start: Math.min(n, rank * per), end: Math.min(n, (rank + 1) * per), per };
}

/** Every rank's `value` (JSON-serialisable), in rank order; one process gets [value]. */
export async function gatherJson<T>(value: T): Promise<T[]> {
  if (world().size === 1) return [value];
  const bytes = new TextEncoder().encode(JSON.stringify(value));
  // Lengths first: allGather needs the same shape on every rank, so each pads to the longest.
  let lengths: Int32Array;
  {
    using len = Tensor.fromArray(Int32Array.of(bytes.length), [1], { device: 'cpu' });
    using all = allGather(len);
    lengths = await all.toArray();
  }
  const longest = Math.max(...lengths);
  const padded = new Uint8Array(longest);
  padded.set(bytes);
  using mine = Tensor.fromArray(padded, [longest], { device: 'cpu' });
  using all = allGather(mine);
  const data = await all.toArray();
  const decoder = new TextDecoder();
  return Array.from(lengths, (n, r) => JSON.parse(decoder.decode(data.subarray(r * longest, r * longest + n))) as T);
}
