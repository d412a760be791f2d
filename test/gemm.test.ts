import t from 'tap';
import { Tensor, gemm, ShapeError, DTypeError } from '../lib/index.js';
import { gemmRef, maxRelErr, randn } from './helpers/reference.js';

// Awkward shapes: odd sizes that break tiling, a single row, the ViT-B linear layers.
const shapes: [number, number, number][] = [
  [1, 1, 1],
  [7, 33, 129],
  [33, 7, 1],
  [129, 31, 33],
  [1, 768, 768],
  [160, 96, 64],
  [1568, 768, 96],
];

for (const backend of ['auto', 'portable'] as const)
  t.test(`gemm (${backend}) matches float64 on awkward shapes, all transposes, with bias`, async (t) => {
    let seed = 1;
    for (const [M, N, K] of shapes)
      for (const transA of [false, true])
        for (const transB of [false, true]) {
          const A = randn(M * K, seed++),
            B = randn(K * N, seed++),
            bias = randn(N, seed++);
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
  const A = randn(M * K, 5),
    B = randn(K * N, 6),
    C0 = randn(M * N, 7);
  const a = Tensor.fromArray(A, [M, K]),
    b = Tensor.fromArray(B, [K, N]),
    c = Tensor.fromArray(C0, [M, N]);
  const r = gemm(a, b, { alpha: -0.5, beta: 0.25, out: c });
  t.equal(r, c, 'returns the out tensor');
  const err = maxRelErr(await c.toArray(), gemmRef(A, B, M, N, K, { alpha: -0.5, beta: 0.25, C: C0 }));
  t.ok(err < 1e-4, `err ${err}`);
});

t.test('leading batch dims fold into M (a Linear layer over [B, N, D])', async (t) => {
  const A = randn(3 * 5 * 8, 9),
    W = randn(4 * 8, 10);
  const x = Tensor.fromArray(A, [3, 5, 8]),
    w = Tensor.fromArray(W, [4, 8]);
  const y = gemm(x, w, { transB: true });
  t.same(y.shape, [3, 5, 4]);
  t.ok(maxRelErr(await y.toArray(), gemmRef(A, W, 15, 4, 8, { transB: true })) < 1e-5);
});

t.test('shape and dtype errors name op, shapes and device', (t) => {
  const a = Tensor.zeros([7, 33]),
    b = Tensor.zeros([32, 129]);
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

// The fused GELU epilogue (fc1 of the MLP): out keeps the pre-activation for backward.
const erf = (x: number): number => {
  // Math has no erf: Taylor series below 2.5, continued fraction above (both near double precision).
  const ax = Math.abs(x);
  let r: number;
  if (ax < 2.5) {
    let term = ax,
      sum = ax;
    for (let n = 1; n < 60; ++n) {
      term *= (-ax * ax) / n;
      sum += term / (2 * n + 1);
    }
    r = (2 / Math.sqrt(Math.PI)) * sum;
  } else {
    let f = 0;
    for (let n = 60; n >= 1; --n) f = n / 2 / (ax + f);
    r = 1 - Math.exp(-ax * ax) / Math.sqrt(Math.PI) / (ax + f);
  }
  return x < 0 ? -r : r;
};
const geluRef = (v: number): number => 0.5 * v * (1 + erf(v / Math.SQRT2));

for (const backend of ['auto', 'portable'] as const)
  t.test(`gemm (${backend}) with gelu returns the pre-activation and gelu of it`, async (t) => {
    for (const [M, N, K, transA, transB] of [
      [33, 65, 47, false, true],
      [1, 17, 5, true, false],
      [129, 31, 33, false, false],
    ] as const) {
      const A = randn(M * K, 21 + M),
        B = randn(K * N, 22),
        bias = randn(N, 23);
      const a = Tensor.fromArray(A, transA ? [K, M] : [M, K]),
        b = Tensor.fromArray(B, transB ? [N, K] : [K, N]);
      const bt = Tensor.fromArray(bias, [N]);
      const r = gemm(a, b, { transA, transB, bias: bt, gelu: true, backend });
      t.same(r.out.shape, [M, N]);
      t.same(r.gelu.shape, [M, N]);
      const ref = gemmRef(A, B, M, N, K, { transA, transB, bias });
      const tol = 1e-5 * Math.sqrt(K + 1) * 4;
      const errOut = maxRelErr(await r.out.toArray(), ref);
      const errGelu = maxRelErr(await r.gelu.toArray(), Array.from(ref, geluRef));
      t.ok(errOut < tol, `${M}x${N}x${K}: pre-activation err ${errOut.toExponential(2)}`);
      t.ok(errGelu < tol, `${M}x${N}x${K}: gelu err ${errGelu.toExponential(2)}`);
      for (const x of [a, b, bt, r.out, r.gelu]) x.dispose();
    }
  });

t.test('gemm with gelu into an existing out returns that tensor as out', async (t) => {
  const [M, N, K] = [9, 12, 7];
  const A = randn(M * K, 31),
    B = randn(K * N, 32),
    C0 = randn(M * N, 33);
  const a = Tensor.fromArray(A, [M, K]),
    b = Tensor.fromArray(B, [K, N]),
    c = Tensor.fromArray(C0, [M, N]);
  const r = gemm(a, b, { beta: 0.5, out: c, gelu: true });
  t.equal(r.out, c, 'out is the caller tensor');
  const ref = gemmRef(A, B, M, N, K, { beta: 0.5, C: C0 });
  t.ok(maxRelErr(await c.toArray(), ref) < 1e-4);
  t.ok(maxRelErr(await r.gelu.toArray(), Array.from(ref, geluRef)) < 1e-4);
  const plain = gemm(a, b, { gelu: false });
  t.ok(plain instanceof Tensor, 'gelu: false keeps the single-tensor result');
});
