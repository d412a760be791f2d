// `mvd bench allreduce`: all-reduce time over message sizes across the ranks of an MPI job, as
// nccl-tests reports it: algorithm bandwidth = bytes / time, bus bandwidth = algbw · 2(n−1)/n
// (what each rank's link carries in a ring all-reduce, comparable across rank counts), beside this
// machine's memcpy rate (bytes copied per second), the roof for ranks that share one node's memory.
import { spawnSync } from 'node:child_process';
import { DeviceError, ValueError } from '../errors.js';
import { addon } from '../native.js';
import { buildInfo } from '../device.js';
import { Tensor, sync } from '../tensor.js';
import { allReduce, barrier } from '../dist/collectives.js';
import { collectives } from '../dist/native.js';
import { initDistributed, world } from '../dist/world.js';
import { fmt, median, table } from './timing.js';

export interface AllReduceRow {
  bytes: number;
  iterations: number;
  medianUs: number;
  algGbs: number;
  busGbs: number;
}

export interface AllReduceBenchResult {
  ranks: number;
  device: string;
  dtype: 'f32';
  path: string;
  memcpyGbs: number;
  rows: AllReduceRow[];
}

/** 1 KB, 4 KB, … up to `maxBytes` (×4 steps). */
export function messageSizes(maxBytes: number, minBytes = 1024): number[] {
  const out: number[] = [];
  for (let b = minBytes; b <= maxBytes; b *= 4) out.push(b);
  return out;
}

/**
 * Every rank must call this with the same options (the iteration counts are fixed by size, never
 * by a rank's own clock, so all ranks issue the same collectives). Rank 0's times are reported.
 */
export async function benchAllReduce(opts: { maxBytes?: number; device?: string } = {}): Promise<AllReduceBenchResult> {
  const w = world();
  const device = opts.device ?? 'cpu';
  // The roof first, on rank 0 alone (the others wait in the barrier), with the same thread count a rank uses.
  // copyBandwidthGbs counts read + write; a copy moves half that many bytes per second.
  const memcpyGbs = w.rank === 0 ? addon().copyBandwidthGbs(buildInfo().cpuThreads, 64, 0.5) / 2 : 0;
  await barrier(device);
  const rows: AllReduceRow[] = [];
  for (const bytes of messageSizes(opts.maxBytes ?? 256 * 2 ** 20)) {
    // About 64 MB moved per size, between 3 and 200 iterations.
    const iterations = Math.max(3, Math.min(200, Math.round((64 * 2 ** 20) / bytes)));
    using t = Tensor.zeros([bytes / 4], { device });
    allReduce(t, 'sum'); // warm-up: first touch of the memory, and MPI's connection setup
    await barrier(device);
    const times: number[] = [];
    for (let i = 0; i < iterations; i++) {
      const t0 = performance.now();
      allReduce(t, 'sum');
      await sync(device);
      times.push(performance.now() - t0);
    }
    const s = median(times) / 1000;
    const alg = bytes / s / 1e9;
    rows.push({ bytes, iterations, medianUs: s * 1e6, algGbs: alg, busGbs: (alg * 2 * (w.size - 1)) / w.size });
  }
  const info = collectives().distributedInfo();
  return { ranks: w.size, device, dtype: 'f32', path: device === 'cpu' ? info.mpiLibrary : info.cudaPath, memcpyGbs, rows };
}

function size(b: number): string {
  return b >= 2 ** 20 ? `${b / 2 ** 20} MB` : `${b / 1024} KB`;
}

export function formatAllReduce(r: AllReduceBenchResult): string {
  const rows = r.rows.map((x) => [
    size(x.bytes),
    x.iterations,
    fmt(x.medianUs, 1),
    fmt(x.algGbs, 2),
    fmt(x.busGbs, 2),
    `${fmt((100 * x.busGbs) / r.memcpyGbs, 0)}%`,
  ]);
  return (
    `all-reduce (sum, ${r.dtype}) over ${r.ranks} ranks on ${r.device} — ${r.path}\n` +
    `memcpy roof (bytes copied per second, this node): ${fmt(r.memcpyGbs, 2)} GB/s\n\n` +
    table(['size', 'iters', 'time µs (median)', 'algbw GB/s', 'busbw GB/s', 'busbw / memcpy'], rows)
  );
}

/**
 * The CLI suite: under an MPI launcher it measures; run alone it starts itself under
 * `mpirun -np <ranks>` (the benchmark needs two processes or more). Only rank 0 prints.
 */
export async function runAllReduceSuite(o: { ranks: number; device: string; quick: boolean; json: boolean }): Promise<number> {
  if (!Number.isInteger(o.ranks) || o.ranks < 2) throw new ValueError(`bench allreduce --ranks must be an integer >= 2, got ${o.ranks}`);
  const w = initDistributed();
  if (w.size === 1) {
    const args = ['-np', String(o.ranks), '--oversubscribe', process.execPath, ...process.execArgv, ...process.argv.slice(1)];
    const r = spawnSync('mpirun', args, { stdio: 'inherit' });
    if (r.error)
      throw new DeviceError(
        `bench allreduce: could not start mpirun (${r.error.message}); install openmpi-bin, or launch under your own MPI launcher`,
        { op: 'bench' },
      );
    return r.status ?? 1;
  }
  const r = await benchAllReduce({ maxBytes: (o.quick ? 16 : 256) * 2 ** 20, device: o.device });
  if (w.rank === 0) console.log(o.json ? JSON.stringify(r, null, 2) : formatAllReduce(r));
  return 0;
}
