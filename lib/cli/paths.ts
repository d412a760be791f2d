// Checks of path flags before any work starts, so no input can hang the run (a FIFO given as a
// file blocks its reader forever) and no output problem shows up after hours of training.
import { closeSync, constants, mkdirSync, openSync, statSync, unlinkSync, writeSync, type Stats } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import type { FlagSpec } from './flags.js';
import { RunError, UsageError } from './errors.js';

function kind(st: Stats): string {
  if (st.isDirectory()) return 'a folder';
  if (st.isFIFO()) return 'a FIFO';
  if (st.isSocket()) return 'a socket';
  if (st.isCharacterDevice() || st.isBlockDevice()) return 'a device';
  return 'not a regular file';
}

function statOrUndefined(path: string, flag: string): Stats | undefined {
  try {
    return statSync(path);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return undefined;
    if (code === 'ENOTDIR') throw new UsageError(`${flag} ${path}: a part of the path is a file, not a folder`);
    throw new RunError(`${flag} ${path}: ${(e as Error).message}`);
  }
}

/** An existing regular file or folder, as the spec says; missing is a runtime error, the wrong kind a usage error. */
export function checkInput(name: string, s: FlagSpec, path: string): void {
  const flag = `--${name}`;
  const st = statOrUndefined(path, flag);
  const what = s.what ?? (s.type === 'in-dir' ? 'folder' : 'file');
  if (!st) throw new RunError(`${what} ${path} not found (${flag})`);
  if (s.type === 'in-dir' ? !st.isDirectory() : !st.isFile())
    throw new UsageError(
      `${flag} ${path} is ${st.isFile() ? 'a file' : kind(st)}, expected ${s.type === 'in-dir' ? 'a folder' : `a regular file (${what})`}`,
    );
}

/**
 * mkdir -p one level at a time: Node's recursive mkdir never returns for a path under /proc (it
 * retries the ENOENT forever), so `--out /proc/x` would hang.
 */
function makeDirs(dir: string, flag: string): void {
  const abs = resolve(dir);
  const st = statOrUndefined(abs, flag);
  if (st) {
    if (!st.isDirectory()) throw new UsageError(`${flag} ${dir} is ${st.isFile() ? 'a file' : kind(st)}, expected a folder`);
    return;
  }
  const parent = dirname(abs);
  if (parent !== abs) makeDirs(parent, flag);
  try {
    mkdirSync(abs);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EEXIST')
      throw new UsageError(`${flag} ${dir}: cannot create the folder (${(e as Error).message})`);
  }
}

/** Writes and removes a small file in `dir`: permissions alone do not tell (root, read-only mounts, /proc). */
function probeWrite(dir: string, flag: string, shown: string): void {
  const probe = join(dir, `.mvd-write-probe-${process.pid}`);
  try {
    const fd = openSync(probe, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NONBLOCK);
    try {
      writeSync(fd, 'x');
    } finally {
      closeSync(fd);
    }
    unlinkSync(probe);
  } catch (e) {
    throw new UsageError(`${flag} ${shown}: the folder is not writable (${(e as Error).message})`);
  }
}

/** Creates the output folder (or the folder of an output file) and proves it writable. */
export function prepareOutput(name: string, s: FlagSpec, path: string): void {
  const flag = `--${name}`;
  if (s.type === 'out-dir') {
    makeDirs(path, flag);
    probeWrite(path, flag, path);
    return;
  }
  const st = statOrUndefined(path, flag);
  if (st && !st.isFile()) throw new UsageError(`${flag} ${path} is ${kind(st)}, expected a file path to write`);
  makeDirs(dirname(resolve(path)), flag);
  probeWrite(dirname(resolve(path)), flag, path);
}
