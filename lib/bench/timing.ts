// Timing helpers shared by every benchmark: warm up, repeat, report median and spread.
import { sync } from '../tensor.js';

export interface Timing {
  medianMs: number;
  minMs: number;
  maxMs: number;
  runs: number;
}

/** Runs `fn` (which enqueues work) until `minSeconds` pass, syncing after each run. */
export async function timeIt(
  fn: () => unknown,
  opts: { warmup?: number; minRuns?: number; minSeconds?: number; device?: string } = {},
): Promise<Timing> {
  const device = opts.device ?? 'cpu';
  for (let i = 0; i < (opts.warmup ?? 1); i++) {
    fn();
    await sync(device);
  }
  const times: number[] = [];
  const start = performance.now();
  while (times.length < (opts.minRuns ?? 3) || performance.now() - start < (opts.minSeconds ?? 0.5) * 1000) {
    const t0 = performance.now();
    fn();
    await sync(device);
    times.push(performance.now() - t0);
    if (times.length >= 1000) break;
  }
  times.sort((a, b) => a - b);
  return { medianMs: times[times.length >> 1], minMs: times[0], maxMs: times[times.length - 1], runs: times.length };
}

/** The middle element of xs (the upper one of the two middles for an even count). */
export function median(xs: readonly number[]): number {
  return [...xs].sort((a, b) => a - b)[xs.length >> 1];
}

export function fmt(x: number, digits = 1): string {
  return Number.isFinite(x) ? x.toFixed(digits) : '-';
}

/** A plain markdown table. */
export function table(header: string[], rows: (string | number)[][]): string {
  const lines = [`| ${header.join(' | ')} |`, `|${header.map(() => '---').join('|')}|`];
  for (const r of rows) lines.push(`| ${r.join(' | ')} |`);
  return lines.join('\n');
}
