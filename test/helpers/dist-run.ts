// Starts test/helpers/dist-worker.ts as `ranks` MPI processes (0: one plain process, no launcher)
// and collects each rank's JSON result from its own file (mpirun may interleave long stdout lines).
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const worker = fileURLToPath(new URL('./dist-worker.ts', import.meta.url));

export const hasMpirun = spawnSync('mpirun', ['--version'], { encoding: 'utf8' }).status === 0;

/** The environment for the ranks: root allowed, one OpenMP thread each (two ranks share two cores), no inherited launch. */
export function rankEnv(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    OMPI_ALLOW_RUN_AS_ROOT: '1',
    OMPI_ALLOW_RUN_AS_ROOT_CONFIRM: '1',
    OMP_NUM_THREADS: '1',
    OMPI_MCA_btl_vader_single_copy_mechanism: 'none',
    ...extra,
  };
  for (const k of ['OMPI_COMM_WORLD_SIZE', 'PMIX_SIZE', 'PMI_SIZE', 'SLURM_NTASKS']) delete env[k];
  return env;
}

export interface Run {
  status: number | null;
  signal: string | null;
  stderr: string;
  seconds: number;
  lines: Record<string, unknown>[];
}

export function runRanks(ranks: number, mode: string, opts: object, env: NodeJS.ProcessEnv, timeoutMs = 60_000): Run {
  const out = mkdtempSync(join(tmpdir(), 'mvd-ddp-out-'));
  const node = [process.execPath, ...process.execArgv, worker, mode, JSON.stringify({ ...opts, out })];
  const cmd = ranks === 0 ? node : ['mpirun', '-np', String(ranks), '--oversubscribe', ...node];
  const t0 = performance.now();
  const r = spawnSync(cmd[0], cmd.slice(1), { env, encoding: 'utf8', timeout: timeoutMs, maxBuffer: 1 << 26 });
  const lines = readdirSync(out)
    .sort()
    .map((f) => JSON.parse(readFileSync(join(out, f), 'utf8')) as Record<string, unknown>);
  rmSync(out, { recursive: true, force: true });
  return { status: r.status, signal: r.signal, stderr: r.stderr, seconds: (performance.now() - t0) / 1000, lines };
}
