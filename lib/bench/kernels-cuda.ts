// Kernel timings on a CUDA device, printed against the published GPU references of
// bench/reference.json (cuBLAS bf16 GEMM, FlashAttention-2 at head dim 64, HBM bandwidth).
// On a real GPU this is the number issue 7 asks for; on the SIMT-emulated addon (build-simt) the
// `check` shapes only prove that the path runs — emulated times mean nothing.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Tensor, sync } from '../tensor.js';
import { gemm } from '../ops/gemm.js';
import { attentionForward, attentionBackward } from '../ops/attention.js';
import { layerNormForward, layerNormBackward, addLayerNormForward } from '../ops/norm.js';
import { gelu, geluBackward } from '../ops/elementwise.js';
import { randomFill } from '../ops/random.js';
import { packageRoot } from '../native.js';
import { timeIt, fmt, table } from './timing.js';

export interface CudaKernelResult {
  op: string;
  shape: string;
  ms: number;
  /** TFLOP/s for GEMM/attention, TB/s for memory-bound ops. */
  rate: number;
  unit: 'TFLOP/s' | 'TB/s';
  /** The published figure this is compared with, in the same unit, and where it comes from. */
  reference?: { value: number; what: string };
}

interface GpuRefs {
  bf16_gemm_cublas_tflops: { value: number };
  hbm_tb_s: { value: number };
  flash_attention_2_fwd_hd64_tflops: Record<string, number | string>;
  flash_attention_2_bwd_hd64_tflops: Record<string, number | string>;
}

function references(): GpuRefs {
  const j = JSON.parse(readFileSync(join(packageRoot, 'bench', 'reference.json'), 'utf8'));
  return j.gpu.h100_sxm as GpuRefs;
}

const onDevice = (shape: number[], seed: number, device: string): Tensor<'f32'> => {
  using host = randomFill(Tensor.empty(shape), { dist: 'normal', std: 1 }, seed, 0);
  return host.to(device) as Tensor<'f32'>;
};

function faKey(n: number): string | undefined {
  return n === 512 ? 'seq512' : n === 1024 ? 'seq1k' : n === 2048 ? 'seq2k' : undefined;
}

