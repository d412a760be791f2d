// Collectives on tensors, across the ranks of the job (world.ts). Each call is one task on the
// tensors' device queue, so it runs after the ops that wrote its inputs and before the ops that
// read its results, like any other op; nothing blocks the JS thread. Every rank must issue the
// same collectives in the same order (as with MPI and NCCL themselves).
import { Tensor, sync, type DType } from '../tensor.js';
import { collectives, type ReduceOp } from './native.js';
import { world } from './world.js';

/** In place: every tensor becomes the sum (or mean, f32/bf16 only) of its copies on all ranks. One list is one bucket. */
export function allReduce(tensors: Tensor | readonly Tensor[], op: ReduceOp = 'sum'): void {
  collectives().allReduce(Array.isArray(tensors) ? tensors : [tensors as Tensor], op);
}

/** In place: every rank's tensors take rank `root`'s values. */
export function broadcast(tensors: Tensor | readonly Tensor[], root = 0): void {
  collectives().broadcast(Array.isArray(tensors) ? tensors : [tensors as Tensor], root);
}

/** A new tensor [world, ...shape]: row r is rank r's `t`. Shapes must agree on every rank. */
export function allGather<D extends DType>(t: Tensor<D>): Tensor<D> {
  return Tensor.fromNative<D>(collectives().allGather(t));
}

/** Resolves once every rank has reached this point in `device`'s queue. */
export async function barrier(device = 'cpu'): Promise<void> {
  collectives().barrier(device);
  await sync(device);
}

/** The element-wise mean of `values` over the ranks (f32 on the CPU; a copy when alone). */
export async function averageNumbers(values: readonly number[]): Promise<number[]> {
  if (world().size === 1 || values.length === 0) return [...values];
  using t = Tensor.fromArray(Float32Array.from(values), [values.length], { device: 'cpu' });
  allReduce(t, 'avg');
  return Array.from(await t.toArray());
}

/** A bucket's all-reduce in flight (startAllReduce); finish() queues the write-back of its result. */
export interface PendingReduce {
  finish(): void;
}

/**
 * The first half of allReduce: queued after the ops that wrote `tensors`, it hands them to a
 * separate reduction thread, so the ops queued after it run while the reduction is in flight.
 * `finish()` queues the second half (wait, write back); nothing may write the tensors between the two.
 */
export function startAllReduce(tensors: readonly Tensor[], op: ReduceOp = 'sum'): PendingReduce {
  const id = collectives().allReduceStart(tensors, op);
  return { finish: () => collectives().allReduceFinish(id) };
}
