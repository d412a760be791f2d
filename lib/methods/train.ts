// The training loop every recipe shares: per-step lr schedule, gradient accumulation, AdamW,
// JSON-lines log, atomic checkpoints, resume, and a stop on a non-finite loss that leaves the
// last good checkpoint untouched. The run folder's rules (one run per folder, checked resumes,
// repairs after a kill) live in run-open.ts.
import { appendFile } from 'node:fs/promises';
import { AbortedError, MvdError, ValueError } from '../errors.js';
import type { Module } from '../nn/module.js';
import { Block, type StepRng } from '../nn/layers.js';
import { VideoClassifier } from '../nn/classifier.js';
import { AdamW, LossScaler } from '../optim/adamw.js';
import { buildParamGroups } from '../optim/groups.js';
import { cosineLr } from '../optim/schedule.js';
import { stateDict, loadStateDict } from '../io/checkpoint.js';
import { modelCardOf, modelCardMetadata } from '../nn/model-card.js';
import { saveTrainingCheckpoint } from '../io/training-checkpoint.js';
import { RUN_FILES } from '../io/run-folder.js';
import { openRunFolder, type RunFolder } from './run-open.js';
import { initDistributed, abortJob, type World } from '../dist/world.js';
import { averageNumbers } from '../dist/collectives.js';
import { averageGradients, checkGradientSets, shareStartState } from '../dist/ddp.js';
import { OverlappedGradients } from '../dist/overlap.js';

/** A loss became NaN or Inf: the run stopped before the optimiser step, the last checkpoint intact. */
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
  /**
   * Rows of the model's batch per sample (default 1; repeated augmentation: its views). Drop path
   * keys its draws by a row's place in the global batch, which this and the rank fix.
   */
  rowsPerSample?: number;
  dispose(): void;
}

/** How train() runs: schedule, optimiser, accumulation, run folder and resume rules, cancellation. */
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
  /**
   * The run folder: config.json, log.jsonl, checkpoints/ (the CLI adds model.safetensors). One run
   * per folder and one process at a time (a `.lock` file); a folder that already holds a run is a
   * RunFolderError unless `resume` or `force` says what to do with it.
   */
  runDir?: string;
  checkpointEvery?: number;
  /**
   * Continue the run in `runDir` from its newest checkpoint that loads (latest.json's, else the
   * newest valid folder, with a warning; a CheckpointError when checkpoints exist but none loads;
   * step 0 when none was written yet). log.jsonl loses the records after that step, so no step
   * appears twice. The configuration must match the stored one (see `override`).
   */
  resume?: boolean;
  /**
   * Start over in a `runDir` that holds a run: deletes its config.json, log.jsonl, checkpoints/ and
   * model.safetensors (nothing else) first. Not with `resume`. CLI: --force.
   */
  force?: boolean;
  /**
   * With `resume`: accept hyper-parameters that differ from the stored run's (a ResumeConfigError
   * otherwise, listing each key old → new). The changes go to log.jsonl as a `{"kind":"override"}`
   * record and to `onWarning`. Keys that may always differ (steps, checkpointEvery, ...) are listed
   * with the reasons in resume-check.ts (FREE_KEYS). CLI: --override.
   */
  override?: boolean;
  /**
   * Checked between steps: once aborted, the loop writes a checkpoint of the steps done (when there
   * is a run folder and anything new to save) and rejects with an AbortedError; `resume` continues
   * exactly from there.
   */
  signal?: AbortSignal;
  /**
   * What the run folder needed repairing or what was overridden (a fallback to an older checkpoint,
   * temporaries removed, log records dropped, ...). Default: process.emitWarning.
   */
  onWarning?: (msg: string) => void;
  /**
   * The run's description (the CLI's options), recorded in checkpoints and config.json and compared
   * on resume; without it the loop's own hyper-parameters (lr, schedule, optimiser) are compared.
   */
  config?: unknown;
  onStep?: (rec: StepRecord) => void;
  /** Stop (with a checkpoint) after this many steps of this invocation; `resume` continues later. */
  stopAfter?: number;
  /** Loss scaling: a fixed factor, or 'dynamic' (start 2^7, halve and skip on overflow, double after 128 good steps). */
  lossScale?: number | 'dynamic';
  /** Layer-wise lr decay (fine-tuning, SPEC §4.3): factor and encoder depth. */
  layerDecay?: { decay: number; depth: number };
  /**
   * Data-parallel runs: start each transformer block's gradient all-reduce as soon as its
   * backward is queued, so communication overlaps the rest of backward (default true); false
   * reduces every gradient after backward (for comparison, or a model that reuses a block).
   */
  overlapAllReduce?: boolean;
}

/** One optimiser step as logged: its lr, the losses averaged over micro-batches (and ranks), grad norm, wall time. */
export interface StepRecord {
  step: number;
  lr: number;
  losses: Record<string, number>;
  gradNorm: number;
  seconds: number;
}

