// Distillation losses (SPEC §3.6): fused forward and gradient in one pass.
import { addon } from '../native.js';
import { Tensor } from '../tensor.js';

/** Options of distillLoss: the feature loss and each teacher's weight. */
export interface DistillLossOptions {
  kind: 'smoothl1' | 'l2' | 'l1';
  /** Weight of the image-teacher term (default 1). */
  wImg?: number;
  /** Weight of the video-teacher term (default 1). */
  wVid?: number;
  /** SmoothL1 threshold (default 1, PyTorch's; 0 gives L1). */
  beta?: number;
}

/**
 * MVD's loss: wImg·mean(ℓ(predImg − targetImg)) + wVid·mean(ℓ(predVid − targetVid)), each mean
 * over every element of its pair (reduction='mean'). The pairs are [B, M, C] with their own C.
 * A missing pair (nulls) contributes 0 and gets a null gradient. loss is f32 [3]: the total and
 * the unweighted img and vid means; the gradients are of the total. Sums are in double.
 */
export function distillLoss(
  predImg: Tensor | null,
  targetImg: Tensor | null,
  predVid: Tensor | null,
  targetVid: Tensor | null,
  opts: DistillLossOptions,
): { loss: Tensor<'f32'>; dPredImg: Tensor<'f32'> | null; dPredVid: Tensor<'f32'> | null } {
  const r = addon().distillLoss({
    predImg,
    targetImg,
    predVid,
    targetVid,
    kind: opts.kind,
    wImg: opts.wImg ?? 1,
    wVid: opts.wVid ?? 1,
    beta: opts.beta ?? 1,
  });
  return {
    loss: Tensor.fromNative(r.loss),
    dPredImg: r.dPredImg ? Tensor.fromNative(r.dPredImg) : null,
    dPredVid: r.dPredVid ? Tensor.fromNative(r.dPredVid) : null,
  };
}

/** Mean squared error over every element, f32 [1], and its gradient. */
export function mseLoss(pred: Tensor, target: Tensor): { loss: Tensor<'f32'>; dPred: Tensor<'f32'> } {
  const r = addon().mseLoss(pred, target);
  return { loss: Tensor.fromNative(r.loss), dPred: Tensor.fromNative(r.dPred) };
}
