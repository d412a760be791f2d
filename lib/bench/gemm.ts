// GEMM at the ViT linear-layer shapes on both CPU backends, next to the FMA peak measured now.
import { Tensor } from '../tensor.js';
import { gemm, gemmPackWeights } from '../ops/gemm.js';
import { buildInfo } from '../device.js';
import { timeIt, fmt, table, median } from './timing.js';
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
  /**
   * The measure: this case's rate over oneDNN's rate (the portable GEMM's in a build
   * without oneDNN) on the square 2048³ GEMM, timed in alternation with it (median of each, over
   * the pairs), with the lowest and highest pair beside it.
   */
  ratioToSquare: number;
  ratioToSquareRange: [number, number];
}

/**
 * Every case on every backend, each in `pairs` alternations with one call of the square 2048³
 * GEMM on the first backend (oneDNN where built in), so the ratio compares numbers measured a
 * fraction of a second apart: on a shared machine separate runs drift by 10–20% (bench/NOTES.md),
 * more than the 5% the target allows.
 */
export async function benchGemm(
  opts: { quick?: boolean; roofs?: CpuRoofs; minSeconds?: number; pairs?: number } = {},
): Promise<{ roofs: CpuRoofs; pairs: number; squareBackend: string; results: GemmResult[] }> {
  const roofs = opts.roofs ?? measureCpuRoofs();
  // 'onednn packed': B packed once before the timing (gemmPackWeights), as frozen layers run.
  type Backend = 'onednn' | 'onednn packed' | 'portable';
  const canPack = /packed weights/.test(buildInfo().gemmBackendDetail);
  const backends: Backend[] = buildInfo().gemmBackend === 'onednn' ? ['onednn', ...(canPack ? ['onednn packed' as const] : []), 'portable'] : ['portable'];
  const squareBackend = backends[0] as 'onednn' | 'portable';
  const pairs = opts.pairs ?? (opts.quick ? 2 : 5);
  const slice = (opts.minSeconds ?? (opts.quick ? 0.1 : 0.4)) / pairs;
  const cases = vitGemmCases(opts.quick);
  const flops = (c: GemmCase) => 2 * c.M * c.N * c.K;
  const operands = (c: GemmCase) => ({
    a: Tensor.fromArray(new Float32Array(c.M * c.K).fill(0.01), [c.M, c.K]),
    b: Tensor.fromArray(new Float32Array(c.K * c.N).fill(0.02), c.transB ? [c.N, c.K] : [c.K, c.N]),
    out: Tensor.empty([c.M, c.N]),
  });
  const square = cases.find((c) => c.name.startsWith('square'))!;
  const sq = operands(square);
  const results: GemmResult[] = [];
  try {
    for (const c of cases) {
      // The square case times its own operands against themselves.
      const ops = c === square ? sq : operands(c);
      const { a, b, out } = ops;
      try {
        // Backends alternate within one case so drift on a shared machine hits both alike.
        for (const backend of backends) {
          const caseMs: number[] = [], squareMs: number[] = [];
          using packed = backend === 'onednn packed' ? gemmPackWeights(b, { transB: c.transB }) : null;
          const run = packed ? { transB: c.transB, out, packed } : { transB: c.transB, out, backend: backend as 'onednn' | 'portable' };
          for (let p = 0; p < pairs; p++) {
            caseMs.push((await timeIt(() => gemm(a, b, run), { minSeconds: slice })).medianMs);
            squareMs.push((await timeIt(() => gemm(sq.a, sq.b, { out: sq.out, backend: squareBackend }),
              { warmup: p === 0 ? 1 : 0, minRuns: 1, minSeconds: 0 })).medianMs);
          }
          const t = median(caseMs);
          const gflops = flops(c) / (t / 1e3) / 1e9;
          // rate(case) / rate(square) = (square ms / case ms) · (case flops / square flops)
          const relFlops = flops(c) / flops(square);
          const perPair = caseMs.map((m, i) => (squareMs[i] / m) * relFlops);
          results.push({
            ...c, backend, medianMs: t, gflops, fractionOfPeak: gflops / computeRoof(roofs),
            ratioToSquare: (median(squareMs) / t) * relFlops,
            ratioToSquareRange: [Math.min(...perPair), Math.max(...perPair)],
          });
        }
      } finally {
        if (ops !== sq) for (const x of [a, b, out]) x.dispose();
      }
    }
  } finally {
    for (const x of Object.values(sq)) x.dispose();
  }
  return { roofs, pairs, squareBackend, results };
}

export function formatGemm(r: { roofs: CpuRoofs; pairs: number; squareBackend: string; results: GemmResult[] }): string {
  const peak = computeRoof(r.roofs);
  const head = `FMA peak (${r.roofs.threads} threads, measured now): AVX2 ${fmt(r.roofs.fmaPeakAvx2Gflops)} GFLOP/s` +
    (r.roofs.fmaPeakAvx512Gflops ? `, AVX-512 ${fmt(r.roofs.fmaPeakAvx512Gflops)} GFLOP/s` : '') +
    `\n"÷ square": the rate over the ${r.squareBackend} square 2048³ rate, each case timed in ${r.pairs} alternations with ` +
    'one square call (ratio of the medians; lowest–highest pair in brackets).';
  return head + '\n\n' + table(
    ['shape', 'backend', 'ms', 'GFLOP/s', '% of peak', '÷ square'],
    r.results.map((x) => [
      x.name, x.backend, fmt(x.medianMs, 2), fmt(x.gflops), fmt((100 * x.gflops) / peak),
      `${fmt(x.ratioToSquare, 2)} (${fmt(x.ratioToSquareRange[0], 2)}–${fmt(x.ratioToSquareRange[1], 2)})`,
    ]),
  );
}
