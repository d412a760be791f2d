import { addon, type NativeTensorDesc } from '../native.js';
import { Tensor } from '../tensor.js';
import { ValueError } from '../errors.js';

/** Options of gemm: transposes, scaling, bias and GELU epilogues, accumulation into `out`, packed weights. */
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
  /**
   * Fused GELU epilogue (exact erf): the result is then `{ out, gelu }`, `out` holding the
   * pre-activation (what backward needs) and `gelu` a new tensor of the same shape with gelu(out).
   */
  gelu?: boolean;
  /**
   * `b` packed once by gemmPackWeights (same tensor, same transB): the CPU product then reads the
   * packed copy instead of packing b again inside the call. Ignored on CUDA devices.
   */
  packed?: PackedWeights;
}

/**
 * op(B) packed once for oneDNN, for many products with the same B: a frozen layer's weight (a
 * teacher, a model under evaluation). The packed copy is as large as B (a little more), and it is
 * right only while B does not change: pack again after writing B.
 */
export class PackedWeights implements Disposable {
  constructor(readonly buffer: Tensor<'f32'>, readonly source: Tensor, readonly transB: boolean) {}

  dispose(): void {
    this.buffer.dispose();
  }

  [Symbol.dispose](): void {
    this.dispose();
  }
}

/**
 * Packs op(b) ([K, N]; b is [N, K] with transB, the layout of a Linear weight) for gemm's `packed`
 * option. Null where it cannot help: a build without oneDNN's pack API, or b not on the CPU.
 */
export function gemmPackWeights(b: Tensor, opts: { transB?: boolean } = {}): PackedWeights | null {
  const r = addon().gemmPackWeights(b, !!opts.transB);
  return r ? new PackedWeights(Tensor.fromNative(r), b, !!opts.transB) : null;
}

/** What `gemm` returns with `gelu: true`. */
export interface GemmGeluResult {
  /** The pre-activation alpha · op(A) · op(B) + beta · C + bias (`opts.out` when given). */
  out: Tensor<'f32'>;
  /** gelu(out). */
  gelu: Tensor<'f32'>;
}

/**
 * C = alpha · op(A) · op(B) + beta · C + bias. A may have leading batch dimensions, which fold into
 * M (so a Linear layer over [B, N, D] tokens is one call). Returns C ([..., M, N]).
 */
export function gemm(a: Tensor, b: Tensor, opts: GemmOptions & { gelu: true }): GemmGeluResult;
export function gemm(a: Tensor, b: Tensor, opts?: GemmOptions & { gelu?: false }): Tensor<'f32'>;
export function gemm(a: Tensor, b: Tensor, opts?: GemmOptions): Tensor<'f32'> | GemmGeluResult;
export function gemm(a: Tensor, b: Tensor, opts: GemmOptions = {}): Tensor<'f32'> | GemmGeluResult {
  const gelu = !!opts.gelu;
  const p = opts.packed;
  if (p && (p.source !== b || p.transB !== !!opts.transB)) {
    const made = p.source === b ? `this B with transB ${p.transB}` : 'another tensor';
    throw new ValueError(`gemm: the packed weights were made from ${made}, not this B with transB ${!!opts.transB}`, { op: 'gemm' });
  }
  const r = addon().gemm(a, b, {
    bias: opts.bias,
    out: opts.out,
    transA: !!opts.transA,
    transB: !!opts.transB,
    alpha: opts.alpha ?? 1,
    beta: opts.beta ?? 0,
    backend: opts.backend ?? 'auto',
    gelu,
    packed: p?.buffer,
  });
  const wrap = (x: NativeTensorDesc): Tensor<'f32'> => (x === opts.out ? (opts.out as Tensor<'f32'>) : Tensor.fromNative(x));
  if (!gelu) return wrap(r as NativeTensorDesc);
  const [c, g] = r as [NativeTensorDesc, NativeTensorDesc];
  return { out: wrap(c), gelu: Tensor.fromNative(g) };
}
