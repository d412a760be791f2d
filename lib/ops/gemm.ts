import { addon } from '../native.js';
import { Tensor } from '../tensor.js';

export interface GemmOptions {
  /** Use Aᵀ: A is then [K, M]. */
  transA?: boolean;
  /** Use Bᵀ: B is then [N, K] (the layout of a Linear weight). */
  transB?: boolean;
  alpha?: number;
  /** Scales the existing contents of `out` (needs `out`). */
  beta?: number;
  /** Per-column bias [N], added in the same pass. */
  bias?: Tensor;
  /** Accumulate into this tensor instead of allocating one. */
  out?: Tensor;
  /** CPU backend: the build's default ('onednn' when found), or our 'portable' blocked GEMM. */
  backend?: 'auto' | 'onednn' | 'portable';
}

/**
 * C = alpha · op(A) · op(B) + beta · C + bias. A may have leading batch dimensions, which fold into
 * M (so a Linear layer over [B, N, D] tokens is one call). Returns C ([..., M, N]).
 */
export function gemm(a: Tensor, b: Tensor, opts: GemmOptions = {}): Tensor<'f32'> {
  const r = addon().gemm(a, b, opts.bias ?? null, opts.out ?? null, !!opts.transA, !!opts.transB, opts.alpha ?? 1, opts.beta ?? 0, opts.backend ?? 'auto');
  return r === opts.out ? (opts.out as Tensor<'f32'>) : Tensor.fromNative(r);
}
