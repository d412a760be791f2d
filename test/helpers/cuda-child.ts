// CUDA tests through the addon run in a child process, because the addon is chosen once, at load
// time: by default the emulated addon (npm run build:simt: every .cu compiled by g++ against the
// SIMT emulator), or with MVD_TEST_CUDA=native the normal build on a real GPU (npm run test:gpu).
// A test file is both the parent (tap) and, with MVD_CUDA_CHILD=1, the child, which prints its
// checks as one JSON line.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export interface Check {
  name: string;
  ok: boolean;
  detail?: string;
}

const root = join(fileURLToPath(import.meta.url), '..', '..', '..');
export const emulatedAddon = join(root, 'build-simt', 'Release', 'mvd.node');
const native = process.env.MVD_TEST_CUDA === 'native';

export const isCudaChild = process.env.MVD_CUDA_CHILD === '1';

/** Collects checks in the child and prints them; an exception becomes a failed check. */
export async function childChecks(body: (check: (name: string, ok: boolean, detail?: string) => void) => Promise<void>): Promise<void> {
  const checks: Check[] = [];
  try {
    await body((name, ok, detail = '') => checks.push({ name, ok, detail }));
  } catch (err) {
    checks.push({ name: 'no unexpected exception', ok: false, detail: (err as Error).stack ?? String(err) });
  }
  process.stdout.write(`${JSON.stringify(checks)}\n`);
}

/** In the parent: runs `file` as the child and turns each of its checks into a tap assertion. */
export async function runInCudaChild(file: string, title: string, timeoutMs = 300_000): Promise<void> {
  const t = (await import('tap')).default;
  if (!native && !existsSync(emulatedAddon)) {
    t.test(title, { skip: `emulated addon not built (${emulatedAddon} missing; run npm run build:simt)` }, (t) => {
      t.end();
    });
    return;
  }
  t.test(title, (t) => {
    const env: NodeJS.ProcessEnv = { ...process.env, MVD_CUDA_CHILD: '1' };
    if (!native) env.MVD_ADDON_PATH = emulatedAddon;
    const r = spawnSync(process.execPath, [...process.execArgv, file], { env, encoding: 'utf8', timeout: timeoutMs, maxBuffer: 1 << 26 });
    let checks: Check[] = [];
    try {
      checks = JSON.parse(r.stdout.trim().split('\n').pop() ?? '');
    } catch {
      t.fail(`child gave no results (status ${r.status}, signal ${r.signal}): ${r.stderr.slice(-2000)}`);
    }
    for (const c of checks) t.ok(c.ok, c.name, { diagnostic: !c.ok, detail: c.detail });
    t.end();
  });
}
