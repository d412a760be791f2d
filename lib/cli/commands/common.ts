// Flags shared by several commands (model, clip shape, training loop, data, run folder, device) and
// the code that turns them into library options.
import { setDefaultDevice } from '../../tensor.js';
import { gpuInfo, resolveDevice } from '../../device.js';
import { PRESETS } from '../../nn/config.js';
import { scaleLr } from '../../optim/schedule.js';
import { initDistributed } from '../../dist/world.js';
import type { TrainOptions } from '../../methods/train.js';
import { UsageError, type FlagSpec, type FlagTable, type Flags } from '../command.js';

export const modelFlag = (help = 'model preset', dflt: string | undefined = 'tiny'): FlagSpec => ({
  type: 'word',
  words: PRESETS,
  help,
  default: dflt,
});
export const framesFlag = (dflt?: number, note?: string): FlagSpec => ({
  type: 'int',
  min: 2,
  help: 'frames per clip',
  default: dflt,
  defaultNote: note,
});
export const sizeFlag = (dflt?: number, note?: string): FlagSpec => ({
  type: 'int',
  min: 16,
  help: 'frame size in pixels (square)',
  default: dflt,
  defaultNote: note,
});
export const POS: FlagSpec = {
  type: 'word',
  words: ['sincos3d', 'sinusoid1d'],
  help: 'positional table: sincos3d (MVD) or sinusoid1d (VideoMAE)',
  default: 'sincos3d',
};
export const LABEL: FlagSpec = { type: 'word', words: ['appearance', 'motion'], help: 'synthetic label set', default: 'appearance' };
export const JSON_FLAG: FlagSpec = { type: 'bool', help: 'print the result as JSON' };
export const SEED: FlagSpec = { type: 'int', min: 0, help: 'random seed', default: 0 };

/** Flags of every training command (pretrain, distill, finetune). */
export const TRAIN_FLAGS: FlagTable = {
  config: { type: 'in-file', what: 'config file', help: 'JSON object of flag values (same names as the flags; flags override it)' },
  model: modelFlag(),
  frames: framesFlag(16),
  size: sizeFlag(112),
  batch: { type: 'int', min: 1, help: 'clips per micro-batch', default: 8 },
  steps: { type: 'int', min: 1, help: 'optimiser steps', default: 100 },
  lr: { type: 'number', above: 0, help: 'base lr, scaled by batch × accumulate / 256', default: 1.5e-4 },
  'min-lr': { type: 'number', min: 0, help: 'base min lr of the cosine schedule', default: 1e-5 },
  warmup: { type: 'int', min: 0, help: 'warmup steps (at most --steps)', defaultNote: 'steps/10' },
  'weight-decay': { type: 'number', min: 0, help: 'AdamW weight decay', default: 0.05 },
  accumulate: { type: 'int', min: 1, help: 'micro-batches per optimiser step', default: 1 },
  seed: SEED,
  data: {
    type: 'word',
    words: ['synthetic', 'list'],
    help: "'synthetic' (in memory) or 'list' (video files of --list)",
    defaultNote: 'list when --list is given, else synthetic',
  },
  list: { type: 'in-file', what: 'list file', help: 'list file: one "path label" per line' },
  root: { type: 'in-dir', what: 'root folder', help: 'folder the list paths are relative to' },
  clips: { type: 'int', min: 1, help: 'synthetic clips', default: 256 },
  'on-bad-video': {
    type: 'word',
    words: ['skip', 'fail'],
    help: 'an unreadable video is left out and counted (skip) or stops the run (fail)',
    default: 'skip',
  },
  out: { type: 'out-dir', help: 'run folder: config.json, log.jsonl, checkpoints/, final weights' },
  resume: { type: 'bool', help: "continue from the run folder's latest checkpoint (needs --out)" },
  force: { type: 'bool', help: 'start over in a run folder that already holds a run (its checkpoints and log are replaced)' },
  override: { type: 'bool', help: 'with --resume: accept changed hyper-parameters (each change is logged)' },
  'checkpoint-every': { type: 'int', min: 1, help: 'steps between checkpoints', default: 50 },
  json: JSON_FLAG,
};

export const MASK_RATIO: FlagSpec = { type: 'number', above: 0, below: 1, help: 'fraction of tokens masked', default: 0.9 };

export const DEVICE: FlagSpec = {
  type: 'word',
  words: ['cpu', 'cuda', 'auto'],
  pattern: /^cuda:\d+$/,
  wordsNote: 'cpu, cuda, cuda:N, auto',
  default: 'cpu',
  help: 'where the model, optimizer and batches live (auto: the first GPU when one is usable)',
};

