// Which process of a data-parallel job this is. The launcher decides (mpirun, srun --mpi=pmix):
// its environment says a multi-process launch happened, and MPI then gives rank and world. No
// launcher: one process, MPI never initialised, every collective the identity.
import { DeviceError } from '../errors.js';
import { collectives, type NativeWorld } from './native.js';

export type World = Readonly<NativeWorld>;

const SINGLE: World = { rank: 0, size: 1, localRank: 0, localSize: 1, mpi: false };

/** The process count a launcher announced in `env` (1 when none did), and which variable said so. */
export function launchedSize(env: NodeJS.ProcessEnv = process.env): { size: number; source: string | null } {
  for (const key of ['OMPI_COMM_WORLD_SIZE', 'PMIX_SIZE', 'PMI_SIZE', 'SLURM_NTASKS']) {
    const v = env[key];
    if (v !== undefined && /^\d+$/.test(v)) return { size: Number(v), source: key };
  }
  return { size: 1, source: null };
}

let current: World | null = null;

/**
 * Joins the job (once per process; later calls return the same world). Under an MPI launcher
 * this initialises MPI, and MPI_Finalize runs when the process exits. A launch of more than one
 * process with an addon built without MPI is a DeviceError: running N independent copies that
 * each believe they are alone would silently train N different models.
 */
export function initDistributed(env: NodeJS.ProcessEnv = process.env): World {
  if (current) return current;
  const launched = launchedSize(env);
  const native = collectives();
  // An addon from before the collectives existed has no MPI either; alone, it needs none.
  const hasBindings = typeof native.distributedInfo === 'function';
  const mpiCompiled = hasBindings && native.distributedInfo().mpiCompiled;
  if (launched.size > 1 && !mpiCompiled)
    throw new DeviceError(
      `mvd: launched as ${launched.size} processes (${launched.source}=${launched.size}) but this addon was built without MPI; ` +
        'rebuild it with MPI installed (libopenmpi-dev; `mvd info` then shows mpi), or run a single process',
      { op: 'initDistributed' },
    );
  // An MPI launcher of any size (mpirun -np 1 too) gets MPI, so the same command line behaves alike.
  // (SLURM_NTASKS=1 alone is a batch script, not a launch.)
  const useMpi = launched.size > 1 || (mpiCompiled && launched.source !== null && launched.source !== 'SLURM_NTASKS');
  const w = hasBindings ? native.initDistributed(useMpi) : SINGLE;
  current = Object.freeze({ ...w });
  if (w.mpi) onMpiStarted(w);
  return current;
}

/** The world joined so far: the single-process world until initDistributed() runs. */
export function world(): World {
  return current ?? SINGLE;
}

export function isRankZero(): boolean {
  return world().rank === 0;
}

function onMpiStarted(w: World): void {
  // mpirun reports any rank that exits without MPI_Finalize as failed.
  process.once('exit', () => collectives().finalizeDistributed());
  // When another rank fails, mpirun's abort sends SIGTERM: say why on this rank and end it at once
  // (the worker may sit in a collective that never completes, so a normal exit could wait forever).
  process.prependListener('SIGTERM', () => {
    process.stderr.write(`mvd: rank ${w.rank} of ${w.size}: stopped by the MPI launcher (another rank failed or the job was cancelled)\n`);
    collectives().abortDistributed(143, false);
  });
}

/**
 * Ends every rank of the job after an error on this one: MPI_Abort makes mpirun stop the others
 * within seconds, where a plain exit would leave them waiting in their next collective forever.
 * A single process just exits.
 */
export function abortJob(err: unknown, code = 1): never {
  const w = world();
  const msg = err instanceof Error ? err.message : String(err);
  process.stderr.write(`mvd: rank ${w.rank} of ${w.size} failed: ${msg}\n`);
  if (!w.mpi || w.size === 1) process.exit(code);
  return collectives().abortDistributed(code, true);
}