/** What train() did: the steps it ran, where it started, and the checkpoint it resumed from. */
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

/** The loop's hyper-parameters as stored in checkpoints (defaults filled in, so equal runs compare equal). */
function loopHyper(o: TrainOptions): Record<string, unknown> {
  return {
    lr: o.lr,
    minLr: o.minLr,
    warmupSteps: o.warmupSteps,
    weightDecay: o.weightDecay,
    beta1: o.beta1 ?? 0.9,
    beta2: o.beta2 ?? 0.95,
    accumulate: o.accumulate ?? 1,
    clipGrad: o.clipGrad ?? null,
    lossScale: o.lossScale ?? 1,
    layerDecay: o.layerDecay ?? null,
  };
}

function checkFolderOptions(o: TrainOptions): void {
  if (o.resume && !o.runDir) throw new ValueError('train: resume needs runDir (the run folder to continue); none was given');
  if (o.force && !o.runDir) throw new ValueError('train: force needs runDir (the run folder to start over in); none was given');
  if (o.force && o.resume)
    throw new ValueError(
      `train: force (start over: deletes ${RUN_FILES.join(', ')}) and resume (continue the run) contradict each other; pass one`,
    );
  if (o.override && !o.resume) throw new ValueError('train: override (accept changed hyper-parameters) only applies with resume');
}

/**
 * Under an MPI launch (`mpirun -np N`), every rank runs train() with its own shard of the data
 * (Recipe.step reads rank r's part of each global batch) and the loop is data-parallel: rank 0's
 * starting point is broadcast, gradients are averaged over the ranks before each update, the
 * logged losses are the ranks' mean, and only rank 0 opens the run folder (log, checkpoints). An
 * error on one rank ends the whole job (MPI_Abort) instead of leaving the others waiting.
 */
export async function train(recipe: Recipe, o: TrainOptions): Promise<TrainResult> {
  checkFolderOptions(o);
  const w = initDistributed();
  if (w.size === 1) return trainOnRank(recipe, o, w);
  try {
    return await trainOnRank(recipe, o, w);
  } catch (err) {
    // Every rank decides a non-finite stop on the same averaged losses, so they all end here
    // together; any other error is this rank's alone and must take the others down with it.
    if (err instanceof NonFiniteLossError) throw err;
    return abortJob(err);
  }
}

async function trainOnRank(recipe: Recipe, o: TrainOptions, w: World): Promise<TrainResult> {
  const hyper = loopHyper(o);
  const warn = o.onWarning ?? ((msg: string) => process.emitWarning(msg, 'MvdWarning'));
  const named = recipe.model.namedParameters();
  const opt = new AdamW(
    buildParamGroups(named, { weightDecay: o.weightDecay, layerDecay: o.layerDecay?.decay, depth: o.layerDecay?.depth }),
    { beta1: o.beta1 ?? 0.9, beta2: o.beta2 ?? 0.95, clipGrad: o.clipGrad },
  );
  let run: RunFolder | null = null;
  try {
    if (o.runDir && w.rank === 0)
      run = await openRunFolder(o.runDir, { resume: o.resume, force: o.force, override: o.override, config: o.config, hyper, warn });
    using overlap = w.size > 1 && o.overlapAllReduce !== false ? new OverlappedGradients(recipe.model) : null;
    return await loop(recipe, o, opt, named, run, hyper, w, overlap);
  } finally {
    opt.dispose();
    await run?.release();
  }
}

