// Elementwise ops of the ViT block and the training step. All take contiguous f32 tensors; the
// in-place variants return their first argument.
import { addon } from '../native.js';
import { Tensor } from '../tensor.js';

/** Exact GELU, 0.5·x·(1 + erf(x/√2)) (nn.GELU's default; SPEC §1.3). */
export function gelu(x: Tensor): Tensor<'f32'> {
  return Tensor.fromNative(addon().gelu(x));
}

/** dy · GELU'(x). */
export function geluBackward(dy: Tensor, x: Tensor): Tensor<'f32'> {
  return Tensor.fromNative(addon().geluBackward(dy, x));
}

/** a + b (same shapes). */
export function add(a: Tensor, b: Tensor): Tensor<'f32'> {
  return Tensor.fromNative(addon().add(a, b));
}

/** a += alpha·b in place; returns a. */
export function addInPlace<T extends Tensor>(a: T, b: Tensor, alpha = 1): T {
  addon().addInPlace(a, b, alpha);
  return a;
}

/** s·x. */
export function scale(x: Tensor, s: number): Tensor<'f32'> {
  return Tensor.fromNative(addon().scale(x, s));
}

/** x *= s in place; returns x. */
export function scaleInPlace<T extends Tensor>(x: T, s: number): T {
  addon().scaleInPlace(x, s);
  return x;
}

/** x [B, N, D] + t [N, D] for every b (positional tables). */
export function addBroadcast(x: Tensor, t: Tensor): Tensor<'f32'> {
  return Tensor.fromNative(addon().addBroadcast(x, t));
}

/**
 * x[b] · scales[b] for x [B, ...] and f32 scales [B]: DropPath (scales 0 or 1/(1−p), drawn per
 * sample by the caller) and, applied to dy with the same scales, its backward.
 */
export function rowScale(x: Tensor, scales: Tensor): Tensor<'f32'> {
  return Tensor.fromNative(addon().rowScale(x, scales));
}

/**
 * Inverted dropout: keeps each element with probability 1 − p and scales it by 1/(1 − p). The
 * mask (u8, 1 = kept) is a pure function of (seed, element index), independent of threading.
 */
export function dropout(x: Tensor, p: number, seed: number): { y: Tensor<'f32'>; mask: Tensor<'u8'> } {
  const r = addon().dropout(x, p, seed);
  return { y: Tensor.fromNative(r.y), mask: Tensor.fromNative<'u8'>(r.mask) };
}

/** dy · mask / (1 − p). */
export function dropoutBackward(dy: Tensor, mask: Tensor, p: number): Tensor<'f32'> {
  return Tensor.fromNative(addon().dropoutBackward(dy, mask, p));
}

/**
 * Column sums of x [..., N] over every leading dimension → [N] (a Linear layer's bias gradient),
 * summed in double. With out, writes there; with accumulate, adds to out's contents.
 */
export function sumRows(x: Tensor, out?: Tensor, accumulate = false): Tensor<'f32'> {
  const r = addon().sumRows(x, out ?? null, accumulate);
  return out ? (out as Tensor<'f32'>) : Tensor.fromNative(r);
}

/** Sets every element of x to value in place; returns x. */
export function fill<T extends Tensor>(x: T, value: number): T {
  addon().fill(x, value);
  return x;
}
