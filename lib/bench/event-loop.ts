// How responsive the event loop stays while train() runs in-process: a 10 ms interval ticks during
// the whole run and the gaps between ticks are reported (p50/p99/max), with peak RSS and step time.
// A gap longer than the interval is time the JS thread spent inside a native call (or in JS work of
// its own), during which timers, I/O and an embedding server's requests all wait.
import { SyntheticDataset } from '../data/synthetic.js';
import { ValueError } from '../errors.js';
import { isPreset, type Preset } from '../nn/config.js';
import { makeTeacher } from '../nn/mvd.js';
import { BatchSampler } from '../methods/batch.js';
import { distillRecipe } from '../methods/distill.js';
import { videomaeRecipe } from '../methods/pretrain.js';
import { train, type Recipe } from '../methods/train.js';
import { sync } from '../tensor.js';

export interface EventLoopBenchOptions {
  /** videomae: pretraining of `model`; mvd: distillation of student `model` from two `teacher` models. */
  method: 'videomae' | 'mvd';
  model: Preset;
  teacher: Preset;
  frames: number;
  size: number;
  batch: number;
  steps: number;
  intervalMs: number;
}

export interface EventLoopBenchResult {
  config: EventLoopBenchOptions;
  /** Interval ticks seen, and how many a free event loop would have seen in the same time. */
  ticks: number;
  ticks_due: number;
  gap_ms: { p50: number; p99: number; max: number };
  /** Median of the steps after the first (which allocates everything once). */
  step_s_median: number;
  peak_rss_bytes: number;
  losses: number[];
}

/**
 * Starts a `intervalMs` interval that records the time between its ticks; stop() ends it and
 * returns the gaps, the one still open at that moment included (a last long call would otherwise
 * go unseen).
 */
export function watchEventLoop(intervalMs: number): { stop(): number[] } {
  const gaps: number[] = [];
  let last = performance.now();
  const timer = setInterval(() => {
    const now = performance.now();
    gaps.push(now - last);
    last = now;
  }, intervalMs);
  return {
    stop() {
      clearInterval(timer);
      gaps.push(performance.now() - last);
      return gaps;
    },
  };
}

export function percentile(sorted: number[], q: number): number {
  if (!sorted.length) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))];
}

function makeRecipe(o: EventLoopBenchOptions, data: BatchSampler): Recipe {
  if (o.method === 'videomae') return videomaeRecipe(data, { preset: o.model, frames: o.frames, size: o.size, seed: 0 });
  const teachers = {
    img: makeTeacher('img', { preset: o.teacher, frames: o.frames, size: o.size, seed: 1 }),
    vid: makeTeacher('vid', { preset: o.teacher, frames: o.frames, size: o.size, seed: 2 }),
  };
  const r = distillRecipe(data, { student: o.model, frames: o.frames, size: o.size, teachers, seed: 0 });
  return {
    name: r.name,
    model: r.model,
    step: (i, lossScale) => r.step(i, lossScale),
    dispose() {
      r.dispose();
      teachers.img.dispose();
      teachers.vid.dispose();
    },
  };
}

/** Runs `steps` steps of in-process train() while a `intervalMs` interval measures the event loop. */
export async function benchEventLoop(o: EventLoopBenchOptions): Promise<EventLoopBenchResult> {
  if (!isPreset(o.model) || !isPreset(o.teacher))
    throw new ValueError(`bench eventloop: model '${o.model}' and teacher '${o.teacher}' must be presets`);
  if (!(o.method === 'videomae' || o.method === 'mvd'))
    throw new ValueError(`bench eventloop: method must be videomae or mvd, got '${o.method}'`);
  for (const k of ['frames', 'size', 'batch', 'steps', 'intervalMs'] as const)
    if (!Number.isInteger(o[k]) || o[k] < 1) throw new ValueError(`bench eventloop: ${k} must be a positive integer, got ${o[k]}`);
  const data = new BatchSampler(
    new SyntheticDataset({ seed: 1, count: Math.max(o.batch * 4, 8), frames: o.frames, size: o.size }),
    o.batch,
    1,
  );
  const recipe = makeRecipe(o, data);
  const stepSeconds: number[] = [];
  const losses: number[] = [];
  const watch = watchEventLoop(o.intervalMs);
  const started = performance.now();
  let gaps: number[] = [];
  let elapsed = 0;
  try {
    await train(recipe, {
      steps: o.steps,
      lr: 1e-4,
      minLr: 1e-5,
      warmupSteps: 0,
      weightDecay: 0.05,
      onStep: (rec) => {
        stepSeconds.push(rec.seconds);
        losses.push(Object.values(rec.losses)[0]);
      },
    });
    await sync();
  } finally {
    gaps = watch.stop();
    elapsed = performance.now() - started;
    recipe.dispose();
  }
  const sorted = [...gaps].sort((a, b) => a - b);
  const steady = stepSeconds.slice(1).sort((a, b) => a - b);
  return {
    config: o,
    ticks: gaps.length - 1,
    ticks_due: Math.floor(elapsed / o.intervalMs),
    gap_ms: { p50: percentile(sorted, 0.5), p99: percentile(sorted, 0.99), max: sorted[sorted.length - 1] },
    step_s_median: steady.length ? steady[steady.length >> 1] : stepSeconds[0],
    peak_rss_bytes: process.resourceUsage().maxRSS * 1024,
    losses,
  };
}

export function formatEventLoop(r: EventLoopBenchResult): string {
  const c = r.config;
  const what = c.method === 'mvd' ? `MVD ${c.model}←${c.teacher}/${c.teacher}` : `VideoMAE ${c.model}`;
  return (
    `event loop during in-process train(): ${what}, ${c.frames}×${c.size}², batch ${c.batch}, ${c.steps} steps, ${c.intervalMs} ms interval\n` +
    `  gaps between ticks: p50 ${r.gap_ms.p50.toFixed(1)} ms, p99 ${r.gap_ms.p99.toFixed(1)} ms, max ${r.gap_ms.max.toFixed(1)} ms ` +
    `(${r.ticks} ticks of ${r.ticks_due} due)\n` +
    `  step ${r.step_s_median.toFixed(3)} s (median after the first), peak RSS ${(r.peak_rss_bytes / 2 ** 20).toFixed(0)} MiB`
  );
}
