// Training checkpoints: a folder written under a temporary name and renamed into place, with
// `latest.json` (itself written atomically) naming the newest complete one. A crash at any point
// leaves the previous checkpoint loadable, and loading checks what it reads: a damaged newest
// checkpoint (or latest.json) falls back, with a warning, to the newest one that loads.
import { mkdir, readFile, rename, rm, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { Tensor } from '../tensor.js';
import { ValueError } from '../errors.js';
import { loadSafetensors, saveSafetensors } from './safetensors.js';
import { temporaryName, writeFileAtomic } from './atomic.js';

/** Checkpoints exist in the folder but none of them loads. */
export class CheckpointError extends ValueError {}

/**
 * A checkpoint's state.json: where training stands, the generator states and the config to check a resume
 * against; `step` counts optimiser steps and names the folder.
 */
export interface TrainingState {
  step: number;
  epoch: number;
  /** Position inside the epoch (batches done), to resume mid-epoch. */
  batchInEpoch: number;
  rng: Record<string, number>;
  config: unknown;
  /** The training loop's own hyper-parameters (lr, schedule, optimiser), compared on resume. */
  train?: Record<string, unknown>;
  metrics?: Record<string, number>;
}

/**
 * A checkpoint read back: its folder, model and optimizer tensors by this library's names (the caller
 * disposes them), and its state.
 */
export interface LoadedCheckpoint {
  path: string;
  model: Map<string, Tensor>;
  optimizer: Map<string, Tensor>;
  state: TrainingState;
}

const FOLDER = /^checkpoint-(\d+)$/;
const folderName = (step: number) => `checkpoint-${String(step).padStart(8, '0')}`;

async function checkpointFolders(dir: string): Promise<string[]> {
  try {
    return (await readdir(dir)).filter((f) => FOLDER.test(f)).sort();
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw e;
  }
}

/** Writes `dir/checkpoint-<step>/` completely, then points `dir/latest.json` at it; keeps the newest `keep`. */
export async function saveTrainingCheckpoint(
  dir: string,
  parts: { model: Map<string, Tensor>; optimizer: Map<string, Tensor>; state: TrainingState; modelMetadata?: Record<string, string> },
  keep = 2,
): Promise<string> {
  await mkdir(dir, { recursive: true });
  const name = folderName(parts.state.step);
  const tmp = temporaryName(dir, name, false);
  await rm(tmp, { recursive: true, force: true });
  await mkdir(tmp);
  await saveSafetensors(join(tmp, 'model.safetensors'), parts.model, parts.modelMetadata ?? {});
  await saveSafetensors(join(tmp, 'optimizer.safetensors'), parts.optimizer);
  await writeFileAtomic(join(tmp, 'state.json'), [JSON.stringify(parts.state, null, 1)]);
  const final = join(dir, name);
  await rm(final, { recursive: true, force: true });
  await rename(tmp, final);
  await markLatest(dir, parts.state.step);
  const all = await checkpointFolders(dir);
  for (const old of all.slice(0, Math.max(0, all.length - keep)))
    if (old !== name) await rm(join(dir, old), { recursive: true, force: true });
  return final;
}

/** Points latest.json at the checkpoint of `step` (no write when it already does). */
export async function markLatest(dir: string, step: number): Promise<void> {
  const text = JSON.stringify({ checkpoint: folderName(step), step });
  if ((await readFile(join(dir, 'latest.json'), 'utf8').catch(() => '')) !== text) await writeFileAtomic(join(dir, 'latest.json'), [text]);
}

/** Loads one checkpoint folder completely; any missing, unparsable or inconsistent part throws. */
async function loadFolder(dir: string, name: string): Promise<LoadedCheckpoint> {
  const path = join(dir, name);
  const state = JSON.parse(await readFile(join(path, 'state.json'), 'utf8')) as TrainingState;
  const step = Number(FOLDER.exec(name)![1]);
  if (!state || typeof state !== 'object' || state.step !== step)
    throw new ValueError(`state.json says step ${JSON.stringify(state?.step)}, the folder name says ${step}`);
  if (!state.rng || typeof state.rng !== 'object')
    throw new ValueError(`state.json has rng ${JSON.stringify(state.rng)}, expected an object of generator states`);
  const model = (await loadSafetensors(join(path, 'model.safetensors'))).tensors;
  try {
    const optimizer = (await loadSafetensors(join(path, 'optimizer.safetensors'))).tensors;
    return { path, model, optimizer, state };
  } catch (e) {
    for (const t of model.values()) t.dispose();
    throw e;
  }
}

/** The folder latest.json names, or why it names none usable. */
async function latestName(dir: string): Promise<{ name: string } | { problem: string } | null> {
  let text: string;
  try {
    text = await readFile(join(dir, 'latest.json'), 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
    return { problem: `latest.json is unreadable (${(e as Error).message})` };
  }
  try {
    const name = JSON.parse(text)?.checkpoint;
    if (typeof name === 'string' && FOLDER.test(name)) return { name };
    return { problem: `latest.json names ${JSON.stringify(name)}, expected "checkpoint-<step>"` };
  } catch (e) {
    return { problem: `latest.json is not JSON (${(e as Error).message})` };
  }
}

/**
 * The checkpoint to resume from: the one latest.json names when it loads, otherwise the newest
 * `checkpoint-*` folder that loads, after telling `onWarning` what was skipped and why. Null when
 * the folder holds no checkpoint at all; a CheckpointError when it holds some but none loads.
 */
export async function loadTrainingCheckpoint(dir: string, onWarning: (msg: string) => void = () => {}): Promise<LoadedCheckpoint | null> {
  const latest = await latestName(dir);
  const folders = await checkpointFolders(dir);
  if (!latest && folders.length === 0) return null;
  const skipped: string[] = [];
  if (latest && 'problem' in latest) skipped.push(latest.problem);
  const order = [
    ...(latest && 'name' in latest ? [latest.name] : []),
    ...folders.reverse().filter((f) => !(latest && 'name' in latest && f === latest.name)),
  ];
  for (const name of order) {
    try {
      const ck = await loadFolder(dir, name);
      if (skipped.length) onWarning(`${dir}: resuming from ${name} (step ${ck.state.step}) because ${skipped.join('; ')}`);
      return ck;
    } catch (e) {
      skipped.push(`${name} does not load (${(e as Error).message})`);
    }
  }
  throw new CheckpointError(
    `${dir}: no checkpoint loads: ${skipped.join('; ')}. ` +
      "Either start over (force: deletes the run folder's checkpoints, log, config and weights) or put back a checkpoint folder that loads.",
  );
}

/** Deletes checkpoints written after `step`: after resuming at `step` they describe a discarded future. */
export async function removeCheckpointsAfter(dir: string, step: number): Promise<string[]> {
  const later = (await checkpointFolders(dir)).filter((f) => Number(FOLDER.exec(f)![1]) > step);
  for (const f of later) await rm(join(dir, f), { recursive: true, force: true });
  return later;
}
