// Atomic file writes: write a temporary file beside the target, fsync it, then rename over the
// target. A crash at any point leaves either the old file or the new one, never a torn file; what
// a killed process leaves is only its temporaries, which `removeTemporaries` finds by name.
import { open, readdir, rename, rm } from 'node:fs/promises';
import { dirname, basename, join } from 'node:path';

/** `.<target>.tmp-<pid>` or `.<target>.tmp-<pid>-<ms>`: the only names temporaries here get. */
const TEMP_NAME = /^\..+\.tmp-\d+(-\d+)?$/;

/** The temporary name for `target` in `dir` owned by this process (unique per call when `unique`). */
export function temporaryName(dir: string, target: string, unique = true): string {
  return join(dir, `.${target}.tmp-${process.pid}${unique ? `-${Date.now()}` : ''}`);
}

export async function writeFileAtomic(path: string, chunks: (Uint8Array | string)[]): Promise<void> {
  const tmp = temporaryName(dirname(path), basename(path));
  const fh = await open(tmp, 'w');
  try {
    for (const c of chunks) await fh.write(typeof c === 'string' ? Buffer.from(c) : c);
    await fh.sync();
  } catch (e) {
    await fh.close().catch(() => {});
    await rm(tmp, { force: true });
    throw e;
  }
  await fh.close();
  await rename(tmp, path);
}

/**
 * Deletes every temporary (file or folder) in `dir` and returns their names. Only for a folder
 * this process owns exclusively (a locked run folder): a temporary there belongs to an earlier,
 * dead writer, since no two processes write the same run.
 */
export async function removeTemporaries(dir: string): Promise<string[]> {
  let names: string[];
  try {
    names = (await readdir(dir)).filter((n) => TEMP_NAME.test(n));
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw e;
  }
  for (const n of names) await rm(join(dir, n), { recursive: true, force: true });
  return names;
}
