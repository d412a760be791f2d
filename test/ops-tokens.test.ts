import t from 'tap';
import { Tensor, ShapeError, DTypeError, ValueError, gemm } from '../lib/index.js';
import {
  patchify,
  gatherTokens,
  scatterTokens,
  assembleDecoderInput,
  assembleDecoderInputBackward,
  placeTokens,
  placeTokensBackward,
} from '../lib/ops/tokens.js';
import { maxRelErr, randn } from './helpers/reference.js';
import { conv3dRef, dot, randDistinct, randIdx } from './helpers/tokens-ref.js';

const cases: { shape: number[]; k: [number, number, number]; s?: number }[] = [
  { shape: [3, 3, 4, 32, 48], k: [2, 16, 16] },
  { shape: [1, 2, 6, 15, 21], k: [3, 5, 7] },
  { shape: [2, 3, 1, 17, 23], k: [1, 17, 23] },
  { shape: [3, 3, 6, 12, 20], k: [1, 4, 5], s: 2 },
];

t.test('patchify + gemm(transB, bias) equals a direct double Conv3d / Conv2d', async (t) => {
  let seed = 1;
  for (const { shape, k, s } of cases) {
    const [B, C, T, H, W] = shape;
    const [kt, kh, kw] = k,
      D = 5,
      P = C * kt * kh * kw;
    const X = randn(B * C * T * H * W, seed++),
      Wt = randn(D * P, seed++),
      bias = randn(D, seed++);
    const x = Tensor.fromArray(X, shape);
    const p = patchify(x, kt, kh, kw, { frameStride: s });
    const Tn = T / (kt * (s ?? 1)),
      Ns = (H / kh) * (W / kw);
    t.same(p.shape, s ? [B * Tn, Ns, P] : [B, Tn * Ns, P]);
    const y = gemm(p, Tensor.fromArray(Wt, [D, C, kt, kh, kw]).reshape([D, P]), { transB: true, bias: Tensor.fromArray(bias, [D]) });
    const err = maxRelErr(await y.toArray(), conv3dRef(X, shape, Wt, D, bias, kt, kh, kw, s ?? 1));
    // The GEMM accumulates P products in float: the gemm tests' sqrt(K) bound.
    t.ok(err < 4e-5 * Math.sqrt(P + 1), `${shape} k=${k} s=${s ?? 1}: err ${err.toExponential(2)}`);
  }
});

t.test('gatherTokens / scatterTokens: exact values, accumulation and adjointness', async (t) => {
  let seed = 50;
  for (const N of [1, 31, 33, 160, 1568])
    for (const B of [1, 3]) {
      const D = N === 1568 ? 64 : 19,
        K = N === 1 ? 3 : (N >> 1) + 1;
      const X = randn(B * N * D, seed++),
        Y = randn(B * K * D, seed++),
        I = randIdx(B * K, N, seed++);
      const idx = Tensor.fromArray(I, [B, K]);
      const g = await gatherTokens(Tensor.fromArray(X, [B, N, D]), idx).toArray();
      const s = scatterTokens(Tensor.fromArray(Y, [B, K, D]), idx, N);
      t.same(s.shape, [B, N, D]);
      const S = await s.toArray();
      const gref = new Float64Array(B * K * D),
        sref = new Float64Array(B * N * D);
      for (let b = 0; b < B; b++)
        for (let k = 0; k < K; k++)
          for (let c = 0; c < D; c++) {
            gref[(b * K + k) * D + c] = X[(b * N + I[b * K + k]) * D + c];
            sref[(b * N + I[b * K + k]) * D + c] += Y[(b * K + k) * D + c];
          }
      t.equal(maxRelErr(g, gref), 0, `gather N=${N} B=${B}`);
      t.ok(maxRelErr(S, sref) < 1e-6, `scatter N=${N} B=${B}`);
      const lhs = dot(g, Y),
        rhs = dot(X, S);
      t.ok(Math.abs(lhs - rhs) <= 1e-5 * (1 + Math.abs(lhs)), `adjoint N=${N}: ${lhs} vs ${rhs}`);
    }
});

