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
  transA?: boolean;
  transB: boolean;
  /** B is a layer's weight in a forward product, which a frozen layer can pack once. */
  weightB?: boolean;
}

/**
 * ViT-B (D=768) layers: forward products at the teacher's 1568 tokens and the student's 160
 * visible tokens × batch 2; the student's two backward products (dX = dY·W, dW = dYᵀ·X, as
 * Linear.backward runs them) at 320 rows; a square reference.
 */
export function vitGemmCases(quick = false): GemmCase[] {
  const layers: [string, number, number][] = [
    ['qkv', 2304, 768],
    ['proj', 768, 768],
    ['fc1', 3072, 768],
    ['fc2', 768, 3072],
  ];
  const cases: GemmCase[] = [];
  for (const M of quick ? [320] : [320, 1568])
    for (const [layer, out, inp] of layers)
      cases.push({ name: `${layer} ${M}x${inp}→${out}`, M, N: out, K: inp, transB: true, weightB: true });
  if (!quick) {
    for (const [layer, out, inp] of layers) {
      cases.push({ name: `${layer} dX 320x${out}→${inp}`, M: 320, N: inp, K: out, transB: false });
      cases.push({ name: `${layer} dW ${out}x320→${inp}`, M: out, N: inp, K: 320, transA: true, transB: false });
    }
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
  const backends: Backend[] =
    buildInfo().gemmBackend === 'onednn' ? ['onednn', ...(canPack ? ['onednn packed' as const] : []), 'portable'] : ['portable'];
  const squareBackend = backends[0] as 'onednn' | 'portable';
  const pairs = opts.pairs ?? (opts.quick ? 2 : 5);
  const slice = (opts.minSeconds ?? (opts.quick ? 0.1 : 0.4)) / pairs;
  const cases = vitGemmCases(opts.quick);
  const flops = (c: GemmCase) => 2 * c.M * c.N * c.K;
  const operands = (c: GemmCase) => ({
    a: Tensor.fromArray(new Float32Array(c.M * c.K).fill(0.01), c.transA ? [c.K, c.M] : [c.M, c.K]),
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
          if (backend === 'onednn packed' && !c.weightB) continue;
          const caseMs: number[] = [],
            squareMs: number[] = [];
          using packed = backend === 'onednn packed' ? gemmPackWeights(b, { transB: c.transB }) : null;
          const shape = { transA: !!c.transA, transB: c.transB, out };
          const run = packed ? { ...shape, packed } : { ...shape, backend: backend as 'onednn' | 'portable' };
          for (let p = 0; p < pairs; p++) {
            caseMs.push((await timeIt(() => gemm(a, b, run), { minSeconds: slice })).medianMs);
            squareMs.push(
              (
                await timeIt(() => gemm(sq.a, sq.b, { out: sq.out, backend: squareBackend }), {
                  warmup: p === 0 ? 1 : 0,
                  minRuns: 1,
                  minSeconds: 0,
                })
              ).medianMs,
            );
          }
          const t = median(caseMs);
          const gflops = flops(c) / (t / 1e3) / 1e9;
          // rate(case) / rate(square) = (square ms / case ms) · (case flops / square flops)
          const relFlops = flops(c) / flops(square);
          const perPair = caseMs.map((m, i) => (squareMs[i] / m) * relFlops);
          results.push({
            ...c,
            backend,
            medianMs: t,
            gflops,
            fractionOfPeak: gflops / computeRoof(roofs),
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
  const head =
    `FMA peak (${r.roofs.threads} threads, measured now): AVX2 ${fmt(r.roofs.fmaPeakAvx2Gflops)} GFLOP/s` +
    (r.roofs.fmaPeakAvx512Gflops ? `, AVX-512 ${fmt(r.roofs.fmaPeakAvx512Gflops)} GFLOP/s` : '') +
    `\n"÷ square": the rate over the ${r.squareBackend} square 2048³ rate, each case timed in ${r.pairs} alternations with ` +
    'one square call (ratio of the medians; lowest–highest pair in brackets).';
  return (
    head +
    '\n\n' +
    table(
      ['shape', 'backend', 'ms', 'GFLOP/s', '% of peak', '÷ square'],
      r.results.map((x) => [
        x.name,
        x.backend,
        fmt(x.medianMs, 2),
        fmt(x.gflops),
        fmt((100 * x.gflops) / peak),
        `${fmt(x.ratioToSquare, 2)} (${fmt(x.ratioToSquareRange[0], 2)}–${fmt(x.ratioToSquareRange[1], 2)})`,
      ]),
    )
  );
}
