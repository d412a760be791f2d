import t from 'tap';
import { Tensor, ShapeError, DTypeError, ValueError } from '../lib/index.js';
import { layerNormForward, layerNormBackward, addLayerNormForward } from '../lib/ops/norm.js';
import { maxRelErr, randn } from './helpers/reference.js';
import { layerNormRef } from './helpers/norm-loss-ref.js';
import { runnableIsas, withIsa } from './helpers/isa.js';

// rows and D that break vector widths, one row, and ViT-S/B widths.
const shapes: [number[], number][] = [
  [[1, 7], 7],
  [[3, 11, 64], 64],
  [[5, 100], 100],
  [[129, 384], 384],
  [[2, 80, 768], 768],
];

// Each build this CPU can run (AVX2, AVX-512).
for (const isa of runnableIsas())
  t.test(`layerNorm forward and backward match float64 (${isa})`, (t) =>
    withIsa(isa, async () => {
      let seed = 1;
      for (const [shape, D] of shapes)
        for (const affine of [true, false]) {
          const n = shape.reduce((a, b) => a * b, 1),
            rows = n / D;
          const X = randn(n, seed++),
            DY = randn(n, seed++);
          for (let i = 0; i < n; i++) X[i] = X[i] * 2 + 0.3;
          const W = affine ? randn(D, seed++) : null,
            B = affine ? randn(D, seed++) : null;
          const x = Tensor.fromArray(X, shape),
            dy = Tensor.fromArray(DY, shape);
          const w = W && Tensor.fromArray(W, [D]),
            b = B && Tensor.fromArray(B, [D]);
          const f = layerNormForward(x, w, b, 1e-6);
          t.same(f.y.shape, shape);
          t.same(f.mean.shape, [rows]);
          const g = layerNormBackward(dy, x, f.mean, f.rstd, w);
          const ref = layerNormRef(X, DY, W, B, rows, D, 1e-6);
          const tag = `${shape} affine=${affine}`;
          t.ok(maxRelErr(await f.y.toArray(), ref.y) < 5e-6, `${tag} y`);
          t.ok(maxRelErr(await f.mean.toArray(), ref.mean) < 1e-6, `${tag} mean`);
          t.ok(maxRelErr(await f.rstd.toArray(), ref.rstd) < 1e-5, `${tag} rstd`);
          t.ok(maxRelErr(await g.dx.toArray(), ref.dx) < 2e-5, `${tag} dx`);
          if (affine) {
            t.ok(maxRelErr(await g.dWeight!.toArray(), ref.dw) < 2e-5, `${tag} dWeight`);
            t.ok(maxRelErr(await g.dBias!.toArray(), ref.db) < 2e-5, `${tag} dBias`);
          } else {
            t.equal(g.dWeight, null);
            t.equal(g.dBias, null);
          }
        }
    }),
  );

// The fused residual add: the sum must be exactly x + residual in float (Math.fround of the same
// add), the norm is of that sum, and dResidual is added to the norm's dx.
for (const isa of runnableIsas())
  t.test(`addLayerNorm and the backward with dResidual match float64 (${isa})`, (t) =>
    withIsa(isa, async () => {
      let seed = 100;
      for (const [shape, D] of shapes)
        for (const affine of [true, false]) {
          const n = shape.reduce((a, b) => a * b, 1),
            rows = n / D;
          const X = randn(n, seed++),
            R = randn(n, seed++),
            DY = randn(n, seed++),
            DS = randn(n, seed++);
          for (let i = 0; i < n; i++) X[i] = X[i] * 2 + 0.3;
          const W = affine ? randn(D, seed++) : null,
            B = affine ? randn(D, seed++) : null;
          const x = Tensor.fromArray(X, shape),
            r = Tensor.fromArray(R, shape);
          const dy = Tensor.fromArray(DY, shape),
            ds = Tensor.fromArray(DS, shape);
          const w = W && Tensor.fromArray(W, [D]),
            b = B && Tensor.fromArray(B, [D]);
          const f = addLayerNormForward(x, r, w, b, 1e-6);
          const S = new Float32Array(n).map((_, i) => Math.fround(X[i] + R[i]));
          const tag = `${shape} affine=${affine}`;
          t.same(await f.sum.toArray(), S, `${tag} sum is x + residual`);
          const g = layerNormBackward(dy, f.sum, f.mean, f.rstd, w, ds);
          const ref = layerNormRef(S, DY, W, B, rows, D, 1e-6);
          const dxRef = ref.dx.map((v, i) => v + DS[i]);
          t.ok(maxRelErr(await f.y.toArray(), ref.y) < 5e-6, `${tag} y`);
          t.ok(maxRelErr(await f.rstd.toArray(), ref.rstd) < 1e-5, `${tag} rstd`);
          t.ok(maxRelErr(await g.dx.toArray(), dxRef) < 2e-5, `${tag} dx + dResidual`);
          if (affine) t.ok(maxRelErr(await g.dWeight!.toArray(), ref.dw) < 2e-5, `${tag} dWeight`);
          for (const z of [x, r, dy, ds, w, b, f.sum, f.y, f.mean, f.rstd, g.dx, g.dWeight, g.dBias]) z?.dispose();
        }
    }),
  );

t.test('layerNorm errors name op, shapes and device', (t) => {
  const x = Tensor.zeros([4, 8]);
  try {
    layerNormForward(x, Tensor.zeros([7]), Tensor.zeros([7]), 1e-6);
    t.fail('bad weight accepted');
  } catch (e) {
    t.ok(e instanceof ShapeError);
    const err = e as ShapeError;
    t.equal(err.op, 'layerNormForward');
    t.match(err.shapes, /x \[4,8\], weight \[7\]/);
    t.equal(err.device, 'cpu');
  }
  t.throws(() => layerNormForward(x, Tensor.zeros([8]), null, 1e-6), ValueError);
  t.throws(() => layerNormForward(Tensor.zeros([4, 8], { dtype: 'u8' }), null, null, 1e-6), DTypeError);
  const f = layerNormForward(x, null, null, 1e-6);
  t.throws(() => layerNormBackward(Tensor.zeros([4, 9]), x, f.mean, f.rstd, null), ShapeError);
  t.throws(() => layerNormBackward(x, x, Tensor.zeros([3]), f.rstd, null), ShapeError);
  t.throws(() => addLayerNormForward(x, Tensor.zeros([4, 9]), null, null, 1e-6), /residual and x must have the same shape/);
  t.throws(() => addLayerNormForward(x, Tensor.zeros([4, 8], { dtype: 'u8' }), null, null, 1e-6), DTypeError);
  t.throws(() => layerNormBackward(x, x, f.mean, f.rstd, null, Tensor.zeros([8, 4])), /dResidual and x must have the same shape/);
  t.end();
});
