// Optimiser-step kernels over lists of tensors (SPEC §3.7). Each call is one queued task.
import { addon } from '../native.js';
import { Tensor } from '../tensor.js';

/** Options of the fused AdamW op: per-tensor lr and weight decay, betas, eps, step, gradient scale. */
export interface AdamWOptions {
  /** Learning rate per tensor (expand per-group values in the caller). */
  lr: number[];
  /** Weight decay per tensor (0 for biases, norms and the other no-decay parameters). */
  weightDecay: number[];
  beta1: number;
  beta2: number;
  eps: number;
  /** 1-based step number, for the bias corrections. */
  step: number;
  /** Grads are multiplied by this first (e.g. 1/lossScale); default 1. */
  gradScale?: number;
}

/**
 * torch.optim.AdamW in place: p ← p·(1 − lr·wd); m ← β1·m + (1−β1)·g; v ← β2·v + (1−β2)·g²;
 * p ← p − lr/(1−β1^t) · m / (sqrt(v)/sqrt(1−β2^t) + eps).
 */
export function adamw(params: Tensor[], grads: Tensor[], m: Tensor[], v: Tensor[], opts: AdamWOptions): void {
  const { lr, weightDecay, beta1, beta2, eps, step, gradScale = 1 } = opts;
  addon().adamw(params, grads, m, v, { lr, weightDecay, beta1, beta2, eps, step, gradScale });
}

/** Global L2 norm of every element of every tensor, f32 [1] (accumulated in double). */
export function gradNorm(grads: Tensor[]): Tensor<'f32'> {
  return Tensor.fromNative(addon().gradNorm(grads));
}

/** f32 [1]: 1 when every element is finite, else 0 (dynamic loss scaling). */
export function allFinite(tensors: Tensor[]): Tensor<'f32'> {
  return Tensor.fromNative(addon().allFinite(tensors));
}

/** Multiplies every tensor by s in place (clipping, unscaling). */
export function scaleTensors(tensors: Tensor[], s: number): void {
  addon().scaleTensors(tensors, s);
}
