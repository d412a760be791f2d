import t from 'tap';
import { Tensor, ShapeError, DTypeError, ValueError } from '../lib/index.js';
import { randAugmentFrames, randAugmentArray, resizeCropArray, randomErase, mixBatch, RAND_AUGMENT_OPS } from '../lib/ops/augment.js';
import { resizeCrop } from '../lib/ops/frames.js';
import { randBytes } from './helpers/tokens-ref.js';

const prod = (s: number[]) => s.reduce((a, b) => a * b, 1);

t.test('randAugment LUT ops are exact through the addon, same op on every clip and frame', async (t) => {
  const shape = [2, 3, 5, 7, 3];
  const f = randBytes(prod(shape), 1);
  const x = Tensor.fromArray(f, shape);
  const cases: [string, number | null, (v: number) => number][] = [
    ['Invert', null, (v) => 255 - v],
    ['PosterizeIncreasing', 3, (v) => v & 0xe0],
    ['SolarizeIncreasing', 100, (v) => (v < 100 ? v : 255 - v)],
    ['SolarizeAdd', 40, (v) => (v < 128 ? Math.min(255, v + 40) : v)],
  ];
  for (const [op, value, ref] of cases) {
    const y = randAugmentFrames(x, [{ op: op as 'Invert', value }]);
    t.same(y.shape, shape);
    t.equal(y.dtype, 'u8');
    const got = await y.toArray();
    let bad = 0;
    for (let i = 0; i < f.length; i++) bad += got[i] !== ref(f[i]) ? 1 : 0;
    t.equal(bad, 0, `${op}(${value}) exact`);
  }
});

t.test('randAugment: per-clip step lists, Rotate 90 exact, the sync array form agrees', async (t) => {
  const S = 6,
    shape = [2, 2, S, S, 3];
  const f = randBytes(prod(shape), 2);
  const y = await randAugmentFrames(Tensor.fromArray(f, shape), [[{ op: 'Rotate', value: 90 }], []]).toArray();
  let bad = 0;
  for (let fr = 0; fr < 2; fr++)
    for (let yy = 0; yy < S; yy++)
      for (let xx = 0; xx < S; xx++)
        for (let c = 0; c < 3; c++) {
          bad += y[((fr * S + yy) * S + xx) * 3 + c] !== f[((fr * S + xx) * S + (S - 1 - yy)) * 3 + c] ? 1 : 0;
          const k = (((2 + fr) * S + yy) * S + xx) * 3 + c; // clip 1: no steps, unchanged
          bad += y[k] !== f[k] ? 1 : 0;
        }
  t.equal(bad, 0, 'clip 0 rotated counter-clockwise exactly, clip 1 untouched');
  const steps = [
    { op: 'ShearX' as const, value: 0.2 },
    { op: 'Equalize' as const, value: null },
    { op: 'Color' as const, value: 1.6 },
  ];
  const viaTensor = await randAugmentFrames(Tensor.fromArray(f, shape), steps).toArray();
  const inPlace = f.slice();
  t.equal(randAugmentArray(inPlace, shape, steps), inPlace, 'returns its argument');
  t.same(inPlace, viaTensor, 'array form = tensor form');
  t.notSame(inPlace, f, 'pixels changed');
});

t.test('every RandAugment op runs, keeps the shape, and changes a textured clip', async (t) => {
  const shape = [1, 2, 16, 16, 3];
  const f = randBytes(prod(shape), 3);
  const x = Tensor.fromArray(f, shape);
  const value: Record<string, number | null> = {
    AutoContrast: null,
    Equalize: null,
    Invert: null,
    Rotate: 17,
    PosterizeIncreasing: 2,
    SolarizeIncreasing: 128,
    SolarizeAdd: 60,
    ColorIncreasing: 1.7,
    ContrastIncreasing: 0.4,
    BrightnessIncreasing: 1.5,
    SharpnessIncreasing: 0.2,
    ShearX: 0.25,
    ShearY: -0.25,
    TranslateXRel: 0.3,
    TranslateYRel: -0.3,
  };
  for (const op of RAND_AUGMENT_OPS) {
    const y = await randAugmentFrames(x, [{ op, value: value[op] }]).toArray();
    t.equal(y.length, f.length);
    // Random bytes already span 0..255, so AutoContrast is (correctly) the identity on them.
    if (op !== 'AutoContrast') t.notSame(y, f, `${op} changes pixels`);
  }
});

t.test('resizeCropArray matches the resizeCrop tensor op', async (t) => {
  const shape = [2, 17, 23, 3];
  const f = randBytes(prod(shape), 4);
  const crop = { x: 2, y: 3, w: 13, h: 11 };
  const a = resizeCropArray(f, shape, crop, 9, 7);
  const b = await resizeCrop(Tensor.fromArray(f, shape), crop, 9, 7).toArray();
  t.same(a, b);
});

