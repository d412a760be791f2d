// Per-op CPU timings at ViT shapes, each as GFLOP/s (compute-bound) or GB/s (memory-bound) and as
// a fraction of the roof measured in the same run (FMA peak, large memcpy).
import { Tensor } from '../tensor.js';
import { attentionForward, attentionBackward } from '../ops/attention.js';
import { layerNormForward, layerNormBackward, addLayerNormForward } from '../ops/norm.js';
import { gelu, geluBackward } from '../ops/elementwise.js';
import { distillLoss } from '../ops/loss.js';
import { patchify, gatherTokens } from '../ops/tokens.js';
import { randomFill } from '../ops/random.js';
import { gemm } from '../ops/gemm.js';
import { timeIt, fmt, table } from './timing.js';
import { measureCpuRoofs, computeRoof, type CpuRoofs } from './roofline.js';

export interface KernelResult {
  op: string;
  shape: string;
  ms: number;
  /** GFLOP/s for compute-bound ops, GB/s for memory-bound ones. */
  rate: number;
  unit: 'GFLOP/s' | 'GB/s';
  fractionOfRoof: number;
  /** The same op in PyTorch, ms (when measured in the same run). */
  torchMs?: number;
}

const rand = (shape: number[], seed: number) => randomFill(Tensor.empty(shape), { dist: 'normal', std: 1 }, seed, 0);

