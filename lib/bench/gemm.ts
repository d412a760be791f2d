// GEMM at the ViT linear-layer shapes on both CPU backends, next to the FMA peak measured now.
import { Tensor } from '../tensor.js';
import { gemm } from '../ops/gemm.js';
import { buildInfo } from '../device.js';
import { timeIt, fmt, table } from './timing.js';
import { measureCpuRoofs, computeRoof, type CpuRoofs } from './roofline.js';

export interface GemmCase {
  name: string;
  M: number;
  N: number;
  K: number;
  transB: boolean;
}

/** ViT-B (D=768) layers: teacher at 1568 tokens, student at 160 visible tokens × batch 2, plus a square reference. */
export function vitGemmCases(quick = false): GemmCase[] {
  const cases: GemmCase[] = [];
  const tokens = quick ? [320] : [320, 1568];
  for (const M of tokens) {
    cases.push(
      { name: `qkv ${M}x768→2304`, M, N: 2304, K: 768, transB: true },
      { name: `proj ${M}x768→768`, M, N: 768, K: 768, transB: true },
      { name: `fc1 ${M}x768→3072`, M, N: 3072, K: 768, transB: true },
      { name: `fc2 ${M}x3072→768`, M, N: 768, K: 3072, transB: true },
    );
  }
  cases.push({ name: 'square 2048³', M: 2048, N: 2048, K: 2048, transB: false });
  return cases;
}

export interface GemmResult extends GemmCase {
  backend: string;
  medianMs: number;
  gflops: number;
  fractionOfPeak: number;
}

export async function benchGemm(opts: { quick?: boolean; roofs?: CpuRoofs; minSeconds?: number } = {}): Promise<{ roofs: CpuRoofs; results: GemmResult[] }> {
  const roofs = opts.roofs ?? measureCpuRoofs();
  const backends = buildInfo().gemmBackend === 'onednn' ? ['onednn', 'portable'] : ['portable'];
  const results: GemmResult[] = [];
  for (const c of vitGemmCases(opts.quick)) {
    using a = Tensor.fromArray(new Float32Array(c.M * c.K).fill(0.01), [c.M, c.K]);
    using b = Tensor.fromArray(new Float32Array(c.K * c.N).fill(0.02), c.transB ? [c.N, c.K] : [c.K, c.N]);
    using out = Tensor.empty([c.M, c.N]);
    // Backends alternate within one case so drift on a shared machine hits both alike.
    for (const backend of backends) {
      const t = await timeIt(() => gemm(a, b, { transB: c.transB, out, backend: backend as 'onednn' | 'portable' }), {
        minSeconds: opts.minSeconds ?? (opts.quick ? 0.1 : 0.4),
      });
      const gflops = (2 * c.M * c.N * c.K) / (t.medianMs / 1e3) / 1e9;
      results.push({ ...c, backend, medianMs: t.medianMs, gflops, fractionOfPeak: gflops / computeRoof(roofs) });
    }
  }
  return { roofs, results };
}

export function formatGemm(r: { roofs: CpuRoofs; results: GemmResult[] }): string {
  const peak = computeRoof(r.roofs);
  const head = `FMA peak (${r.roofs.threads} threads, measured now): AVX2 ${fmt(r.roofs.fmaPeakAvx2Gflops)} GFLOP/s` +
    (r.roofs.fmaPeakAvx512Gflops ? `, AVX-512 ${fmt(r.roofs.fmaPeakAvx512Gflops)} GFLOP/s` : '');
  return head + '\n\n' + table(
    ['shape', 'backend', 'ms', 'GFLOP/s', '% of peak'],
    r.results.map((x) => [x.name, x.backend, fmt(x.medianMs, 2), fmt(x.gflops), fmt((100 * x.gflops) / peak)]),
  );
}
