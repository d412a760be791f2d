import t from 'tap';
import { Tensor, gemm, ShapeError, DTypeError } from '../lib/index.js';
import { gemmRef, maxRelErr, randn } from './helpers/reference.js';

// Awkward shapes: odd sizes that break tiling, a single row, the ViT-B linear layers.
const shapes: [number, number, number][] = [
  [1, 1, 1], [7, 33, 129], [33, 7, 1], [129, 31, 33], [1, 768, 768], [160, 96, 64], [1568, 768, 96],
];

for (const backend of ['auto', 'portable'] as const)
t.test(`gemm (${backend}) matches float64 on awkward shapes, all transposes, with bias`, async (t) => {
  let seed = 1;
  for (const [M, N, K] of shapes)
    for (const transA of [false, true])
      for (const transB of [false, true]) {
        const A = randn(M * K, seed++), B = randn(K * N, seed++), bias = randn(N, seed++);
        const a = Tensor.fromArray(A, transA ? [K, M] : [M, K]);
        const b = Tensor.fromArray(B, transB ? [N, K] : [K, N]);
        const bt = Tensor.fromArray(bias, [N]);
        const c = gemm(a, b, { transA, transB, bias: bt, backend });
        t.same(c.shape, [M, N]);
        const err = maxRelErr(await c.toArray(), gemmRef(A, B, M, N, K, { transA, transB, bias }));
        t.ok(err < 1e-5 * Math.sqrt(K + 1) * 4, `${M}x${N}x${K} tA=${transA} tB=${transB}: err ${err.toExponential(2)}`);
        for (const x of [a, b, bt, c]) x.dispose();
      }
});

t.test('alpha, beta and accumulation into out', async (t) => {
  const [M, N, K] = [33, 65, 47];
  const A = randn(M * K, 5), B = randn(K * N, 6), C0 = randn(M * N, 7);
  const a = Tensor.fromArray(A, [M, K]), b = Tensor.fromArray(B, [K, N]), c = Tensor.fromArray(C0, [M, N]);
  const r = gemm(a, b, { alpha: -0.5, beta: 0.25, out: c });
  t.equal(r, c, 'returns the out tensor');
  const err = maxRelErr(await c.toArray(), gemmRef(A, B, M, N, K, { alpha: -0.5, beta: 0.25, C: C0 }));
  t.ok(err < 1e-4, `err ${err}`);
});

t.test('leading batch dims fold into M (a Linear layer over [B, N, D])', async (t) => {
  const A = randn(3 * 5 * 8, 9), W = randn(4 * 8, 10);
  const x = Tensor.fromArray(A, [3, 5, 8]), w = Tensor.fromArray(W, [4, 8]);
  const y = gemm(x, w, { transB: true });
  t.same(y.shape, [3, 5, 4]);
  t.ok(maxRelErr(await y.toArray(), gemmRef(A, W, 15, 4, 8, { transB: true })) < 1e-5);
});

t.test('shape and dtype errors name op, shapes and device', (t) => {
  const a = Tensor.zeros([7, 33]), b = Tensor.zeros([32, 129]);
  try {
    gemm(a, b);
    t.fail('mismatch accepted');
  } catch (e) {
    t.ok(e instanceof ShapeError);
    const err = e as ShapeError;
    t.equal(err.op, 'gemm');
    t.match(err.shapes, /A \[7,33\], B \[32,129\]/);
    t.equal(err.device, 'cpu');
    t.match(err.message, /inner dimensions differ/);
  }
  const u = Tensor.zeros([7, 33], { dtype: 'u8' });
  t.throws(() => gemm(u, Tensor.zeros([33, 2])), DTypeError);
  t.throws(() => gemm(a, Tensor.zeros([33, 2]), { bias: Tensor.zeros([3]) }), ShapeError);
  t.end();
});