export async function benchKernels(
  opts: { quick?: boolean; roofs?: CpuRoofs } = {},
): Promise<{ roofs: CpuRoofs; results: KernelResult[] }> {
  const roofs = opts.roofs ?? measureCpuRoofs();
  const peak = computeRoof(roofs),
    bw = roofs.copyGbs;
  const results: KernelResult[] = [];
  const minSeconds = opts.quick ? 0.1 : 0.4;
  const add = (op: string, shape: string, ms: number, work: number, unit: 'GFLOP/s' | 'GB/s') => {
    const rate = work / (ms / 1e3) / 1e9;
    results.push({ op, shape, ms, rate, unit, fractionOfRoof: rate / (unit === 'GB/s' ? bw : peak) });
  };
  // Attention, ViT-B heads (12 × 64) at the student's and the teacher's token counts.
  for (const n of opts.quick ? [160] : [160, 1568]) {
    using qkv = rand([1, n, 3 * 768], 1);
    using dOut = rand([1, n, 768], 2);
    const flopsFwd = 4 * 12 * n * n * 64;
    let f = attentionForward(qkv, 12);
    const tf = await timeIt(
      () => {
        f.out.dispose();
        f.lse.dispose();
        f = attentionForward(qkv, 12);
      },
      { minSeconds },
    );
    add('attention fwd', `12 heads × ${n} × 64`, tf.medianMs, flopsFwd, 'GFLOP/s');
    let d = attentionBackward(dOut, qkv, f.out, f.lse, 12);
    const tb = await timeIt(
      () => {
        d.dispose();
        d = attentionBackward(dOut, qkv, f.out, f.lse, 12);
      },
      { minSeconds },
    );
    add('attention bwd', `12 heads × ${n} × 64`, tb.medianMs, 2.5 * flopsFwd, 'GFLOP/s');
    f.out.dispose();
    f.lse.dispose();
    d.dispose();
    // Timed as one, like PyTorch's autograd pair: a backward alone cannot be timed there.
    const tfb = await timeIt(
      () => {
        const r = attentionForward(qkv, 12);
        const g = attentionBackward(dOut, qkv, r.out, r.lse, 12);
        r.out.dispose();
        r.lse.dispose();
        g.dispose();
      },
      { minSeconds },
    );
    add('attention fwd+bwd', `12 heads × ${n} × 64`, tfb.medianMs, 3.5 * flopsFwd, 'GFLOP/s');
  }
  {
    using x = rand([3136, 768], 3);
    using dy = rand([3136, 768], 4);
    using w = rand([768], 5);
    using b = rand([768], 6);
    const t = await timeIt(
      () => {
        const r = layerNormForward(x, w, b, 1e-6);
        const g = layerNormBackward(dy, x, r.mean, r.rstd, w);
        for (const z of [r.y, r.mean, r.rstd, g.dx, g.dWeight, g.dBias]) z?.dispose();
      },
      { minSeconds },
    );
    add('layernorm fwd+bwd', '3136 × 768', t.medianMs, 4 * 3136 * 768 * 5, 'GB/s');
    // As a pre-norm block runs it: x1 = x + a then norm(x1) forward; dx1 = norm'(dh) + dy backward
    // (the skip connection's gradient). Bytes: x, a, x1, y | dh, x1, dy, dx.
    using a = rand([3136, 768], 17);
    using dres = rand([3136, 768], 18);
    const tr = await timeIt(
      () => {
        const r = addLayerNormForward(x, a, w, b, 1e-6);
        const g = layerNormBackward(dy, r.sum, r.mean, r.rstd, w, dres);
        for (const z of [r.sum, r.y, r.mean, r.rstd, g.dx, g.dWeight, g.dBias]) z?.dispose();
      },
      { minSeconds },
    );
    add('residual add + layernorm fwd+bwd', '3136 × 768', tr.medianMs, 4 * 3136 * 768 * 8, 'GB/s');
  }
  {
    using x = rand([3136, 3072], 7);
    using dy = rand([3136, 3072], 8);
    const t = await timeIt(
      () => {
        const y = gelu(x);
        const g = geluBackward(dy, x);
        y.dispose();
        g.dispose();
      },
      { minSeconds },
    );
    add('gelu fwd+bwd', '3136 × 3072', t.medianMs, 4 * 3136 * 3072 * 5, 'GB/s');
  }
  {
    using p1 = rand([2, 1408, 768], 9),
      t1 = rand([2, 1408, 768], 10),
      p2 = rand([2, 1408, 768], 11),
      t2 = rand([2, 1408, 768], 12);
    const t = await timeIt(
      () => {
        const l = distillLoss(p1, t1, p2, t2, { kind: 'smoothl1' });
        for (const z of [l.loss, l.dPredImg, l.dPredVid]) z?.dispose();
      },
      { minSeconds },
    );
    add('distill loss (2 teachers)', '2 × 1408 × 768 ×2', t.medianMs, 4 * 2 * 1408 * 768 * 6, 'GB/s');
  }
  {
    using v = rand([2, 3, 16, 224, 224], 13);
    const t = await timeIt(() => patchify(v, 2, 16, 16).dispose(), { minSeconds });
    add('patchify', '2 × 3 × 16 × 224²', t.medianMs, 4 * 2 * 3 * 16 * 224 * 224 * 2, 'GB/s');
    using tok = rand([2, 1568, 768], 14);
    const idx = new Int32Array(2 * 160).map((_, i) => (i % 160) * 9);
    using it = Tensor.fromArray(idx, [2, 160]);
    const g = await timeIt(() => gatherTokens(tok, it).dispose(), { minSeconds });
    add('gather tokens', '2 × 160 of 1568 × 768', g.medianMs, 4 * 2 * 160 * 768 * 2, 'GB/s');
  }
  if (!opts.quick) {
    // A plain square GEMM: shows how fast the BLAS behind each side is, so the ratios above can be read.
    using a = rand([2048, 2048], 15),
      b = rand([2048, 2048], 16);
    const t = await timeIt(() => gemm(a, b).dispose(), { minSeconds });
    add('matmul', '2048³', t.medianMs, 2 * 2048 ** 3, 'GFLOP/s');
  }
  return { roofs, results };
}

export function formatKernels(r: { roofs: CpuRoofs; results: KernelResult[] }): string {
  return (
    `roofs measured now: FMA ${fmt(computeRoof(r.roofs))} GFLOP/s, memcpy ${fmt(r.roofs.copyGbs)} GB/s\n\n` +
    table(
      ['op', 'shape', 'ms', 'rate', '% of roof', 'PyTorch ms', 'mvd / PyTorch'],
      r.results.map((x) => [
        x.op,
        x.shape,
        fmt(x.ms, 2),
        `${fmt(x.rate)} ${x.unit}`,
        fmt(100 * x.fractionOfRoof),
        x.torchMs ? fmt(x.torchMs, 2) : '-',
        x.torchMs ? `${fmt(x.torchMs / x.ms, 2)}×` : '-',
      ]),
    )
  );
}
