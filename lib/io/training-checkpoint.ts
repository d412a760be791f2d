// Training checkpoints: a folder written under a temporary name and renamed into place, with
// `latest.json` (itself written atomically) naming the newest complete one. A crash at any point
// leaves the previous checkpoint loadable.
import { mkdir, readFile, rename, rm, readdir } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { Tensor } from '../tensor.js';
import { ValueError } from '../errors.js';
import { loadSafetensors, saveSafetensors } from './safetensors.js';
import { writeFileAtomic } from './atomic.js';

export interface TrainingState {
  step: number;
  epoch: number;
  /** Position inside the epoch (batches done), to resume mid-epoch. */
  batchInEpoch: number;
  rng: Record<string, number>;
  config: unknown;
  metrics?: Record<string, number>;
}

/** Writes `dir/checkpoint-<step>/` completely, then points `dir/latest.json` at it; keeps the newest `keep`. */
export async function saveTrainingCheckpoint(dir: string, parts: { model: Map<string, Tensor>; optimizer: Map<string, Tensor>; state: TrainingState }, keep = 2): Promise<string> {
  await mkdir(dir, { recursive: true });
  const name = `checkpoint-${String(parts.state.step).padStart(8, '0')}`;
  const tmp = join(dir, `.${name}.tmp-${process.pid}`);
  await rm(tmp, { recursive: true, force: true });
  await mkdir(tmp);
  await saveSafetensors(join(tmp, 'model.safetensors'), parts.model);
  await saveSafetensors(join(tmp, 'optimizer.safetensors'), parts.optimizer);
  await writeFileAtomic(join(tmp, 'state.json'), [JSON.stringify(parts.state, null, 1)]);
  const final = join(dir, name);
  await rm(final, { recursive: true, force: true });
  await rename(tmp, final);
  await writeFileAtomic(join(dir, 'latest.json'), [JSON.stringify({ checkpoint: name, step: parts.state.step })]);
  const all = (await readdir(dir)).filter((f) => /^checkpoint-\d+$/.test(f)).sort();
  for (const old of all.slice(0, Math.max(0, all.length - keep))) if (old !== name) await rm(join(dir, old), { recursive: true, force: true });
  return final;
}

export async function loadTrainingCheckpoint(dir: string): Promise<{ path: string; model: Map<string, Tensor>; optimizer: Map<string, Tensor>; state: TrainingState } | null> {
  const latest = join(dir, 'latest.json');
  if (!existsSync(latest)) return null;
  let name: string;
  try {
    name = JSON.parse(await readFile(latest, 'utf8')).checkpoint;
  } catch (e) {
    throw new ValueError(`${latest} is unreadable (${(e as Error).message}); remove it to start over`);
  }
  const path = join(dir, name);
  const state = JSON.parse(await readFile(join(path, 'state.json'), 'utf8')) as TrainingState;
  const model = (await loadSafetensors(join(path, 'model.safetensors'))).tensors;
  const optimizer = (await loadSafetensors(join(path, 'optimizer.safetensors'))).tensors;
  return { path, model, optimizer, state };
}
