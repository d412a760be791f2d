import t from 'tap';
import { Tensor, ShapeError, DTypeError, ValueError } from '../lib/index.js';
import { adamw, gradNorm, allFinite, scaleTensors } from '../lib/ops/optim.js';
import { maxRelErr, randn } from './helpers/reference.js';
import { adamwRef } from './helpers/norm-loss-ref.js';

t.test('adamw matches float64 PyTorch AdamW over several steps, decay and no-decay groups', async (t) => {
  const sizes = [[768, 8], [768], [3], [20000]];
  const lr = [6e-4, 6e-4, 1e-3, 2e-4],
    wd = [0.05, 0, 0, 0.05];
  const hyper = { beta1: 0.9, beta2: 0.95, eps: 1e-8, gradScale: 1 / 64 };
  const P = sizes.map((s, i) =>
    randn(
      s.reduce((a, b) => a * b, 1),
      10 + i,
    ),
  );
  const p = P.map((x, i) => Tensor.fromArray(x, sizes[i]));
  const m = sizes.map((s) => Tensor.zeros(s)),
    v = sizes.map((s) => Tensor.zeros(s));
  const pd = P.map((x) => Float64Array.from(x)),
    md = P.map((x) => new Float64Array(x.length)),
    vd = P.map((x) => new Float64Array(x.length));
  for (let step = 1; step <= 4; step++) {
    const G = P.map((x, i) => randn(x.length, 100 * step + i).map((g) => g * 64));
    adamw(
      p,
      G.map((g, i) => Tensor.fromArray(g, sizes[i])),
      m,
      v,
      { lr, weightDecay: wd, step, ...hyper },
    );
    for (let i = 0; i < P.length; i++) adamwRef(pd[i], G[i], md[i], vd[i], { lr: lr[i], wd: wd[i], step, ...hyper });
  }
  for (let i = 0; i < P.length; i++) {
    t.ok(maxRelErr(await p[i].toArray(), pd[i]) < 1e-6, `param ${i}`);
    t.ok(maxRelErr(await m[i].toArray(), md[i]) < 1e-6, `m ${i}`);
    t.ok(maxRelErr(await v[i].toArray(), vd[i]) < 1e-6, `v ${i}`);
  }
});

t.test('gradNorm, allFinite, scaleTensors', async (t) => {
  const A = randn(1000, 1),
    B = randn(77, 2);
  const a = Tensor.fromArray(A, [1000]),
    b = Tensor.fromArray(B, [7, 11]);
  let ss = 0;
  for (const x of [...A, ...B]) ss += x * x;
  t.ok(Math.abs((await gradNorm([a, b]).item()) - Math.sqrt(ss)) < 1e-6 * Math.sqrt(ss));
  t.equal(await allFinite([a, b]).item(), 1);
  scaleTensors([a, b], 0.5);
  t.ok(Math.abs((await gradNorm([a, b]).item()) - 0.5 * Math.sqrt(ss)) < 1e-6 * Math.sqrt(ss));
  const bad = Float32Array.from(B);
  bad[5] = Infinity;
  t.equal(await allFinite([a, Tensor.fromArray(bad, [77])]).item(), 0);
  bad[5] = NaN;
  t.equal(await allFinite([Tensor.fromArray(bad, [77]), a]).item(), 0);
  t.equal(await gradNorm([]).item(), 0);
});

t.test('optimizer errors', (t) => {
  const p = Tensor.zeros([4]),
    q = Tensor.zeros([5]);
  const base = { lr: [1e-3], weightDecay: [0], beta1: 0.9, beta2: 0.95, eps: 1e-8, step: 1 };
  try {
    adamw([p], [q], [p.clone()], [p.clone()], base);
    t.fail('shape mismatch accepted');
  } catch (e) {
    t.ok(e instanceof ShapeError);
    t.equal((e as ShapeError).op, 'adamw');
    t.match((e as ShapeError).shapes, /params\[0\] \[4\], grads\[0\] \[5\]/);
  }
  t.throws(() => adamw([p], [p, p], [p], [p], base), ValueError);
  t.throws(() => adamw([p], [p], [p], [p], { ...base, lr: [1, 2] }), ValueError);
  t.throws(() => adamw([p], [p], [p], [p], { ...base, step: 0 }), ValueError);
  t.throws(() => gradNorm([Tensor.zeros([3], { dtype: 'i32' })]), DTypeError);
  t.end();
});