export async function benchCudaKernels(device: string, opts: { check?: boolean } = {}): Promise<CudaKernelResult[]> {
  const refs = references();
  const check = !!opts.check;
  const minSeconds = check ? 0 : 0.3;
  const timing = { minSeconds, minRuns: check ? 1 : 5, warmup: 1, device };
  const results: CudaKernelResult[] = [];

  // GEMM at ViT-B linear-layer shapes: batch 8 × 1568 teacher tokens, batch 8 × 157 visible student tokens.
  const gemmShapes = check
    ? [[33, 64, 48]]
    : [
        [8 * 1568, 2304, 768],
        [8 * 1568, 3072, 768],
        [8 * 1568, 768, 3072],
        [8 * 157, 3072, 768],
        [4096, 4096, 4096],
      ];
  for (const [M, N, K] of gemmShapes) {
    using a = onDevice([M, K], 1, device);
    using b = onDevice([N, K], 2, device);
    using out = Tensor.empty([M, N], { device });
    const t = await timeIt(() => gemm(a, b, { transB: true, out }), timing);
    results.push({
      op: 'gemm (bf16 tensor cores)',
      shape: `${M}×${K}→${N}`,
      ms: t.medianMs,
      rate: (2 * M * N * K) / (t.medianMs / 1e3) / 1e12,
      unit: 'TFLOP/s',
      reference: { value: refs.bf16_gemm_cublas_tflops.value, what: 'cuBLAS bf16, H100' },
    });
  }

  // Attention at FlashAttention-2's benchmark lengths (head dim 64, 12 heads) and at the teacher's 1568.
  const lengths = check ? [33] : [512, 1024, 1568, 2048];
  for (const n of lengths) {
    const batch = check ? 1 : Math.max(1, Math.round(16384 / n));
    using qkv = onDevice([batch, n, 3 * 768], 3, device);
    using dOut = onDevice([batch, n, 768], 4, device);
    const flopsFwd = 4 * batch * 12 * n * n * 64;
    let f = attentionForward(qkv, 12);
    const tf = await timeIt(() => {
      f.out.dispose();
      f.lse.dispose();
      f = attentionForward(qkv, 12);
    }, timing);
    let d = attentionBackward(dOut, qkv, f.out, f.lse, 12);
    const tb = await timeIt(() => {
      d.dispose();
      d = attentionBackward(dOut, qkv, f.out, f.lse, 12);
    }, timing);
    const key = faKey(n);
    const shape = `${batch} × 12 heads × ${n} × 64`;
    results.push({
      op: 'attention fwd',
      shape,
      ms: tf.medianMs,
      rate: flopsFwd / (tf.medianMs / 1e3) / 1e12,
      unit: 'TFLOP/s',
      reference: key ? { value: Number(refs.flash_attention_2_fwd_hd64_tflops[key]), what: 'FlashAttention-2, H100' } : undefined,
    });
    results.push({
      op: 'attention bwd',
      shape,
      ms: tb.medianMs,
      rate: (2.5 * flopsFwd) / (tb.medianMs / 1e3) / 1e12,
      unit: 'TFLOP/s',
      reference: key ? { value: Number(refs.flash_attention_2_bwd_hd64_tflops[key]), what: 'FlashAttention-2, H100' } : undefined,
    });
    f.out.dispose();
    f.lse.dispose();
    d.dispose();
  }

  // Memory-bound ops against HBM bandwidth (f32 tensors: bytes = 4 × elements moved).
  const rows = check ? 31 : 8 * 1568,
    D = check ? 64 : 768;
  {
    using x = onDevice([rows, D], 5, device),
      dy = onDevice([rows, D], 6, device);
    using w = onDevice([D], 7, device),
      b = onDevice([D], 8, device);
    const t = await timeIt(() => {
      const r = layerNormForward(x, w, b, 1e-6);
      const g = layerNormBackward(dy, x, r.mean, r.rstd, w);
      for (const z of [r.y, r.mean, r.rstd, g.dx, g.dWeight, g.dBias]) z?.dispose();
    }, timing);
    results.push({
      op: 'layernorm fwd+bwd',
      shape: `${rows} × ${D}`,
      ms: t.medianMs,
      rate: (4 * rows * D * 5) / (t.medianMs / 1e3) / 1e12,
      unit: 'TB/s',
      reference: { value: refs.hbm_tb_s.value, what: 'H100 HBM3 peak' },
    });
    // The pre-norm block's pair: sum = x + a and its norm; norm' + the skip connection's gradient.
    using a = onDevice([rows, D], 9, device),
      dres = onDevice([rows, D], 10, device);
    const tr = await timeIt(() => {
      const r = addLayerNormForward(x, a, w, b, 1e-6);
      const g = layerNormBackward(dy, r.sum, r.mean, r.rstd, w, dres);
      for (const z of [r.sum, r.y, r.mean, r.rstd, g.dx, g.dWeight, g.dBias]) z?.dispose();
    }, timing);
    results.push({
      op: 'residual add + layernorm fwd+bwd',
      shape: `${rows} × ${D}`,
      ms: tr.medianMs,
      rate: (4 * rows * D * 8) / (tr.medianMs / 1e3) / 1e12,
      unit: 'TB/s',
      reference: { value: refs.hbm_tb_s.value, what: 'H100 HBM3 peak' },
    });
  }
  {
    const cols = check ? 96 : 3072;
    using x = onDevice([rows, cols], 9, device),
      dy = onDevice([rows, cols], 10, device);
    const t = await timeIt(() => {
      gelu(x).dispose();
      geluBackward(dy, x).dispose();
    }, timing);
    results.push({
      op: 'gelu fwd+bwd',
      shape: `${rows} × ${cols}`,
      ms: t.medianMs,
      rate: (4 * rows * cols * 5) / (t.medianMs / 1e3) / 1e12,
      unit: 'TB/s',
      reference: { value: refs.hbm_tb_s.value, what: 'H100 HBM3 peak' },
    });
  }
  await sync(device);
  return results;
}

export function formatCudaKernels(device: string, deviceName: string, r: CudaKernelResult[]): string {
  return (
    `CUDA kernels on ${device} (${deviceName}); references are published H100 figures (bench/reference.json)\n\n` +
    table(
      ['op', 'shape', 'ms', 'rate', 'reference', 'ours / reference'],
      r.map((x) => [
        x.op,
        x.shape,
        fmt(x.ms, 3),
        `${fmt(x.rate, 2)} ${x.unit}`,
        x.reference ? `${x.reference.value} ${x.unit} (${x.reference.what})` : '-',
        x.reference ? fmt(x.rate / x.reference.value, 3) : '-',
      ]),
    )
  );
}
