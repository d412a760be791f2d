// Data-parallel training on top of the collectives: the same initial weights on every rank, and
// gradients averaged over the ranks in buckets before the optimiser reads them. Because every rank
// then holds identical gradients, the global-norm clipping, the finiteness check and the update
// agree on all ranks without further communication.
import type { Module, Parameter } from '../nn/module.js';
import type { StepRng } from '../nn/layers.js';
import type { AdamW } from '../optim/adamw.js';
import { Tensor } from '../tensor.js';
import { ValueError } from '../errors.js';
import { allReduce, broadcast } from './collectives.js';
import { world } from './world.js';

/** Bucket size for gradient all-reduce: big enough that per-call latency is amortised, small
 *  enough that the staging copy stays in cache-friendly pieces (PyTorch DDP's default, 25 MB). */
export const BUCKET_BYTES = 25 * 2 ** 20;

/** Bytes per element of each dtype (bucket sizes). */
export const BYTES: Record<string, number> = { f32: 4, bf16: 2, u8: 1, i32: 4 };

/**
 * Consecutive runs of tensors of one dtype and device, each at most `bytes` (a tensor larger than
 * that is a bucket of its own). The order is the caller's, so every rank forms the same buckets.
 */
export function buckets(tensors: readonly Tensor[], bytes = BUCKET_BYTES): Tensor[][] {
  const out: Tensor[][] = [];
  let cur: Tensor[] = [],
    size = 0;
  for (const t of tensors) {
    const b = t.numel * BYTES[t.dtype];
    const head = cur[0];
    if (head && (head.dtype !== t.dtype || head.device !== t.device || size + b > bytes)) {
      out.push(cur);
      cur = [];
      size = 0;
    }
    cur.push(t);
    size += b;
  }
  if (cur.length) out.push(cur);
  return out;
}

/** Rank 0's parameter values (trainable and frozen) on every rank: one starting model for all. */
export function broadcastParameters(model: Module): void {
  if (world().size === 1) return;
  for (const b of buckets(model.namedParameters().map(([, p]) => p.value))) broadcast(b, 0);
}

/** Every gradient becomes its mean over the ranks, one queued all-reduce per bucket. */
export function averageGradients(params: readonly Parameter[]): void {
  if (world().size === 1) return;
  const grads = params.filter((p) => p.hasGrad).map((p) => p.grad!);
  for (const b of buckets(grads)) allReduce(b, 'avg');
}

/**
 * Checks that every rank has gradients for the same parameters before they are reduced together
 * (a rank with a different set would pair the wrong tensors, or wait forever). `counts` is the
 * per-rank count of parameters with gradients, averaged over ranks: equal to the local count on
 * every rank exactly when all counts are equal.
 */
export function checkGradientSets(local: number, averaged: number): void {
  if (local !== averaged)
    throw new ValueError(
      `data-parallel step: this rank (${world().rank}) has gradients for ${local} parameters but the ranks average ${averaged}; ` +
        'every rank must compute gradients for the same parameters (is a branch of the model data-dependent?)',
      { op: 'train' },
    );
}

/** What a data-parallel run starts from, as rank 0 has it (from its checkpoint, or fresh). */
export interface StartState {
  model: Module;
  opt: AdamW;
  named: [string, Parameter][];
  start: number;
  rngs: StepRng[];
}

/**
 * Makes every rank start where rank 0 does: the step, the optimiser's step and moments, the
 * drop-path generators and every parameter. Only rank 0 opens the run folder (it alone writes
 * it), so a checkpoint written by any number of ranks resumes on any number. Returns the step.
 */
export async function shareStartState(s: StartState): Promise<number> {
  if (world().size === 1) return s.start;
  // u32 generator states travel as i32 bit patterns.
  const header = Int32Array.from([s.start, s.opt.step, s.opt.hasMoments ? 1 : 0, s.rngs.length, ...s.rngs.map((r) => r.state | 0)]);
  let v: Int32Array;
  {
    using h = Tensor.fromArray(header, [header.length], { device: 'cpu' });
    broadcast(h, 0);
    v = await h.toArray();
  }
  if (v[3] !== s.rngs.length)
    throw new ValueError(
      `data-parallel start: rank 0's model has ${v[3]} drop-path generators, rank ${world().rank}'s has ${s.rngs.length}; every rank must build the same model`,
      { op: 'train' },
    );
  s.opt.step = v[1];
  s.rngs.forEach((r, i) => (r.state = v[4 + i] >>> 0));
  broadcastParameters(s.model);
  if (v[2]) for (const b of buckets(s.opt.allMoments(s.named))) broadcast(b, 0);
  return v[0];
}
