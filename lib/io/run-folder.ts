// A run folder (--out RUN) holds one run, written by one process at a time: a lock file names the
// process, so whatever temporaries the folder holds when the lock is taken were left by a dead
// writer and can go. Starting a second run in an occupied folder is refused unless the caller asks
// to start over; a resumed run cuts its log back to the checkpoint it continues from.
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { ValueError } from '../errors.js';
import { writeFileAtomic } from './atomic.js';

/** The run folder is in use by another process, or holds a run the caller neither resumes nor replaces. */
export class RunFolderError extends ValueError {}

/** What a run writes into its folder; starting over (`force`) deletes exactly these. */
export const RUN_FILES = ['config.json', 'log.jsonl', 'checkpoints', 'model.safetensors'] as const;

const LOCK = '.lock';

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    // EPERM: the process exists but belongs to someone else.
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Takes the folder's lock (creating the folder); returns its release. A lock whose process is
 * dead (a killed run) is taken over; one held by a live process is a RunFolderError.
 */
export async function lockRunFolder(dir: string): Promise<() => Promise<void>> {
  await mkdir(dir, { recursive: true });
  const path = join(dir, LOCK);
  const me = String(process.pid);
  try {
    await writeFile(path, me, { flag: 'wx' });
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    const owner = Number((await readFile(path, 'utf8').catch(() => '')).trim());
    if (Number.isInteger(owner) && owner > 0 && owner !== process.pid && alive(owner))
      throw new RunFolderError(
        `run folder ${dir} is in use by process ${owner} (lock ${path}); wait for that run to end, ` +
          `or delete ${path} if process ${owner} is not training there`,
      );
    await writeFile(path, me);
  }
  return async () => {
    if ((await readFile(path, 'utf8').catch(() => '')) === me) await rm(path, { force: true });
  };
}

/** Which of RUN_FILES the folder holds. */
export function existingRunFiles(dir: string): string[] {
  return RUN_FILES.filter((f) => existsSync(join(dir, f)));
}

/** Deletes RUN_FILES (nothing else the folder may hold). */
export async function clearRunFiles(dir: string): Promise<void> {
  for (const f of RUN_FILES) await rm(join(dir, f), { recursive: true, force: true });
}

/**
 * Rewrites the JSON-lines log without the records of steps after `step` (they are about to be
 * run again) and without torn lines (a record cut short by a kill). Atomic: a crash leaves the
 * old log or the new one. Returns how many lines went.
 */
export async function truncateLog(path: string, step: number): Promise<{ later: number; torn: number }> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return { later: 0, torn: 0 };
    throw e;
  }
  const kept: string[] = [];
  let later = 0,
    torn = 0;
  for (const line of text.split('\n')) {
    if (!line.trim()) continue;
    let rec: { step?: unknown };
    try {
      rec = JSON.parse(line);
    } catch {
      torn++;
      continue;
    }
    if (typeof rec?.step === 'number' && rec.step > step) later++;
    else kept.push(line);
  }
  if (later || torn) await writeFileAtomic(path, [kept.map((l) => `${l}\n`).join('')]);
  return { later, torn };
}
