// Classification losses and metrics over logits [B, C].
import { addon } from '../native.js';
import { Tensor } from '../tensor.js';

/**
 * Mean cross-entropy over the B rows and its gradient. target is either i32 labels [B] (optionally
 * label-smoothed: t = (1−ε)·onehot + ε/C) or f32 soft targets [B, C] whose rows sum to 1 (no
 * smoothing then). Max-subtracted, so any finite logits are safe.
 * Returns loss (f32 [1]) and dLogits = d(loss)/d(logits) (f32 [B, C]). A label outside [0, C)
 * rejects the next read-back (values are checked on the queue).
 */
export function crossEntropy(
  logits: Tensor,
  target: Tensor,
  opts: { labelSmoothing?: number } = {},
): { loss: Tensor<'f32'>; dLogits: Tensor<'f32'> } {
  const [loss, dLogits] = addon().crossEntropy(logits, target, opts.labelSmoothing ?? 0);
  return { loss: Tensor.fromNative(loss), dLogits: Tensor.fromNative(dLogits) };
}

/** Row-wise softmax of logits [B, C] (e.g. to average the class scores of several views). */
export function softmax(logits: Tensor): Tensor<'f32'> {
  return Tensor.fromNative(addon().softmax(logits));
}

/**
 * For each k in ks, the number of rows whose label is in the top k (a label counts when fewer
 * than k logits are strictly greater than its own, so ties favour the label). f32 [ks.length].
 */
export function topkCorrect(logits: Tensor, labels: Tensor, ks: number[]): Tensor<'f32'> {
  return Tensor.fromNative(addon().topkCorrect(logits, labels, ks));
}
