// Atomic file writes: write a temporary file beside the target, fsync it, then rename over the
// target. A crash at any point leaves either the old file or the new one, never a torn file.
import { open, rename, rm } from 'node:fs/promises';
import { dirname, basename, join } from 'node:path';

export async function writeFileAtomic(path: string, chunks: (Uint8Array | string)[]): Promise<void> {
  const tmp = join(dirname(path), `.${basename(path)}.tmp-${process.pid}-${Date.now()}`);
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
