// LayerNorm over the last dimension (SPEC §1.3: the released models use eps 1e-6).
import { addon } from '../native.js';
import { Tensor } from '../tensor.js';

/**
 * y = (x − mean)/sqrt(var + eps) · weight + bias over the last dimension D of x [..., D]
 * (biased variance, as nn.LayerNorm). weight and bias are [D], both given or both null.
 * mean and rstd ([rows], rows = numel / D) are kept for the backward.
 */
export function layerNormForward(
  x: Tensor,
  weight: Tensor | null,
  bias: Tensor | null,
  eps: number,
): { y: Tensor<'f32'>; mean: Tensor<'f32'>; rstd: Tensor<'f32'> } {
  const r = addon().layerNormForward(x, weight, bias, eps);
  return { y: Tensor.fromNative(r.y), mean: Tensor.fromNative(r.mean), rstd: Tensor.fromNative(r.rstd) };
}

/** Gradients of layerNormForward; dWeight/dBias are null when weight is null. */
export function layerNormBackward(
  dy: Tensor,
  x: Tensor,
  mean: Tensor,
  rstd: Tensor,
  weight: Tensor | null,
): { dx: Tensor<'f32'>; dWeight: Tensor<'f32'> | null; dBias: Tensor<'f32'> | null } {
  const r = addon().layerNormBackward(dy, x, mean, rstd, weight);
  return {
    dx: Tensor.fromNative(r.dx),
    dWeight: r.dWeight ? Tensor.fromNative(r.dWeight) : null,
    dBias: r.dBias ? Tensor.fromNative(r.dBias) : null,
  };
}
