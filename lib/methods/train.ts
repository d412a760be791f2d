// The training loop every recipe shares: per-step lr schedule, gradient accumulation, AdamW,
// JSON-lines log, atomic checkpoints, resume, and a stop on a non-finite loss that leaves the
// last good checkpoint untouched.
import { appendFile, mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { MvdError } from '../errors.js';
import type { Module } from '../nn/module.js';
import { Block, type StepRng } from '../nn/layers.js';
import { AdamW, LossScaler } from '../optim/adamw.js';
import { buildParamGroups } from '../optim/groups.js';
import { cosineLr } from '../optim/schedule.js';
import { stateDict, loadStateDict } from '../io/checkpoint.js';
import { saveTrainingCheckpoint, loadTrainingCheckpoint } from '../io/training-checkpoint.js';

export class NonFiniteLossError extends MvdError {}

/** What a recipe does in one micro-step: forward, loss, backward (gradients accumulate). */
export interface Recipe {
  name: string;
  /** The trainable model; its state-dict names are the checkpoint's. */
  model: Module;
  /**
   * Forward and backward on micro-batch `batchIndex` (= step × accumulation + micro, so the data
   * order is a function of the index and a resumed run continues it); returns the (unscaled)
   * losses. With `lossScale`, the loss gradients are multiplied by it before backward (loss
   * scaling for reduced precision); the optimiser divides it out.
   */
  step(batchIndex: number, lossScale?: number): Promise<Record<string, number>>;
  dispose(): void;
}

export interface TrainOptions {
  steps: number;
  lr: number;
  minLr: number;
  warmupSteps: number;
  weightDecay: number;
  beta1?: number;
  beta2?: number;
  /** Micro-batches per optimiser step (gradient accumulation, SPEC `update_freq`). */
  accumulate?: number;
  clipGrad?: number;
  runDir?: string;
  checkpointEvery?: number;
  resume?: boolean;
  /** Config recorded in checkpoints and config.json. */
  config?: unknown;
  onStep?: (rec: StepRecord) => void;
  /** Stop (with a checkpoint) after this many steps of this invocation; `resume` continues later. */
  stopAfter?: number;
  /** Loss scaling: a fixed factor, or 'dynamic' (start 2^7, halve and skip on overflow, double after 128 good steps). */
  lossScale?: number | 'dynamic';
  /** Layer-wise lr decay (fine-tuning, SPEC §4.3): factor and encoder depth. */
  layerDecay?: { decay: number; depth: number };
}

export interface StepRecord {
  step: number;
  lr: number;
  losses: Record<string, number>;
  gradNorm: number;
  seconds: number;
}

export interface TrainResult {
  history: StepRecord[];
  startStep: number;
  resumedFrom: string | null;
}

/** The drop-path generators of a model, in module order (saved in checkpoints for exact resume). */
function stepRngs(m: Module): StepRng[] {
  const out: StepRng[] = [];
  for (const mod of m.modules()) if (mod instanceof Block && mod.rng && !out.includes(mod.rng)) out.push(mod.rng);
  return out;
}

export async function train(recipe: Recipe, o: TrainOptions): Promise<TrainResult> {
  const named = recipe.model.namedParameters();
  const opt = new AdamW(buildParamGroups(named, { weightDecay: o.weightDecay, layerDecay: o.layerDecay?.decay, depth: o.layerDecay?.depth }), { beta1: o.beta1 ?? 0.9, beta2: o.beta2 ?? 0.95, clipGrad: o.clipGrad });
  const ckDir = o.runDir ? join(o.runDir, 'checkpoints') : null;
  const logPath = o.runDir ? join(o.runDir, 'log.jsonl') : null;
  let start = 0;
  let resumedFrom: string | null = null;
  if (o.runDir) {
    await mkdir(o.runDir, { recursive: true });
    if (o.config !== undefined) await writeFile(join(o.runDir, 'config.json'), JSON.stringify(o.config, null, 2));
  }
  if (ckDir && o.resume) {
    const ck = await loadTrainingCheckpoint(ckDir);
    if (ck) {
      loadStateDict(recipe.model, ck.model, { strict: true, mapKeys: false });
      opt.loadState(named, ck.optimizer, ck.state.step);
      for (const t of ck.model.values()) t.dispose();
      start = ck.state.step;
      resumedFrom = ck.path;
      stepRngs(recipe.model).forEach((r, i) => {
        if (ck.state.rng[`dropPath${i}`] !== undefined) r.state = ck.state.rng[`dropPath${i}`];
      });
    }
  }
  const sched = { lr: o.lr, minLr: o.minLr, warmupSteps: o.warmupSteps, totalSteps: o.steps };
  const acc = o.accumulate ?? 1;
  const scaler = o.lossScale === 'dynamic' ? new LossScaler() : null;
  const scaleNow = () => (scaler ? scaler.scale : typeof o.lossScale === 'number' ? o.lossScale : 1);
  const history: StepRecord[] = [];
  const save = async (step: number) => {
    if (!ckDir) return;
    await saveTrainingCheckpoint(ckDir, {
      model: stateDict(recipe.model),
      optimizer: opt.stateTensors(named),
      // Data order and masks are functions of the batch index; only drop-path draws carry state.
      state: { step, epoch: 0, batchInEpoch: step, rng: Object.fromEntries(stepRngs(recipe.model).map((r, i) => [`dropPath${i}`, r.state])), config: o.config ?? null },
    });
  };
  recipe.model.train();
  for (let step = start; step < o.steps; step++) {
    const t0 = performance.now();
    const lr = cosineLr(sched, step);
    recipe.model.zeroGrad();
    const sums: Record<string, number> = {};
    const scale = scaleNow();
    for (let m = 0; m < acc; m++) {
      const losses = await recipe.step(step * acc + m, scale);
      for (const [k, v] of Object.entries(losses)) {
        if (!Number.isFinite(v))
          throw new NonFiniteLossError(`${recipe.name}: loss '${k}' is ${v} at step ${step}; stopped.` +
            (ckDir ? ` The last good checkpoint in ${ckDir} is intact (resume with --resume after lowering the lr).` : ''), { op: 'train' });
        sums[k] = (sums[k] ?? 0) + v / acc;
      }
    }
    const r = await opt.update(lr, 1 / (acc * scale));
    scaler?.update(r.applied);
    const rec: StepRecord = { step: step + 1, lr, losses: sums, gradNorm: r.gradNorm, seconds: (performance.now() - t0) / 1000 };
    history.push(rec);
    if (logPath) await appendFile(logPath, JSON.stringify({ kind: 'step', ...rec }) + '\n');
    o.onStep?.(rec);
    const pausing = o.stopAfter !== undefined && step + 1 - start >= o.stopAfter;
    if (ckDir && ((o.checkpointEvery && (step + 1) % o.checkpointEvery === 0) || step + 1 === o.steps || pausing)) await save(step + 1);
    if (pausing) break;
  }
  opt.dispose();
  return { history, startStep: start, resumedFrom };
}

/** Mean of the last k values of a loss in a history. */
export function tailMean(h: StepRecord[], key: string, k = 10): number {
  const xs = h.slice(-k).map((r) => r.losses[key]);
  return xs.reduce((a, b) => a + b, 0) / Math.max(1, xs.length);
}