/** Rules between the training flags, checked before the run folder is created. */
export function checkTrainFlags(f: Flags): void {
  if (f.bool('resume') && !f.given('out')) throw new UsageError('--resume needs --out RUN (the run folder to continue)');
  if (f.bool('force') && f.bool('resume')) throw new UsageError('--force starts over and --resume continues: give one of them');
  if (f.bool('force') && !f.given('out')) throw new UsageError('--force needs --out RUN (the run folder to start over in)');
  if (f.bool('override') && !f.bool('resume')) throw new UsageError('--override only applies with --resume');
  if (f.given('warmup') && f.num('warmup') > f.num('steps'))
    throw new UsageError(`--warmup ${f.num('warmup')} is more than --steps ${f.num('steps')}`);
  const data = dataKind(f);
  if (data === 'list' && !f.given('list')) throw new UsageError('--data list needs --list FILE');
  if (data === 'synthetic') {
    for (const k of ['list', 'root']) if (f.given(k)) throw new UsageError(`--${k} is only read with --data list`);
  }
}

export function dataKind(f: Flags): 'synthetic' | 'list' {
  return f.optWord<'synthetic' | 'list'>('data') ?? (f.given('list') ? 'list' : 'synthetic');
}

/** Makes --device the default device of every tensor the run creates; a missing GPU is a usage error. */
export function useDevice(f: Flags): string {
  const asked = f.str('device');
  let device = resolveDevice(asked);
  // Under mpirun, `cuda` and `auto` mean this rank's own GPU: cuda:<rank within the node>.
  if ((asked === 'cuda' || asked === 'auto') && device === 'cuda:0') device = `cuda:${initDistributed().localRank}`;
  if (device !== 'cpu') {
    const info = gpuInfo();
    const index = Number(/^cuda:(\d+)$/.exec(device)?.[1] ?? NaN);
    if (!info.devices.some((d) => d.index === index))
      throw new UsageError(`--device ${asked}: no such CUDA device (${info.reason || `${info.devices.length} devices`})`);
  }
  setDefaultDevice(device);
  return device;
}

/**
 * The sampler options of a data-parallel launch: this rank reads its shard of each epoch's order
 * (one process: every clip). Joins the job first, so rank and world come from MPI.
 */
export function dataShard(): { shard?: { rank: number; worldSize: number } } {
  const w = initDistributed();
  return w.size > 1 ? { shard: { rank: w.rank, worldSize: w.size } } : {};
}

/**
 * Aborted on the first Ctrl-C or SIGTERM: the training loop then stops after the current step with
 * a checkpoint (`--resume` continues) and the CLI exits 1 with one line, not by the signal.
 */
function stopSignal(): AbortSignal {
  const c = new AbortController();
  for (const sig of ['SIGINT', 'SIGTERM'] as const) process.once(sig, () => c.abort());
  return c.signal;
}

/** Flags that steer the run, not the model: left out of the recorded configuration. */
const RUN_CONTROL = ['config', 'out', 'resume', 'force', 'override', 'json'];

/**
 * The TrainOptions the training flags set. `lrBatch` is this process's batch the lr scales with
 * (clips, or videos for fine-tuning; × accumulate), multiplied by the ranks of a data-parallel run.
 */
export function trainOptions(f: Flags, lrBatch: number): TrainOptions {
  const steps = f.num('steps');
  // Under mpirun every rank trains on its own `lrBatch`: the lr follows the global batch.
  const globalBatch = lrBatch * initDistributed().size;
  return {
    steps,
    accumulate: f.num('accumulate'),
    lr: scaleLr(f.num('lr'), globalBatch),
    minLr: scaleLr(f.num('min-lr'), globalBatch),
    warmupSteps: f.optNum('warmup') ?? Math.round(steps / 10),
    weightDecay: f.num('weight-decay'),
    runDir: f.optStr('out'),
    resume: f.bool('resume'),
    force: f.bool('force'),
    override: f.bool('override'),
    signal: stopSignal(),
    onWarning: (msg: string) => process.stderr.write(`mvd ${f.command}: warning: ${msg}\n`),
    checkpointEvery: f.num('checkpoint-every'),
    config: { command: f.command, ...f.record(RUN_CONTROL) },
  };
}

interface Skipped {
  path: string;
  reason: string;
}

/** One line about the videos left out, gathered from results and datasets that expose `skippedVideos`. */
export function reportSkipped(...from: (object | null | undefined)[]): void {
  const seen = new Map<string, Skipped>();
  for (const o of from) {
    const list = (o as { skippedVideos?: readonly Skipped[] } | null | undefined)?.skippedVideos ?? [];
    for (const s of list) if (!seen.has(s.path)) seen.set(s.path, s);
  }
  if (!seen.size) return;
  const first = seen.values().next().value!;
  process.stderr.write(`skipped ${seen.size} unreadable video${seen.size > 1 ? 's' : ''} (first: ${first.path}: ${first.reason})\n`);
}