async function loop(
  recipe: Recipe,
  o: TrainOptions,
  opt: AdamW,
  named: ReturnType<Module['namedParameters']>,
  run: RunFolder | null,
  hyper: Record<string, unknown>,
  w: World,
  overlap: OverlappedGradients | null,
): Promise<TrainResult> {
  const ckDir = run?.checkpoints ?? null;
  const logPath = run?.log ?? null;
  const ck = run?.checkpoint ?? null;
  if (ck) {
    try {
      loadStateDict(recipe.model, ck.model, { strict: true, mapKeys: false });
      opt.loadState(named, ck.optimizer, ck.state.step);
    } finally {
      // assign() holds its own references; the optimiser keeps the loaded moments themselves.
      for (const t of ck.model.values()) t.dispose();
    }
    stepRngs(recipe.model).forEach((r, i) => {
      if (ck.state.rng[`dropPath${i}`] !== undefined) r.state = ck.state.rng[`dropPath${i}`];
    });
  }
  const start = await shareStartState({ model: recipe.model, opt, named, start: run?.start ?? 0, rngs: stepRngs(recipe.model) });
  const rowsPerSample = recipe.rowsPerSample ?? 1;
  if (!Number.isInteger(rowsPerSample) || rowsPerSample < 1)
    throw new ValueError(`${recipe.name}: rowsPerSample must be a positive integer (rows of the batch per sample), got ${rowsPerSample}`, {
      op: 'train',
    });
  for (const r of stepRngs(recipe.model)) r.layout = { rank: w.rank, worldSize: w.size, rowsPerSample };
  for (const m of recipe.model.modules()) if (m instanceof VideoClassifier) m.dropoutRank = w.rank;
  const params = named.map(([, p]) => p);
  if (logPath && run && Object.keys(run.overrides).length)
    await appendFile(logPath, `${JSON.stringify({ kind: 'override', step: start, changes: run.overrides })}\n`);
  const sched = { lr: o.lr, minLr: o.minLr, warmupSteps: o.warmupSteps, totalSteps: o.steps };
  const acc = o.accumulate ?? 1;
  const scaler = o.lossScale === 'dynamic' ? new LossScaler() : null;
  const scaleNow = () => (scaler ? scaler.scale : typeof o.lossScale === 'number' ? o.lossScale : 1);
  const history: StepRecord[] = [];
  let saved = start;
  // Every checkpoint says what model it holds (lib/nn/model-card.ts), so loading it needs no flags.
  const card = modelCardOf(recipe.model, { method: recipe.name });
  const save = async (step: number) => {
    if (!ckDir) return;
    await saveTrainingCheckpoint(ckDir, {
      model: stateDict(recipe.model),
      modelMetadata: card ? modelCardMetadata(card) : {},
      optimizer: opt.stateTensors(named),
      // Data order and masks are functions of the batch index; only drop-path draws carry state.
      state: {
        step,
        epoch: 0,
        batchInEpoch: step,
        rng: Object.fromEntries(stepRngs(recipe.model).map((r, i) => [`dropPath${i}`, r.state])),
        config: o.config ?? null,
        train: hyper,
      },
    });
    saved = step;
  };
  recipe.model.train();
  for (let step = start; step < o.steps; step++) {
    if (o.signal?.aborted) {
      if (ckDir && step > saved) await save(step);
      throw new AbortedError(
        `${recipe.name}: stopped by the abort signal after step ${step} of ${o.steps}; ` +
          (ckDir ? `the checkpoint in ${ckDir} holds step ${saved}: resume continues from there` : 'nothing saved (no run folder)'),
        { op: 'train' },
      );
    }
    const t0 = performance.now();
    const lr = cosineLr(sched, step);
    recipe.model.zeroGrad();
    const sums: Record<string, number> = {};
    const scale = scaleNow();
    for (let m = 0; m < acc; m++) {
      if (m === acc - 1) overlap?.arm();
      const losses = await recipe.step(step * acc + m, scale);
      for (const [k, v] of Object.entries(losses)) sums[k] = (sums[k] ?? 0) + v / acc;
    }
    if (w.size > 1) await averageOverRanks(sums, params);
    // Checked on the ranks' mean, so every rank takes the same decision.
    for (const [k, v] of Object.entries(sums))
      if (!Number.isFinite(v))
        throw new NonFiniteLossError(
          `${recipe.name}: loss '${k}' is ${v} at step ${step}${w.size > 1 ? ` (mean over ${w.size} ranks)` : ''}; stopped.` +
            (ckDir ? ` The last good checkpoint in ${ckDir} is intact (resume with --resume --override after lowering the lr).` : ''),
          { op: 'train' },
        );
    if (overlap) overlap.finish(params);
    else averageGradients(params);
    const r = await opt.update(lr, 1 / (acc * scale));
    scaler?.update(r.applied);
    const rec: StepRecord = { step: step + 1, lr, losses: sums, gradNorm: r.gradNorm, seconds: (performance.now() - t0) / 1000 };
    history.push(rec);
    if (logPath) await appendFile(logPath, `${JSON.stringify({ kind: 'step', ...rec })}\n`);
    o.onStep?.(rec);
    const pausing = o.stopAfter !== undefined && step + 1 - start >= o.stopAfter;
    if (ckDir && ((o.checkpointEvery && (step + 1) % o.checkpointEvery === 0) || step + 1 === o.steps || pausing)) await save(step + 1);
    if (pausing) break;
  }
  return { history, startStep: start, resumedFrom: ck?.path ?? null };
}

/**
 * Replaces each loss by its mean over the ranks, in one collective that also carries the count of
 * parameters with gradients (checked equal on all ranks before the gradients are reduced).
 */
async function averageOverRanks(sums: Record<string, number>, params: readonly { hasGrad: boolean }[]): Promise<void> {
  const keys = Object.keys(sums).sort();
  const local = params.filter((p) => p.hasGrad).length;
  const mean = await averageNumbers([...keys.map((k) => sums[k]), local]);
  keys.forEach((k, i) => (sums[k] = mean[i]));
  checkGradientSets(local, mean[keys.length]);
}

/** Mean of the last k values of a loss in a history. */
export function tailMean(h: StepRecord[], key: string, k = 10): number {
  const xs = h.slice(-k).map((r) => r.losses[key]);
  return xs.reduce((a, b) => a + b, 0) / Math.max(1, xs.length);
}
