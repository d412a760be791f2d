import t from 'tap';
import { Tensor, ShapeError, DTypeError, ValueError } from '../lib/index.js';
import { resizeCrop, flipFrames, framesToClip } from '../lib/ops/frames.js';
import { maxRelErr } from './helpers/reference.js';
import { randBytes, resizeCropRef } from './helpers/tokens-ref.js';

t.test('resizeCrop: hand-computed 2x2 → 4x4', async (t) => {
  const px = [0, 100, 200, 255].flatMap((v) => [v, v, v]);
  const out = await resizeCrop(Tensor.fromArray(Uint8Array.from(px), [1, 2, 2, 3]), { x: 0, y: 0, w: 2, h: 2 }, 4, 4).toArray();
  // Source coordinates per output index: 0 (clamped), 0.25, 0.75, 1 (neighbour clamped).
  const want = [0, 25, 75, 100, 50, 72, 117, 139, 150, 167, 200, 216, 200, 214, 241, 255];
  t.same(Array.from(out.filter((_, i) => i % 3 === 0)), want);
});

t.test('resizeCrop matches a double bilinear reference, rounded to nearest', async (t) => {
  let seed = 1;
  for (const [shape, crop, oh, ow] of [
    [[3, 17, 23, 3], { x: 2, y: 3, w: 13, h: 11 }, 7, 5],
    [[2, 17, 23, 3], { x: 0, y: 0, w: 23, h: 17 }, 31, 40],
    [[2, 240, 320, 3], { x: 40, y: 0, w: 240, h: 240 }, 224, 224],
  ] as [number[], { x: number; y: number; w: number; h: number }, number, number][]) {
    const f = randBytes(
      shape.reduce((a, b) => a * b),
      seed++,
    );
    const y = resizeCrop(Tensor.fromArray(f, shape), crop, oh, ow);
    t.same(y.shape, [shape[0], oh, ow, 3]);
    t.equal(y.dtype, 'u8');
    const got = await y.toArray(),
      ref = resizeCropRef(f, shape, crop, oh, ow);
    let worst = 0;
    for (let i = 0; i < ref.length; i++) worst = Math.max(worst, Math.abs(got[i] - ref[i]));
    t.ok(worst <= 0.5 + 1e-3, `${shape} → ${oh}x${ow}: worst |out − exact| = ${worst}`);
  }
});

t.test('flipFrames mirrors each row', async (t) => {
  const [T, H, W] = [3, 5, 7];
  const f = randBytes(T * H * W * 3, 9);
  const g = await flipFrames(Tensor.fromArray(f, [T, H, W, 3])).toArray();
  let ok = true;
  for (let r = 0; r < T * H; r++)
    for (let w = 0; w < W; w++) for (let c = 0; c < 3; c++) ok &&= g[(r * W + w) * 3 + c] === f[(r * W + W - 1 - w) * 3 + c];
  t.ok(ok);
});

t.test('framesToClip normalises and transposes to [B,3,T,H,W] / [3,T,H,W]', async (t) => {
  const mean = [0.485, 0.456, 0.406],
    std = [0.229, 0.224, 0.225];
  for (const shape of [
    [2, 3, 5, 7, 3],
    [4, 17, 23, 3],
  ]) {
    const f = randBytes(
      shape.reduce((a, b) => a * b),
      3,
    );
    const y = framesToClip(Tensor.fromArray(f, shape), mean, std);
    const batched = shape.length === 5;
    const [B, T, H, W] = batched ? shape : [1, ...shape];
    t.same(y.shape, batched ? [B, 3, T, H, W] : [3, T, H, W]);
    const ref = new Float64Array(f.length);
    for (let b = 0; b < B; b++)
      for (let tt = 0; tt < T; tt++)
        for (let h = 0; h < H; h++)
          for (let w = 0; w < W; w++)
            for (let c = 0; c < 3; c++)
              ref[(((b * 3 + c) * T + tt) * H + h) * W + w] = (f[(((b * T + tt) * H + h) * W + w) * 3 + c] / 255 - mean[c]) / std[c];
    t.ok(maxRelErr(await y.toArray(), ref) < 1e-6);
  }
});

t.test('frame argument errors', (t) => {
  const f = Tensor.zeros([2, 8, 8, 3], { dtype: 'u8' });
  t.throws(() => resizeCrop(Tensor.zeros([2, 8, 8, 3]), { x: 0, y: 0, w: 8, h: 8 }, 4, 4), DTypeError);
  t.throws(() => resizeCrop(Tensor.zeros([8, 8, 3], { dtype: 'u8' }), { x: 0, y: 0, w: 8, h: 8 }, 4, 4), ShapeError);
  t.throws(() => resizeCrop(f, { x: 1, y: 0, w: 8, h: 8 }, 4, 4), ValueError, 'crop leaves the frame');
  t.throws(() => resizeCrop(f, { x: 0, y: 0, w: 8, h: 8 }, 0, 4), ValueError);
  t.throws(() => flipFrames(Tensor.zeros([2, 8, 8, 3])), DTypeError);
  t.throws(() => framesToClip(Tensor.zeros([8, 8, 3], { dtype: 'u8' }), [0, 0, 0], [1, 1, 1]), ShapeError);
  t.throws(() => framesToClip(f, [0, 0], [1, 1, 1]), ValueError);
  t.throws(() => framesToClip(Tensor.zeros([2, 8, 8, 3]), [0, 0, 0], [1, 1, 1]), DTypeError);
  t.end();
});
