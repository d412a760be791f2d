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

/** The precision packed weights hold: fp32 as given, or rounded to bf16 (products accumulate in fp32). */
export type WeightPrecision = 'fp32' | 'bf16';

/**
 * op(B) packed once for oneDNN, for many products with the same B: a frozen layer's weight (a
 * teacher, a model under evaluation). In fp32 the packed copy is as large as B (a little more); in
 * bf16 half as large, its products rounding A to bf16. Either is right only while B does not
 * change: pack again after writing B.
 */
export class PackedWeights implements Disposable {
  constructor(
    readonly buffer: Tensor<'f32'>,
    readonly source: Tensor,
    readonly transB: boolean,
    readonly precision: WeightPrecision,
    /** op(B) is [k, n]. */
    readonly n: number,
    readonly k: number,
  ) {}

  dispose(): void {
    this.buffer.dispose();
  }

  [Symbol.dispose](): void {
    this.dispose();
  }
}

/**
 * Packs op(b) ([K, N]; b is [N, K] with transB, the layout of a Linear weight) for gemm's `packed`
 * option and for gemmPacked. Null where b is not on the CPU (CUDA products stage their operands
 * for the tensor cores themselves) or, in fp32, where the build lacks oneDNN's pack API. bf16 is a
 * DeviceError where this CPU or build cannot run it (bf16WeightsSupport says why).
 */
export function gemmPackWeights(b: Tensor, opts: { transB?: boolean; precision?: WeightPrecision } = {}): PackedWeights | null {
  const precision = opts.precision ?? 'fp32';
  const transB = !!opts.transB;
  const r = addon().gemmPackWeights(b, transB, precision);
  if (!r) return null;
  const [rows, cols] = b.shape;
  return new PackedWeights(Tensor.fromNative(r), b, transB, precision, transB ? rows : cols, transB ? cols : rows);
}

/** Whether bf16 weights can be packed in this process, and if not, why (no oneDNN, no AVX512-BF16, MVD_CPU_ISA=avx2). */
export function bf16WeightsSupport(): { available: boolean; reason: string } {
  const reason = addon().bf16GemmSupport();
  return { available: reason === '', reason };
}

/**
 * C = A · op(B) + bias with op(B) read from packed weights alone: the product of a frozen layer
 * whose plain weight may have been released (Module.packWeights with `release`). A may have leading
 * batch dimensions; with `gelu` the result is `{ out, gelu }` as gemm's.
 */
export function gemmPacked(a: Tensor, w: PackedWeights, opts: { bias?: Tensor; gelu: true }): GemmGeluResult;
export function gemmPacked(a: Tensor, w: PackedWeights, opts?: { bias?: Tensor; gelu?: false }): Tensor<'f32'>;
export function gemmPacked(a: Tensor, w: PackedWeights, opts: { bias?: Tensor; gelu?: boolean } = {}): Tensor<'f32'> | GemmGeluResult {
  const r = addon().gemmPacked(a, w.buffer, { n: w.n, k: w.k, transB: w.transB, bias: opts.bias, gelu: !!opts.gelu });
  if (!opts.gelu) return Tensor.fromNative(r as NativeTensorDesc);
  const [c, g] = r as [NativeTensorDesc, NativeTensorDesc];
  return { out: Tensor.fromNative(c), gelu: Tensor.fromNative(g) };
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
