import t from 'tap';
import { Tensor, ShapeError, DTypeError, ValueError } from '../lib/index.js';
import { videomaePixelTarget, maePixelTarget, rgbDiffTarget } from '../lib/ops/targets.js';
import { maxRelErr, randn } from './helpers/reference.js';
import { pixelTargetRef } from './helpers/tokens-ref.js';

const mean = [0.485, 0.456, 0.406],
  std = [0.229, 0.224, 0.225];

t.test('videomaePixelTarget matches the SPEC §7 definition', async (t) => {
  let seed = 1;
  for (const [shape, tubelet, patch] of [
    [[3, 3, 4, 32, 48], 2, 16],
    [[1, 3, 3, 15, 25], 3, 5],
  ] as [number[], number, number][])
    for (const normalize of [true, false]) {
      const X = randn(
        shape.reduce((a, b) => a * b),
        seed++,
      );
      const y = videomaePixelTarget(Tensor.fromArray(X, shape), { mean, std, tubelet, patch, normalize });
      const [B, C, T, H, W] = shape;
      t.same(y.shape, [B, (T / tubelet) * (H / patch) * (W / patch), tubelet * patch * patch * C]);
      const err = maxRelErr(await y.toArray(), pixelTargetRef(X, shape, 'videomae', { mean, std, tubelet, patch, normalize }));
      t.ok(err < 2e-5, `${shape} normalize=${normalize}: ${err}`);
    }
  t.same(videomaePixelTarget(Tensor.zeros([1, 3, 2, 32, 32]), { mean, std }).shape, [1, 4, 1536], 'defaults 2x16x16');
});

t.test('maePixelTarget matches the SPEC §8 definition', async (t) => {
  let seed = 20;
  for (const [shape, patch] of [
    [[3, 3, 28, 42], 14],
    [[1, 3, 17, 34], 17],
  ] as [number[], number][])
    for (const normalize of [true, false]) {
      const X = randn(
        shape.reduce((a, b) => a * b),
        seed++,
      );
      const [B, C, H, W] = shape;
      const y = maePixelTarget(Tensor.fromArray(X, shape), { mean, std, patch, normalize });
      t.same(y.shape, [B, (H / patch) * (W / patch), patch * patch * C]);
      const err = maxRelErr(await y.toArray(), pixelTargetRef(X, [B, C, 1, H, W], 'mae', { mean, std, tubelet: 1, patch, normalize }));
      t.ok(err < 2e-5, `${shape} normalize=${normalize}: ${err}`);
    }
});

t.test('rgbDiffTarget: last minus first frame of each tubelet', async (t) => {
  let seed = 40;
  for (const [shape, tubelet, patch] of [
    [[3, 3, 4, 32, 16], 2, 16],
    [[1, 3, 6, 9, 21], 3, 3],
  ] as [number[], number, number][])
    for (const normalize of [true, false]) {
      const X = randn(
        shape.reduce((a, b) => a * b),
        seed++,
      );
      const y = rgbDiffTarget(Tensor.fromArray(X, shape), { mean, std, tubelet, patch, normalize });
      const [B, C, T, H, W] = shape;
      t.same(y.shape, [B, (T / tubelet) * (H / patch) * (W / patch), patch * patch * C]);
      const err = maxRelErr(await y.toArray(), pixelTargetRef(X, shape, 'diff', { mean, std, tubelet, patch, normalize }));
      t.ok(err < 2e-5, `${shape} normalize=${normalize}: ${err}`);
    }
});

t.test('target argument errors', (t) => {
  const v = Tensor.zeros([1, 3, 4, 32, 32]);
  t.throws(() => videomaePixelTarget(Tensor.zeros([1, 3, 4, 32, 32], { dtype: 'u8' }), { mean, std }), DTypeError);
  t.throws(() => videomaePixelTarget(Tensor.zeros([3, 4, 32, 32]), { mean, std }), ShapeError);
  t.throws(() => videomaePixelTarget(v, { mean, std, patch: 10 }), ShapeError);
  t.throws(() => videomaePixelTarget(v, { mean: [0.5], std }), ValueError);
  t.throws(() => videomaePixelTarget(v, { mean, std: [1, 0, 1] }), ValueError);
  t.throws(() => maePixelTarget(v, { mean, std, patch: 16 }), ShapeError);
  t.throws(() => rgbDiffTarget(v, { mean, std, tubelet: 1 }), ValueError);
  t.end();
});
