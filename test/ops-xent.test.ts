import t from 'tap';
import { Tensor, ShapeError, DTypeError, ValueError } from '../lib/index.js';
import { crossEntropy, softmax, topkCorrect } from '../lib/ops/xent.js';
import { maxRelErr, randn } from './helpers/reference.js';

// Float64 reference: mean over rows of −Σ t log softmax(x), gradient (softmax·Σt − t)/B.
function xentRef(x: Float32Array, B: number, C: number, target: (i: number, c: number) => number) {
  let loss = 0;
  const g = new Float64Array(B * C);
  for (let i = 0; i < B; i++) {
    let m = -Infinity,
      s = 0,
      ts = 0;
    for (let c = 0; c < C; c++) m = Math.max(m, x[i * C + c]);
    for (let c = 0; c < C; c++) s += Math.exp(x[i * C + c] - m);
    const lse = m + Math.log(s);
    for (let c = 0; c < C; c++) {
      loss += target(i, c) * (lse - x[i * C + c]);
      ts += target(i, c);
    }
    for (let c = 0; c < C; c++) g[i * C + c] = (Math.exp(x[i * C + c] - lse) * ts - target(i, c)) / B;
  }
  return { loss: loss / B, g };
}

t.test('crossEntropy with hard labels, label smoothing and soft targets matches float64', async (t) => {
  let seed = 1;
  for (const [B, C] of [
    [1, 1],
    [3, 174],
    [64, 400],
  ])
    for (const mode of ['hard', 'smooth', 'soft'] as const) {
      const X = randn(B * C, seed++).map((v) => v * 3);
      const labels = Int32Array.from({ length: B }, (_, i) => (i * 31 + seed) % C);
      const eps = mode === 'smooth' ? 0.1 : 0;
      const S = randn(B * C, seed++).map(Math.exp);
      for (let i = 0; i < B; i++) {
        let s = 0;
        for (let c = 0; c < C; c++) s += S[i * C + c];
        for (let c = 0; c < C; c++) S[i * C + c] /= s;
      }
      const target = mode === 'soft' ? Tensor.fromArray(S, [B, C]) : Tensor.fromArray(labels, [B]);
      const { loss, dLogits } = crossEntropy(Tensor.fromArray(X, [B, C]), target, { labelSmoothing: eps });
      t.same(loss.shape, [1]);
      t.same(dLogits.shape, [B, C]);
      const ref = xentRef(X, B, C, (i, c) => (mode === 'soft' ? S[i * C + c] : (c === labels[i] ? 1 - eps : 0) + eps / C));
      t.ok(maxRelErr(await loss.toArray(), [ref.loss]) < 1e-6, `${mode} ${B}x${C} loss`);
      t.ok(maxRelErr(await dLogits.toArray(), ref.g) < 1e-6, `${mode} ${B}x${C} grad`);
    }
});

t.test('crossEntropy is stable for huge logits', async (t) => {
  const X = Float32Array.from([1e4, 1e4 - 2, -1e4, 3e4, 3e4, 3e4]);
  const { loss, dLogits } = crossEntropy(Tensor.fromArray(X, [2, 3]), Tensor.fromArray(Int32Array.from([1, 0]), [2]));
  const ref = xentRef(X, 2, 3, (i, c) => (c === [1, 0][i] ? 1 : 0));
  t.ok(maxRelErr(await loss.toArray(), [ref.loss]) < 1e-6, `loss ${ref.loss}`);
  t.ok(maxRelErr(await dLogits.toArray(), ref.g) < 1e-6);
});

t.test('softmax rows', async (t) => {
  const [B, C] = [5, 77];
  const X = randn(B * C, 50).map((v) => v * 10);
  const y = await softmax(Tensor.fromArray(X, [B, C])).toArray();
  const ref = new Float64Array(B * C);
  for (let i = 0; i < B; i++) {
    let m = -Infinity,
      s = 0;
    for (let c = 0; c < C; c++) m = Math.max(m, X[i * C + c]);
    for (let c = 0; c < C; c++) s += Math.exp(X[i * C + c] - m);
    for (let c = 0; c < C; c++) ref[i * C + c] = Math.exp(X[i * C + c] - m) / s;
  }
  t.ok(maxRelErr(y, ref) < 1e-7);
});

t.test('topkCorrect counts ties in favour of the label', async (t) => {
  const X = Float32Array.from([0, 1, 5, 2, 3, 4, 5, 1, 7, 7, 7, 0, 4, 3, 2, 1]);
  const y = Int32Array.from([2, 0, 1, 3]);
  const r = await topkCorrect(Tensor.fromArray(X, [4, 4]), Tensor.fromArray(y, [4]), [1, 2, 3, 4, 5]).toArray();
  t.same([...r], [2, 2, 3, 4, 4]);
});

t.test('xent argument errors', async (t) => {
  const x = Tensor.zeros([2, 3]);
  try {
    crossEntropy(x, Tensor.zeros([3], { dtype: 'i32' }));
    t.fail('accepted 3 labels for 2 rows');
  } catch (e) {
    t.ok(e instanceof ShapeError);
    const err = e as ShapeError;
    t.equal(err.op, 'crossEntropy');
    t.match(err.shapes, /logits \[2,3\]/);
    t.equal(err.device, 'cpu');
  }
  t.throws(() => crossEntropy(x, Tensor.zeros([2, 4])), ShapeError, 'soft target shape');
  t.throws(() => crossEntropy(x, Tensor.zeros([2], { dtype: 'u8' })), DTypeError);
  t.throws(() => crossEntropy(Tensor.zeros([2, 3], { dtype: 'i32' }), Tensor.zeros([2], { dtype: 'i32' })), DTypeError);
  t.throws(() => crossEntropy(Tensor.zeros([6]), Tensor.zeros([6], { dtype: 'i32' })), ShapeError);
  t.throws(() => crossEntropy(x, Tensor.zeros([2], { dtype: 'i32' }), { labelSmoothing: 1.5 }), ValueError);
  t.throws(() => crossEntropy(x, Tensor.zeros([2, 3]), { labelSmoothing: 0.1 }), ValueError, 'smoothing soft targets');
  t.throws(() => softmax(Tensor.zeros([2, 3, 4])), ShapeError);
  t.throws(() => topkCorrect(x, Tensor.zeros([2], { dtype: 'i32' }), [0]), ValueError);
  t.throws(() => topkCorrect(x, Tensor.zeros([2], { dtype: 'i32' }), []), ValueError);
  t.throws(() => topkCorrect(x, Tensor.zeros([2]), [1]), DTypeError);
  // Label values are checked on the queue: the next read-back rejects.
  const bad = Tensor.fromArray(Int32Array.from([0, 3]), [2]);
  await t.rejects(crossEntropy(x, bad).loss.toArray(), /outside \[0, 3\)/);
  await t.rejects(topkCorrect(x, bad, [1]).toArray(), /outside \[0, 3\)/);
});
