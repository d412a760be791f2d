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
  const r = addon().layerNormForward(x, { weight, bias, eps });
  return { y: Tensor.fromNative(r.y), mean: Tensor.fromNative(r.mean), rstd: Tensor.fromNative(r.rstd) };
}

/**
 * The residual add of a pre-norm block and the LayerNorm after it in one pass: sum = x + residual
 * (same shape), and layerNormForward of that sum. The backward of the pair is layerNormBackward
 * given the sum as x and, as dResidual, the gradient that reaches the sum by the residual path.
 */
export function addLayerNormForward(
  x: Tensor,
  residual: Tensor,
  weight: Tensor | null,
  bias: Tensor | null,
  eps: number,
): { sum: Tensor<'f32'>; y: Tensor<'f32'>; mean: Tensor<'f32'>; rstd: Tensor<'f32'> } {
  const r = addon().layerNormForward(x, { weight, bias, eps, residual });
  // With a residual the binding always returns the sum.
  return { sum: Tensor.fromNative(r.sum!), y: Tensor.fromNative(r.y), mean: Tensor.fromNative(r.mean), rstd: Tensor.fromNative(r.rstd) };
}

/**
 * Gradients of layerNormForward; dWeight/dBias are null when weight is null. With dResidual
 * (x's shape), dx = the LayerNorm gradient + dResidual: the sum a pre-norm block needs where its
 * residual stream feeds both the norm and the skip connection, made in the same pass.
 */
export function layerNormBackward(
  dy: Tensor,
  x: Tensor,
  mean: Tensor,
  rstd: Tensor,
  weight: Tensor | null,
  dResidual?: Tensor,
): { dx: Tensor<'f32'>; dWeight: Tensor<'f32'> | null; dBias: Tensor<'f32'> | null } {
  const r = addon().layerNormBackward(dy, x, mean, rstd, { weight, dResidual });
  return {
    dx: Tensor.fromNative(r.dx),
    dWeight: r.dWeight ? Tensor.fromNative(r.dWeight) : null,
    dBias: r.dBias ? Tensor.fromNative(r.dBias) : null,
  };
}
