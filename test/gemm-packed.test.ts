// Weights packed once (gemmPackWeights) against float64 and against the plain GEMM, and the
// frozen-model path built on them (Module.packWeights, Teacher.packWeights).
import t from 'tap';
import { Tensor, gemm, gemmPackWeights, PackedWeights, buildInfo, ValueError, makeTeacher } from '../lib/index.js';
import { gemmRef, maxRelErr, randn } from './helpers/reference.js';
import { gelu64 } from './helpers/norm-loss-ref.js';

const canPack = /packed weights/.test(buildInfo().gemmBackendDetail);

t.test('the build packs exactly when its GEMM says so', (t) => {
  using w = Tensor.fromArray(randn(8 * 4, 1), [8, 4]);
  const p = gemmPackWeights(w, { transB: true });
  t.equal(p !== null, canPack, `gemmBackendDetail: ${buildInfo().gemmBackendDetail}`);
  p?.dispose();
  t.end();
});

const tol = (K: number) => 1e-5 * Math.sqrt(K + 1) * 4;
// One pack serves every M (the rows of the activations): awkward and ViT-like shapes.
const weights: [number, number][] = [
  [1, 1],
  [33, 129],
  [31, 33],
  [768, 96],
  [96, 64],
  [200, 300],
];
const rows = [1, 31, 33, 129, 160, 1568];

t.test(
  'packed products match float64 for every row count, with and without Bᵀ, bias and GELU',
  { skip: !canPack && 'this build cannot pack' },
  async (t) => {
    let seed = 10;
    for (const [N, K] of weights)
      for (const transB of [true, false]) {
        const B = randn(K * N, seed++),
          bias = randn(N, seed++);
        using b = Tensor.fromArray(B, transB ? [N, K] : [K, N]);
        using bt = Tensor.fromArray(bias, [N]);
        using packed = gemmPackWeights(b, { transB })!;
        for (const M of rows) {
          const A = randn(M * K, seed++);
          using a = Tensor.fromArray(A, [M, K]);
          const tag = `${M}x${N}x${K} tB=${transB}`;
          using c = gemm(a, b, { transB, packed });
          t.ok(maxRelErr(await c.toArray(), gemmRef(A, B, M, N, K, { transB })) < tol(K), `${tag}`);
          const g = gemm(a, b, { transB, packed, bias: bt, gelu: true });
          const ref = gemmRef(A, B, M, N, K, { transB, bias });
          t.ok(maxRelErr(await g.out.toArray(), ref) < tol(K), `${tag} + bias`);
          t.ok(maxRelErr(await g.gelu.toArray(), ref.map(gelu64)) < tol(K) + 1e-6, `${tag} + bias, gelu`);
          g.out.dispose();
          g.gelu.dispose();
        }
      }
  },
);

t.test(
  'packed products accumulate into out (beta) and overwrite a poisoned out (beta = 0)',
  { skip: !canPack && 'this build cannot pack' },
  async (t) => {
    const [M, N, K] = [33, 65, 47];
    const A = randn(M * K, 5),
      B = randn(N * K, 6),
      C0 = randn(M * N, 7);
    using a = Tensor.fromArray(A, [M, K]);
    using b = Tensor.fromArray(B, [N, K]);
    using packed = gemmPackWeights(b, { transB: true })!;
    using c = Tensor.fromArray(C0, [M, N]);
    gemm(a, b, { transB: true, beta: 0.25, out: c, packed });
    t.ok(maxRelErr(await c.toArray(), gemmRef(A, B, M, N, K, { transB: true, beta: 0.25, C: C0 })) < 1e-4, 'beta');
    // alpha != 1 is not the packed path's: it must still be right.
    using c2 = Tensor.fromArray(C0, [M, N]);
    gemm(a, b, { transB: true, alpha: -0.5, beta: 0.25, out: c2, packed });
    t.ok(maxRelErr(await c2.toArray(), gemmRef(A, B, M, N, K, { transB: true, alpha: -0.5, beta: 0.25, C: C0 })) < 1e-4, 'alpha');
    using poison = Tensor.fromArray(new Float32Array(M * N).fill(NaN), [M, N]);
    gemm(a, b, { transB: true, out: poison, packed });
    const v = await poison.toArray();
    t.ok(v.every(Number.isFinite), 'every element written');
    t.ok(maxRelErr(v, gemmRef(A, B, M, N, K, { transB: true })) < tol(K));
  },
);

t.test(
  'packed weights are refused for another B, another transB, Aᵀ, or a buffer that is not one',
  { skip: !canPack && 'this build cannot pack' },
  async (t) => {
    using a = Tensor.fromArray(randn(4 * 8, 1), [4, 8]);
    using b = Tensor.fromArray(randn(6 * 8, 2), [6, 8]);
    using other = Tensor.fromArray(randn(6 * 8, 3), [6, 8]);
    using packed = gemmPackWeights(b, { transB: true })!;
    t.throws(() => gemm(a, other, { transB: true, packed }), ValueError);
    t.throws(() => gemm(a, b, { transB: false, packed }), /made from this B with transB true, not this B with transB false/);
    using at = Tensor.fromArray(randn(8 * 4, 4), [8, 4]);
    t.throws(() => gemm(at, b, { transA: true, transB: true, packed }), /packedB needs/);
    t.throws(() => gemm(a, b, { transB: true, packed, backend: 'portable' }), /packedB needs/);
    using junk = new PackedWeights(Tensor.fromArray(new Float32Array(4096), [4096]), b, true, 'fp32', 6, 8);
    const c = gemm(a, b, { transB: true, packed: junk });
    await t.rejects(c.toArray(), /packedB is not a buffer from gemmPackWeights/);
  },
);

t.test('a frozen teacher gives the same features with its weights packed; training drops the packs', async (t) => {
  const teacher = makeTeacher('vid', { preset: 'tiny', frames: 4, size: 32, seed: 3 });
  using clip = Tensor.fromArray(randn(2 * 3 * 4 * 32 * 32, 9), [2, 3, 4, 32, 32]);
  using plain = teacher.features(clip);
  const n = teacher.encoder.packWeights();
  t.equal(n > 0, canPack, `${n} Linear weights packed`);
  using packed = teacher.features(clip);
  t.ok(maxRelErr(await packed.toArray(), await plain.toArray()) < 1e-4, 'features agree');
  // Back in training mode the packed copies are gone, so a changed weight is used as it is.
  teacher.encoder.train();
  const w = teacher.encoder.namedParameters().find(([name]) => name === 'blocks.0.mlp.fc2.weight')![1].value;
  w.assign(Tensor.zeros(w.shape));
  teacher.encoder.eval();
  using changed = teacher.features(clip);
  t.ok(maxRelErr(await changed.toArray(), await plain.toArray()) > 1e-3, 'the new weight is used');
  teacher.dispose();
});
