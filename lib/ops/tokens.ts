// Token data movement around the ViT: patch unfolding for the embedding GEMM, visible-token
// gather/scatter, and the two decoder input layouts (MVD/VideoMAE and MAE). Index tensors are i32;
// an out-of-range index is reported by the kernel on the queue, i.e. at the next read-back.
import { addon } from '../native.js';
import { Tensor } from '../tensor.js';

/** Options of patchify. */
export interface PatchifyOptions {
  /** Use only frames 0, s, 2s, … (the image teacher's one frame per tubelet); kt must be 1. */
  frameStride?: number;
}

/**
 * Unfolds video [B,C,T,H,W] for a convolution with kernel = stride = (kt,kh,kw):
 * [B, (T/kt)(H/kh)(W/kw), C·kt·kh·kw], tokens t-major then row then column, each vector ordered
 * (c, dt, dy, dx) so `gemm(patches, weight.reshape([D, C·kt·kh·kw]), {transB: true, bias})` is
 * PyTorch's Conv3d/Conv2d. With frameStride s: [B·(T/s), (H/kh)(W/kw), C·kh·kw], frames of one
 * sample consecutive.
 */
export function patchify(video: Tensor, kt: number, kh: number, kw: number, opts: PatchifyOptions = {}): Tensor<'f32'> {
  return Tensor.fromNative(addon().patchify(video, { kt, kh, kw, frameStride: opts.frameStride ?? 1 }));
}

/** x [B,N,D], idx i32 [B,K] → [B,K,D] with row k = x[b, idx[b,k]]. */
export function gatherTokens(x: Tensor, idx: Tensor): Tensor<'f32'> {
  return Tensor.fromNative(addon().gatherTokens(x, idx));
}

/** The adjoint of gatherTokens: [B,n,D], zero where no index points, repeated indices summed. */
export function scatterTokens(dy: Tensor, idx: Tensor, n: number): Tensor<'f32'> {
  return Tensor.fromNative(addon().scatterTokens(dy, idx, n));
}

/**
 * MVD/VideoMAE decoder input (SPEC §3.3): [B, Nv+Nm, Dd] with rows [0,Nv) = vis + pos[visIdx] and
 * rows [Nv, Nv+Nm) = maskToken + pos[maskIdx]. Not unshuffled. maskToken is [Dd] (or [1,1,Dd]).
 */
export function assembleDecoderInput(vis: Tensor, visIdx: Tensor, maskIdx: Tensor, maskToken: Tensor, pos: Tensor): Tensor<'f32'> {
  return Tensor.fromNative(addon().assembleDecoderInput(vis, { visIdx, maskIdx, maskToken, pos }));
}

/** Gradients of assembleDecoderInput: for the visible tokens [B, Nv, D] and for the shared mask token. */
export interface DecoderInputGrads {
  dVis: Tensor<'f32'>;
  /** [D], summed over every mask row of every sample. */
  dMaskToken: Tensor<'f32'>;
}

/** Gradients of assembleDecoderInput (the positional table is fixed, so it gets none). */
export function assembleDecoderInputBackward(dy: Tensor, nv: number): DecoderInputGrads {
  const r = addon().assembleDecoderInputBackward(dy, nv);
  return { dVis: Tensor.fromNative(r.dVis), dMaskToken: Tensor.fromNative(r.dMaskToken) };
}

/**
 * MAE decoder "unshuffle": [B,n,D] where row visIdx[b,i] is vis[b,i] and every other row is
 * maskToken. visIdx must not repeat within a sample.
 */
export function placeTokens(vis: Tensor, visIdx: Tensor, maskToken: Tensor, n: number): Tensor<'f32'> {
  return Tensor.fromNative(addon().placeTokens(vis, visIdx, maskToken, n));
}

/** Gradients of placeTokens: dVis = dy at the visible rows, dMaskToken = sum of all other rows. */
export function placeTokensBackward(dy: Tensor, visIdx: Tensor): DecoderInputGrads {
  const r = addon().placeTokensBackward(dy, visIdx);
  return { dVis: Tensor.fromNative(r.dVis), dMaskToken: Tensor.fromNative(r.dMaskToken) };
}
