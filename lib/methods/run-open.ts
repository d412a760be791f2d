// Opening a run folder for train(): lock it, sweep what a killed run left, then either start a new
// run (refusing to write over an existing one unless told to start over) or pick the checkpoint to
// resume, check the configuration against it and cut the log back to it. Nothing that happens here
// is silent: every repair goes to the warning callback.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { removeTemporaries, writeFileAtomic } from '../io/atomic.js';
import { lockRunFolder, existingRunFiles, clearRunFiles, truncateLog, RunFolderError, RUN_FILES } from '../io/run-folder.js';
import { loadTrainingCheckpoint, markLatest, removeCheckpointsAfter, type LoadedCheckpoint } from '../io/training-checkpoint.js';
import { configChanges, describeChanges, ResumeConfigError, type Change } from './resume-check.js';

export interface RunFolder {
  dir: string;
  checkpoints: string;
  log: string;
  /** The step the run continues from (0 for a new run). */
  start: number;
  /** The checkpoint resumed from; its tensors are the caller's to dispose. */
  checkpoint: LoadedCheckpoint | null;
  /** Hyper-parameter changes accepted with `override` (empty otherwise). */
  overrides: Record<string, Change>;
  release(): Promise<void>;
}

export interface OpenOptions {
  resume?: boolean;
  force?: boolean;
  override?: boolean;
  /** The caller's description of the run (the CLI's options); compared on resume when given. */
  config?: unknown;
  /** The loop's own hyper-parameters; compared on resume when there is no config. */
  hyper: Record<string, unknown>;
  warn: (msg: string) => void;
}

async function readConfigJson(path: string, warn: (msg: string) => void): Promise<unknown> {
  try {
    return JSON.parse(await readFile(path, 'utf8'));
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT')
      warn(`${path} is unreadable (${(e as Error).message}); the configuration is not compared`);
    return undefined;
  }
}

export async function openRunFolder(dir: string, o: OpenOptions): Promise<RunFolder> {
  const checkpoints = join(dir, 'checkpoints'),
    log = join(dir, 'log.jsonl'),
    configPath = join(dir, 'config.json');
  const release = await lockRunFolder(dir);
  let checkpoint: LoadedCheckpoint | null = null;
  try {
    const swept = [...(await removeTemporaries(dir)), ...(await removeTemporaries(checkpoints))];
    if (swept.length) o.warn(`${dir}: removed ${swept.length} temporaries an interrupted run left (${swept.join(', ')})`);
    let start = 0;
    let overrides: Record<string, Change> = {};
    if (!o.resume) {
      const held = existingRunFiles(dir);
      if (held.length && !o.force)
        throw new RunFolderError(
          `${dir} already holds a run (${held.join(', ')}). Continue it with resume (--resume), ` +
            `or start over with force (--force), which deletes ${RUN_FILES.join(', ')} there`,
        );
      if (held.length) {
        await clearRunFiles(dir);
        o.warn(`${dir}: force: deleted the previous run's ${held.join(', ')}`);
      }
    } else {
      checkpoint = await loadTrainingCheckpoint(checkpoints, o.warn);
      start = checkpoint?.state.step ?? 0;
      if (!checkpoint) o.warn(`${dir}: resume: no checkpoint there yet; starting at step 0`);
      overrides = await compareConfig(dir, checkpoint, configPath, o);
      const cut = await truncateLog(log, start);
      if (cut.later || cut.torn)
        o.warn(
          `${log}: dropped ${cut.later} records of steps after ${start} (run again now)${cut.torn ? ` and ${cut.torn} torn lines` : ''}`,
        );
      const later = await removeCheckpointsAfter(checkpoints, start);
      if (later.length)
        o.warn(`${checkpoints}: removed ${later.join(', ')}, written after step ${start}, the step this run continues from`);
      // After a fallback latest.json still names the damaged checkpoint; a kill before the next save
      // would otherwise repeat the fallback and its warning.
      if (checkpoint) await markLatest(checkpoints, start);
    }
    if (o.config !== undefined) await writeFileAtomic(configPath, [JSON.stringify(o.config, null, 2)]);
    return { dir, checkpoints, log, start, checkpoint, overrides, release };
  } catch (e) {
    for (const t of checkpoint?.model.values() ?? []) t.dispose();
    for (const t of checkpoint?.optimizer.values() ?? []) t.dispose();
    await release();
    throw e;
  }
}

/** The accepted changes (with `override`); a ResumeConfigError without it. */
async function compareConfig(
  dir: string,
  ck: LoadedCheckpoint | null,
  configPath: string,
  o: OpenOptions,
): Promise<Record<string, Change>> {
  const [stored, now] =
    o.config !== undefined ? [ck?.state.config ?? (await readConfigJson(configPath, o.warn)), o.config] : [ck?.state.train, o.hyper];
  if (stored === undefined || stored === null) {
    if (ck) o.warn(`${dir}: ${ck.path} records no configuration; the new one is not compared`);
    return {};
  }
  const changes = configChanges(stored, now);
  if (Object.keys(changes).length === 0) return {};
  const at = ck ? `step ${ck.state.step}` : 'its start';
  if (!o.override)
    throw new ResumeConfigError(
      `${dir}: resume with a configuration different from the run's (at ${at}), old → new: ${describeChanges(changes)}. ` +
        "Resume with the run's values, or pass override (--override) to continue with the new ones (recorded in log.jsonl).",
    );
  o.warn(`${dir}: override: continuing from ${at} with changed settings, old → new: ${describeChanges(changes)}`);
  return changes;
}
