// The typed boundary of the addon's collective bindings (native/binding/ops_collectives.cc).
import { addon, type NativeAddon } from '../native.js';

export interface NativeWorld {
  rank: number;
  size: number;
  /** Rank among this node's processes, and their count (one GPU per local rank). */
  localRank: number;
  localSize: number;
  /** MPI is initialised (false: a single process without MPI). */
  mpi: boolean;
}

export interface DistributedInfo {
  /** The addon links MPI. */
  mpiCompiled: boolean;
  /** The MPI library's own version line, or why there is none. */
  mpiLibrary: string;
  /** How CUDA tensors are reduced: NCCL, or host staging through MPI (with NCCL's reason). */
  cudaPath: string;
  world: NativeWorld;
}

export type ReduceOp = 'sum' | 'avg';

/** The collective bindings, declared with the rest of the addon in lib/native.ts's NativeAddon. */
export type CollectiveAddon = Pick<
  NativeAddon,
  | 'initDistributed'
  | 'finalizeDistributed'
  | 'abortDistributed'
  | 'distributedInfo'
  | 'allReduce'
  | 'allReduceStart'
  | 'allReduceFinish'
  | 'broadcast'
  | 'allGather'
  | 'barrier'
>;

export function collectives(): CollectiveAddon {
  return addon();
}
