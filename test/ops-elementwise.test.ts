import t from 'tap';
import { Tensor, ShapeError, DTypeError, ValueError } from '../lib/index.js';
import {
  gelu,
  geluBackward,
  add,
  addInPlace,
  scale,
  scaleInPlace,
  addBroadcast,
  rowScale,
  dropout,
  dropoutBackward,
  sumRows,
  fill,
} from '../lib/ops/elementwise.js';
import { maxRelErr, randn } from './helpers/reference.js';
import { gelu64, dgelu64 } from './helpers/norm-loss-ref.js';
import { runnableIsas, withIsa } from './helpers/isa.js';

// Each build this CPU can run (AVX2, AVX-512); 40 001 elements take the multi-threaded path.
for (const isa of runnableIsas())
  t.test(`gelu and its backward match float64 (${isa})`, (t) =>
    withIsa(isa, async () => {
      for (const n of [1, 7, 33 * 129, 160 * 96, 40001]) {
        const X = randn(n, n),
          DY = randn(n, n + 1);
        for (let i = 0; i < n; i += 3) X[i] *= 4;
        const x = Tensor.fromArray(X, [n]),
          dy = Tensor.fromArray(DY, [n]);
        const y = await gelu(x).toArray(),
          dx = await geluBackward(dy, x).toArray();
        t.ok(maxRelErr(y, Array.from(X, gelu64)) < 1e-6, `gelu n=${n}`);
        t.ok(
          maxRelErr(
            dx,
            Array.from(X, (v, i) => DY[i] * dgelu64(v)),
          ) < 2e-6,
          `geluBackward n=${n}`,
        );
      }
    }),
  );

// A dense grid over both tails and the middle, where x/2·(1 + erf) forms cancel for negative x:
// 2.6e-7 is PyTorch's float32 error on the same grid (bench/NOTES.md), and the bound is
// FlashAttention's rule of at most twice that (ours: 7e-8). NaN must reach the output.
for (const isa of runnableIsas())
  t.test(`gelu on a grid of [-12, 12] within twice PyTorch's float32 error (${isa})`, (t) =>
    withIsa(isa, async () => {
      const n = 200_003,
        X = new Float32Array(n);
      for (let i = 0; i < n; i++) X[i] = -12 + (24 * i) / (n - 1);
      X[12345] = NaN;
      const y = await gelu(Tensor.fromArray(X, [n])).toArray();
      let worst = 0;
      for (let i = 0; i < n; i++) {
        if (i === 12345) continue;
        const r = gelu64(X[i]);
        worst = Math.max(worst, Math.abs(y[i] - r) / (1 + Math.abs(r)));
      }
      t.ok(worst <= 5.2e-7, `worst |error| / (1 + |gelu|) = ${worst.toExponential(2)}`);
      t.ok(Number.isNaN(y[12345]), 'NaN in, NaN out');
    }),
  );

t.test('add, addInPlace, scale, scaleInPlace, fill', async (t) => {
  const A = randn(1000, 1),
    B = randn(1000, 2);
  const a = Tensor.fromArray(A, [10, 100]),
    b = Tensor.fromArray(B, [10, 100]);
  t.same(
    await add(a, b).toArray(),
    Float32Array.from(A, (v, i) => v + B[i]),
  );
  t.same(
    await scale(a, 3).toArray(),
    Float32Array.from(A, (v) => 3 * v),
  );
  const c = a.clone();
  t.equal(addInPlace(c, b, -2), c);
  t.ok(
    maxRelErr(
      await c.toArray(),
      Array.from(A, (v, i) => v - 2 * B[i]),
    ) < 1e-6,
  );
  t.equal(scaleInPlace(c, 0.5), c);
  t.ok(
    maxRelErr(
      await c.toArray(),
      Array.from(A, (v, i) => 0.5 * (v - 2 * B[i])),
    ) < 1e-6,
  );
  t.equal(fill(c, 7), c);
  t.same(await c.toArray(), new Float32Array(1000).fill(7));
  t.throws(() => add(a, Tensor.zeros([100, 10])), ShapeError);
  t.throws(() => addInPlace(a, Tensor.zeros([10, 100], { dtype: 'i32' })), DTypeError);
});

t.test('addBroadcast and rowScale (DropPath)', async (t) => {
  const [Bn, N, D] = [3, 5, 7];
  const X = randn(Bn * N * D, 3),
    T = randn(N * D, 4);
  const x = Tensor.fromArray(X, [Bn, N, D]);
  const y = await addBroadcast(x, Tensor.fromArray(T, [N, D])).toArray();
  t.same(
    y,
    Float32Array.from(X, (v, i) => v + T[i % (N * D)]),
  );
  const s = new Float32Array([0, 1 / 0.9, 1]);
  const r = await rowScale(x, Tensor.fromArray(s, [Bn])).toArray();
  t.same(
    r,
    Float32Array.from(X, (v, i) => v * s[Math.floor(i / (N * D))]),
  );
  t.throws(() => addBroadcast(x, Tensor.zeros([N, D + 1])), ShapeError);
  t.throws(() => rowScale(x, Tensor.zeros([Bn + 1])), ShapeError);
});

t.test('dropout is deterministic from the seed; backward reuses the mask', async (t) => {
  const X = randn(50000, 5);
  const x = Tensor.fromArray(X, [50, 1000]);
  const a = dropout(x, 0.25, 42),
    b = dropout(x, 0.25, 42),
    c = dropout(x, 0.25, 43);
  const ma = await a.mask.toArray();
  t.equal(a.mask.dtype, 'u8');
  // Element loops, not t.same: tap's deep diff of 50k-element arrays takes seconds.
  const mb = await b.mask.toArray(),
    mc = await c.mask.toArray();
  t.ok(
    ma.every((v, i) => v === mb[i]),
    'same seed, same mask',
  );
  t.ok(
    ma.some((v, i) => v !== mc[i]),
    'another seed, another mask',
  );
  const kept = ma.reduce((s, v) => s + v, 0) / ma.length;
  t.ok(Math.abs(kept - 0.75) < 0.01, `keep rate ${kept}`);
  const y = await a.y.toArray();
  t.ok(
    maxRelErr(
      y,
      Array.from(X, (v, i) => (ma[i] ? v / 0.75 : 0)),
    ) < 1e-6,
  );
  const dx = await dropoutBackward(x, a.mask, 0.25).toArray();
  t.ok(
    dx.every((v, i) => v === y[i]),
    'backward = forward on the same input',
  );
  t.throws(() => dropout(x, 1.5, 1), ValueError);
  t.throws(() => dropoutBackward(x, x, 0.25), DTypeError);
});

t.test('sumRows: column sums over leading dims, into out, accumulating', async (t) => {
  const [Bn, N, C] = [2, 33, 65];
  const X = randn(Bn * N * C, 6);
  const ref = new Float64Array(C);
  for (let i = 0; i < X.length; i++) ref[i % C] += X[i];
  const x = Tensor.fromArray(X, [Bn, N, C]);
  t.ok(maxRelErr(await sumRows(x).toArray(), ref) < 1e-6);
  const out = Tensor.zeros([C]);
  t.equal(sumRows(x, out), out);
  t.equal(sumRows(x, out, true), out);
  t.ok(
    maxRelErr(
      await out.toArray(),
      ref.map((v) => 2 * v),
    ) < 1e-6,
  );
  t.throws(() => sumRows(x, Tensor.zeros([C + 1])), ShapeError);
  t.throws(() => sumRows(x, undefined, true), ValueError);
});
