// Multi-head self-attention from the fused qkv projection (SPEC §1.2), FlashAttention-2 style:
// the forward keeps only the output and the log-sum-exp of each score row; the backward recomputes
// the probabilities tile by tile from q, k and that lse, so no N×N matrix outlives a call.
import { addon } from '../native.js';
import { Tensor } from '../tensor.js';

/**
 * qkv: f32 [B, N, 3·D], the output of the qkv Linear, per token [q | k | v] with head h in channels
 * [h·hd, (h+1)·hd) of each part (D = heads·hd, hd ≤ 128). No masking.
 * Returns out = softmax(q·kᵀ·hd^-0.5)·v as f32 [B, N, D] (head h in channels h·hd..), and
 * lse = log Σ_j exp(scaled score_ij) as f32 [B, heads, N] (needed by attentionBackward).
 */
export function attentionForward(qkv: Tensor, heads: number): { out: Tensor<'f32'>; lse: Tensor<'f32'> } {
  const [out, lse] = addon().attentionForward(qkv, heads);
  return { out: Tensor.fromNative(out), lse: Tensor.fromNative(lse) };
}

/**
 * Gradient of the loss with respect to qkv ([B, N, 3·D], same layout), given dOut = dLoss/dout
 * [B, N, D] and the forward's qkv, out and lse.
 */
export function attentionBackward(dOut: Tensor, qkv: Tensor, out: Tensor, lse: Tensor, heads: number): Tensor<'f32'> {
  return Tensor.fromNative(addon().attentionBackward(dOut, qkv, out, lse, { heads }));
}