t.test('randomErase: one rectangle on every frame, unit normal noise, others copied', async (t) => {
  const [B, C, T, H, W] = [2, 3, 4, 32, 40];
  const x = Tensor.fromArray(new Float32Array(B * C * T * H * W).fill(0.5), [B, C, T, H, W]);
  const rect = { clip: 0, top: 4, left: 6, h: 20, w: 25, seed: 99 };
  const y = await randomErase(x, [rect]).toArray();
  let s = 0,
    s2 = 0,
    n = 0,
    outsideOk = true;
  for (let b = 0; b < B; b++)
    for (let c = 0; c < C; c++)
      for (let tt = 0; tt < T; tt++)
        for (let h = 0; h < H; h++)
          for (let w = 0; w < W; w++) {
            const v = y[(((b * C + c) * T + tt) * H + h) * W + w];
            const inside = b === 0 && h >= 4 && h < 24 && w >= 6 && w < 31;
            if (!inside) outsideOk &&= v === 0.5;
            else {
              s += v;
              s2 += v * v;
              n++;
            }
          }
  t.ok(outsideOk, 'outside the rectangle unchanged');
  t.equal(n, C * T * 20 * 25);
  const mean = s / n,
    sd = Math.sqrt(s2 / n - mean * mean);
  t.ok(Math.abs(mean) < 0.06 && Math.abs(sd - 1) < 0.06, `noise mean ${mean.toFixed(3)}, sd ${sd.toFixed(3)}`);
  t.same(await randomErase(x, [rect]).toArray(), y, 'the same seed gives the same noise');
  t.same(await randomErase(x, []).toArray(), await x.toArray(), 'no rectangles: a copy');
});

t.test('mixBatch: mixup blend and cutmix paste against a float64 reference', async (t) => {
  const [B, C, T, H, W] = [4, 3, 2, 6, 5],
    S = C * T * H * W;
  const f = Float32Array.from({ length: B * S }, (_, i) => ((i * 13) % 32) / 8 - 2);
  const x = Tensor.fromArray(f, [B, C, T, H, W]);
  const m = await mixBatch(x, 0.25).toArray();
  let bad = 0;
  for (let b = 0; b < B; b++)
    for (let i = 0; i < S; i++) bad += m[b * S + i] !== 0.25 * f[b * S + i] + 0.75 * f[(B - 1 - b) * S + i] ? 1 : 0;
  t.equal(bad, 0, 'mixup exact on dyadic values');
  const box = { y0: 1, y1: 4, x0: 2, x1: 5 };
  const c = await mixBatch(x, 0.7, box).toArray();
  bad = 0;
  for (let b = 0; b < B; b++)
    for (let i = 0; i < S; i++) {
      const h = Math.floor(i / W) % H,
        w = i % W;
      const src = h >= 1 && h < 4 && w >= 2 && w < 5 ? B - 1 - b : b;
      bad += c[b * S + i] !== f[src * S + i] ? 1 : 0;
    }
  t.equal(bad, 0, 'cutmix pastes the mirrored clip inside the box on every frame and channel');
});

t.test('augment argument errors are typed', (t) => {
  const u8 = Tensor.zeros([2, 8, 8, 3], { dtype: 'u8' });
  const f32 = Tensor.zeros([2, 3, 2, 8, 8]);
  t.throws(() => randAugmentFrames(Tensor.zeros([2, 8, 8, 3]), []), DTypeError);
  t.throws(() => randAugmentFrames(Tensor.zeros([8, 8, 3], { dtype: 'u8' }), []), ShapeError);
  t.throws(() => randAugmentFrames(Tensor.zeros([1, 2, 8, 8, 5], { dtype: 'u8' }), []), ShapeError, 'C > 4');
  t.throws(() => randAugmentFrames(u8, [{ op: 'Nope' as 'Invert', value: 1 }]), ValueError);
  t.throws(() => randAugmentFrames(u8, [{ op: 'PosterizeIncreasing', value: 9 }]), ValueError);
  t.throws(() => randAugmentFrames(u8, [{ op: 'SolarizeIncreasing', value: NaN }]), ValueError);
  t.throws(() => randAugmentFrames(Tensor.zeros([2, 1, 8, 8, 3], { dtype: 'u8' }), [[], [], []]), ValueError, 'one list per clip');
  t.throws(() => randAugmentArray(new Uint8Array(10), [1, 2, 2, 3], []), ShapeError);
  t.throws(() => randAugmentArray(new Float32Array(12) as unknown as Uint8Array, [1, 2, 2, 3], []), DTypeError);
  t.throws(() => randomErase(u8, []), DTypeError);
  t.throws(() => randomErase(Tensor.zeros([3, 2, 8, 8]), []), ShapeError);
  t.throws(() => randomErase(f32, [{ clip: 0, top: 5, left: 0, h: 4, w: 2, seed: 1 }]), ValueError, 'box leaves the frame');
  t.throws(() => randomErase(f32, [{ clip: 2, top: 0, left: 0, h: 1, w: 1, seed: 1 }]), ValueError, 'no such clip');
  t.throws(() => mixBatch(f32, 1.5), ValueError);
  t.throws(() => mixBatch(f32, 0.5, { y0: 0, y1: 9, x0: 0, x1: 1 }), ValueError);
  t.throws(() => mixBatch(u8, 0.5), DTypeError);
  t.end();
});