t.test('assembleDecoderInput forward and backward (adjoint)', async (t) => {
  let seed = 200;
  for (const [B, Nv, Nm, D] of [
    [1, 1, 0, 8],
    [3, 5, 26, 33],
    [2, 160, 1408, 24],
  ]) {
    const N = Nv + Nm,
      L = N;
    const perm = randDistinct(B, N, N, seed++);
    const VI = new Int32Array(B * Nv),
      MI = new Int32Array(B * Nm);
    for (let b = 0; b < B; b++) {
      VI.set(perm.subarray(b * N, b * N + Nv), b * Nv);
      MI.set(perm.subarray(b * N + Nv, (b + 1) * N), b * Nm);
    }
    const V = randn(B * Nv * D, seed++),
      M = randn(D, seed++),
      POS = randn(N * D, seed++),
      DY = randn(B * L * D, seed++);
    const out = assembleDecoderInput(
      Tensor.fromArray(V, [B, Nv, D]),
      Tensor.fromArray(VI, [B, Nv]),
      Tensor.fromArray(MI, [B, Nm]),
      Tensor.fromArray(M, [1, 1, D]),
      Tensor.fromArray(POS, [N, D]),
    );
    t.same(out.shape, [B, L, D]);
    const ref = new Float64Array(B * L * D);
    let lhs = 0;
    for (let b = 0; b < B; b++)
      for (let i = 0; i < L; i++)
        for (let c = 0; c < D; c++) {
          const a = i < Nv ? V[(b * Nv + i) * D + c] : M[c];
          const p = i < Nv ? VI[b * Nv + i] : MI[b * Nm + i - Nv];
          ref[(b * L + i) * D + c] = Math.fround(a + POS[p * D + c]);
          lhs += a * DY[(b * L + i) * D + c];
        }
    t.equal(maxRelErr(await out.toArray(), ref), 0, `forward ${[B, Nv, Nm, D]}`);
    const { dVis, dMaskToken } = assembleDecoderInputBackward(Tensor.fromArray(DY, [B, L, D]), Nv);
    t.same(dVis.shape, [B, Nv, D]);
    t.same(dMaskToken.shape, [D]);
    const rhs = dot(V, await dVis.toArray()) + dot(M, await dMaskToken.toArray());
    t.ok(Math.abs(lhs - rhs) <= 1e-5 * (1 + Math.abs(lhs)), `adjoint ${lhs} vs ${rhs}`);
  }
});

t.test('placeTokens forward and backward (adjoint)', async (t) => {
  let seed = 300;
  for (const [B, Nv, N, D] of [
    [1, 1, 1, 8],
    [3, 7, 31, 33],
    [2, 49, 196, 40],
  ]) {
    const VI = randDistinct(B, Nv, N, seed++),
      V = randn(B * Nv * D, seed++),
      M = randn(D, seed++),
      DY = randn(B * N * D, seed++);
    const vi = Tensor.fromArray(VI, [B, Nv]);
    const out = await placeTokens(Tensor.fromArray(V, [B, Nv, D]), vi, Tensor.fromArray(M, [D]), N).toArray();
    const ref = new Float64Array(B * N * D);
    for (let r = 0; r < B * N; r++) for (let c = 0; c < D; c++) ref[r * D + c] = M[c];
    for (let b = 0; b < B; b++)
      for (let i = 0; i < Nv; i++) for (let c = 0; c < D; c++) ref[(b * N + VI[b * Nv + i]) * D + c] = V[(b * Nv + i) * D + c];
    t.equal(maxRelErr(out, ref), 0, `forward ${[B, Nv, N, D]}`);
    const g = placeTokensBackward(Tensor.fromArray(DY, [B, N, D]), vi);
    const lhs = dot(out, DY),
      rhs = dot(V, await g.dVis.toArray()) + dot(M, await g.dMaskToken.toArray());
    t.ok(Math.abs(lhs - rhs) <= 1e-5 * (1 + Math.abs(lhs)), `adjoint ${lhs} vs ${rhs}`);
  }
});

t.test('errors: dtype, rank, divisibility, index range', async (t) => {
  const v = Tensor.zeros([1, 3, 4, 32, 32]);
  t.throws(() => patchify(Tensor.zeros([1, 3, 4, 32, 32], { dtype: 'u8' }), 2, 16, 16), DTypeError);
  t.throws(() => patchify(Tensor.zeros([3, 4, 32, 32]), 2, 16, 16), ShapeError);
  t.throws(() => patchify(v, 3, 16, 16), ShapeError);
  t.throws(() => patchify(v, 2, 16, 16, { frameStride: 2 }), ValueError);
  t.throws(() => patchify(v, 0, 16, 16), ValueError);
  const x = Tensor.zeros([2, 4, 3]);
  t.throws(() => gatherTokens(x, Tensor.zeros([2, 2])), DTypeError, 'f32 indices');
  t.throws(() => gatherTokens(x, Tensor.zeros([3, 2], { dtype: 'i32' })), ShapeError, 'batch mismatch');
  t.throws(() => scatterTokens(x, Tensor.zeros([2, 3], { dtype: 'i32' }), 4), ShapeError);
  t.throws(() => placeTokens(x, Tensor.zeros([2, 4], { dtype: 'i32' }), Tensor.zeros([4]), 5), ShapeError, 'mask token width');
  t.throws(() => assembleDecoderInputBackward(x, 5), ShapeError);
  // Index values are checked on the queue: the next read-back rejects.
  const bad = Tensor.fromArray(new Int32Array([0, 1, 4, 2]), [2, 2]);
  await t.rejects(gatherTokens(x, bad).toArray(), { name: 'ValueError', message: /outside \[0, 4\)/ });
  await t.rejects(scatterTokens(Tensor.zeros([2, 2, 3]), bad, 4).toArray(), /outside \[0, 4\)/);
  const dup = Tensor.fromArray(new Int32Array([1, 1, 0, 2]), [2, 2]);
  await t.rejects(placeTokens(Tensor.zeros([2, 2, 3]), dup, Tensor.zeros([3]), 4).toArray(), /appears twice/);
  // The queue recovers: a later valid op reads back fine.
  t.same(Array.from(await gatherTokens(x, Tensor.fromArray(new Int32Array([3, 0]), [2, 1])).toArray()), [0, 0, 0, 0, 0, 0]);
});
