import t from 'tap';
import { Tensor, ShapeError, DTypeError, ValueError } from '../lib/index.js';
import { distillLoss, mseLoss } from '../lib/ops/loss.js';
import { maxRelErr, randn } from './helpers/reference.js';
import { lossRef, type LossKind } from './helpers/norm-loss-ref.js';

const close = (a: number, b: number, tol = 1e-6) => Math.abs(a - b) <= tol * (1 + Math.abs(b));

t.test('distillLoss matches float64 for every kind, pairs with different C', async (t) => {
  let seed = 1;
  for (const kind of ['smoothl1', 'l2', 'l1'] as LossKind[])
    for (const [B, M, Ci, Cv] of [
      [1, 1, 7, 3],
      [2, 33, 64, 96],
      [2, 160, 384, 1536],
    ]) {
      const PI = randn(B * M * Ci, seed++),
        TI = randn(B * M * Ci, seed++);
      const PV = randn(B * M * Cv, seed++),
        TV = randn(B * M * Cv, seed++);
      const opts = { kind, wImg: 0.5, wVid: 2, beta: 0.8 };
      const r = distillLoss(
        Tensor.fromArray(PI, [B, M, Ci]),
        Tensor.fromArray(TI, [B, M, Ci]),
        Tensor.fromArray(PV, [B, M, Cv]),
        Tensor.fromArray(TV, [B, M, Cv]),
        opts,
      );
      const ri = lossRef(PI, TI, kind, 0.5, 0.8),
        rv = lossRef(PV, TV, kind, 2, 0.8);
      const [total, img, vid] = await r.loss.toArray();
      const tag = `${kind} ${B}x${M} C=${Ci}/${Cv}`;
      t.ok(close(img, ri.mean) && close(vid, rv.mean) && close(total, 0.5 * ri.mean + 2 * rv.mean), `${tag} loss`);
      t.same(r.dPredImg!.shape, [B, M, Ci]);
      t.ok(maxRelErr(await r.dPredImg!.toArray(), ri.grad) < 1e-7, `${tag} dPredImg`);
      t.ok(maxRelErr(await r.dPredVid!.toArray(), rv.grad) < 1e-7, `${tag} dPredVid`);
    }
});

t.test('a missing pair contributes 0 and gets a null gradient', async (t) => {
  const P = randn(60, 1),
    T = randn(60, 2);
  const r = distillLoss(null, null, Tensor.fromArray(P, [2, 5, 6]), Tensor.fromArray(T, [2, 5, 6]), { kind: 'smoothl1' });
  const ref = lossRef(P, T, 'smoothl1', 1);
  const [total, img, vid] = await r.loss.toArray();
  t.equal(img, 0);
  t.ok(close(vid, ref.mean) && close(total, ref.mean));
  t.equal(r.dPredImg, null);
  t.ok(maxRelErr(await r.dPredVid!.toArray(), ref.grad) < 1e-7);
});

t.test('mseLoss', async (t) => {
  const P = randn(1000, 3),
    T = randn(1000, 4);
  const r = mseLoss(Tensor.fromArray(P, [10, 100]), Tensor.fromArray(T, [10, 100]));
  const ref = lossRef(P, T, 'l2', 1);
  t.ok(close(await r.loss.item(), ref.mean));
  t.ok(maxRelErr(await r.dPred.toArray(), ref.grad) < 1e-7);
});

t.test('loss errors', (t) => {
  const a = Tensor.zeros([2, 3, 4]);
  try {
    distillLoss(a, Tensor.zeros([2, 3, 5]), null, null, { kind: 'l2' });
    t.fail('mismatch accepted');
  } catch (e) {
    t.ok(e instanceof ShapeError);
    t.equal((e as ShapeError).op, 'distillLoss');
    t.match((e as ShapeError).shapes, /predImg \[2,3,4\], targetImg \[2,3,5\]/);
  }
  t.throws(() => distillLoss(a, null, null, null, { kind: 'l2' }), ValueError);
  t.throws(() => distillLoss(a, a, null, null, { kind: 'huber' as never }), ValueError);
  t.throws(() => mseLoss(a, Tensor.zeros([2, 3, 4], { dtype: 'u8' })), DTypeError);
  t.end();
});
