import t from 'tap';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  Rng,
  deriveSeed,
  pretrainIndices,
  denseTrainIndices,
  denseTestIndices,
  tsnTrainIndices,
  tsnTestIndices,
  multiScaleCropSizes,
  fixedCropOffsets,
  multiScaleCrop,
  randomResizedCrop,
  testCrops,
  centreCrop,
  randomErasing,
  mixupCutmix,
  randAugment,
  RAND_AUGMENT_OPS,
  tubeMask,
  randomMask,
  batchMasks,
  maskCounts,
  tokenGrid,
  parseListFile,
  ListFileError,
  scanClassFolders,
  splitTrainVal,
  epochOrder,
  sampleSeed,
} from '../lib/data/index.js';
import { tempDir } from './helpers/data-fixtures.js';

const arr = (a: ArrayLike<number>) => Array.from(a);

t.test('rng: same seed, same stream; keys separate streams; state round-trips', async (t) => {
  const a = new Rng(42),
    b = new Rng(42),
    c = new Rng(42, 1);
  const xa = Array.from({ length: 8 }, () => a.nextU32());
  t.same(
    xa,
    Array.from({ length: 8 }, () => b.nextU32()),
  );
  t.not(xa[0], c.nextU32());
  const s = a.getState();
  const r2 = Rng.fromState(s);
  t.equal(r2.nextU32(), a.nextU32());
  t.equal(deriveSeed(1, 2, 3), deriveSeed(1, 2, 3));
  t.not(deriveSeed(1, 2, 3), deriveSeed(1, 3, 2));
  t.not(deriveSeed(2 ** 33), deriveSeed(0));
  let sum = 0,
    hits = new Set<number>();
  for (let i = 0; i < 20000; i++) {
    sum += a.float();
    hits.add(a.int(7));
  }
  t.ok(Math.abs(sum / 20000 - 0.5) < 0.01, 'float mean ~ 0.5');
  t.same([...hits].sort(), [0, 1, 2, 3, 4, 5, 6]);
  let bsum = 0;
  for (let i = 0; i < 4000; i++) bsum += a.beta(0.8, 0.8);
  t.ok(Math.abs(bsum / 4000 - 0.5) < 0.03, 'Beta(0.8, 0.8) mean ~ 0.5');
});

t.test('pretrain sampling: 16 at stride 4 from a uniform start; clamped on a 40-frame video', async (t) => {
  t.same(arr(pretrainIndices(40, new Rng(1))), [0, 4, 8, 12, 16, 20, 24, 28, 32, 36, 36, 36, 36, 36, 36, 36]);
  t.same(
    arr(pretrainIndices(64, new Rng(1))),
    Array.from({ length: 16 }, (_, k) => 4 * k),
  );
  // 65 frames: start 0 or 1, both ends reachable.
  const starts = new Set<number>();
  for (let s = 0; s < 200; s++) {
    const idx = pretrainIndices(300, new Rng(s));
    starts.add(idx[0]);
    t.ok(idx[0] >= 0 && idx[0] <= 236 && idx.every((v, k) => v === idx[0] + 4 * k));
  }
  t.ok(starts.size > 100, 'starts spread over [0, 236]');
  const s65 = new Set<number>();
  for (let s = 0; s < 50; s++) s65.add(pretrainIndices(65, new Rng(s))[0]);
  t.same([...s65].sort(), [0, 1]);
  t.same(arr(pretrainIndices(1, new Rng(0), 4, 4)), [0, 0, 0, 0]);
});

t.test('fine-tune sampling: dense (K400) train/test and TSN (SSv2) train/test', async (t) => {
  // linspace(s, s+64, 16) truncated, last clipped to s+63.
  const rel = [0, 4, 8, 12, 17, 21, 25, 29, 34, 38, 42, 46, 51, 55, 59, 63];
  for (let s = 0; s < 20; s++) {
    const idx = arr(denseTrainIndices(300, new Rng(s)));
    t.same(
      idx.map((v) => v - idx[0]),
      rel,
    );
    t.ok(idx[0] >= 0 && idx[0] <= 235);
  }
  // Short video: linspace(0, 40, 10) truncated, padded with the last frame.
  t.same(arr(denseTrainIndices(40, new Rng(0))), [0, 4, 8, 13, 17, 22, 26, 31, 35, 39, 39, 39, 39, 39, 39, 39]);
  // 280 frames → 70 strided; starts int(c·13.5) = 0, 13, 27, 40, 54.
  const test = denseTestIndices(280, 5);
  t.same(
    test.map((c) => c[0]),
    [0, 52, 108, 160, 216],
  );
  t.same(
    arr(test[4]),
    Array.from({ length: 16 }, (_, k) => (54 + k) * 4),
  );
  t.same(arr(denseTestIndices(40, 2)[1]), [0, 4, 8, 12, 16, 20, 24, 28, 32, 36, 36, 36, 36, 36, 36, 36]);

  for (let s = 0; s < 20; s++) {
    const idx = tsnTrainIndices(164, new Rng(s));
    t.ok(arr(idx).every((v, i) => v >= 10 * i && v <= 10 * i + 9));
  }
  t.same(arr(tsnTrainIndices(10, new Rng(0))), new Array(16).fill(0));
  const srt = arr(tsnTrainIndices(20, new Rng(3), 32));
  t.same(
    srt,
    [...srt].sort((a, b) => a - b),
  );
  const [v0, v1] = tsnTestIndices(164, 2);
  t.same(arr(v0), [0, 10, 20, 30, 41, 51, 61, 71, 82, 92, 102, 112, 123, 133, 143, 153]);
  t.same(arr(v1), [5, 15, 25, 35, 46, 56, 66, 76, 87, 97, 107, 117, 128, 138, 148, 158]);
  t.same(arr(tsnTestIndices(164, 1, 16, true)[0]), arr(v1));
});

t.test('multi-scale corner crop: sizes, snapping, pairs, 13 offsets', async (t) => {
  t.same(multiScaleCropSizes(340, 256), [
    [256, 256],
    [224, 256],
    [256, 224],
    [224, 224],
    [192, 224],
    [224, 192],
    [192, 192],
    [168, 192],
    [192, 168],
    [168, 168],
  ]);
  // 254·0.875 = 222.25 → 222, within 3 px of 224 → snaps.
  t.same(multiScaleCropSizes(300, 254).slice(0, 2), [
    [254, 254],
    [224, 254],
  ]);
  // 320×240: 240, 210, 180, 158: nothing within 3 px of 224.
  t.same(
    multiScaleCropSizes(320, 240)
      .map(([w]) => w)
      .filter((v, i, a) => a.indexOf(v) === i)
      .sort(),
    [158, 180, 210, 240],
  );
  t.same(fixedCropOffsets(340, 256, 224, 224), [
    [0, 0],
    [116, 0],
    [0, 32],
    [116, 32],
    [58, 16],
    [0, 16],
    [116, 16],
    [58, 32],
    [58, 0],
    [29, 8],
    [87, 8],
    [29, 24],
    [87, 24],
  ]);
  const seen = new Set<string>();
  for (let s = 0; s < 400; s++) {
    const b = multiScaleCrop(340, 256, new Rng(s));
    t.ok(b.x >= 0 && b.y >= 0 && b.x + b.w <= 340 && b.y + b.h <= 256);
    seen.add(`${b.w}x${b.h}`);
  }
  t.equal(seen.size, 10, 'all 10 size pairs drawn');
  t.same(multiScaleCrop(340, 256, new Rng(9)), multiScaleCrop(340, 256, new Rng(9)));
});

t.test('test-time crops: short side to 224, 3 crops along the long side', async (t) => {
  t.same(testCrops(340, 256), {
    resized: [297, 224],
    crops: [
      { x: 0, y: 0, w: 224, h: 224 },
      { x: 36, y: 0, w: 224, h: 224 },
      { x: 73, y: 0, w: 224, h: 224 },
    ],
  });
  t.same(
    testCrops(240, 320).crops.map((c) => c.y),
    [0, 37, 74],
  );
  t.same(testCrops(240, 320).resized, [224, 298]);
  t.same(centreCrop(340, 256).crop, { x: 36, y: 0, w: 224, h: 224 });
});

t.test('random resized crop, erasing, mixup/cutmix, RandAugment', async (t) => {
  // Impossible area → fallback centre crop clamped to the ratio range.
  t.same(randomResizedCrop(340, 256, new Rng(0), [2, 2]), { x: 0, y: 0, w: 340, h: 256 });
  t.same(randomResizedCrop(400, 100, new Rng(0), [2, 2]), { x: 133, y: 0, w: 133, h: 100 });
  for (let s = 0; s < 200; s++) {
    const b = randomResizedCrop(340, 256, new Rng(s));
    t.ok(b.w > 0 && b.h > 0 && b.x + b.w <= 340 && b.y + b.h <= 256);
    t.ok((b.w * b.h) / (340 * 256) >= 0.07, 'area fraction >= scale min (up to rounding)');
  }
  let erased = 0;
  for (let s = 0; s < 1000; s++) {
    const e = randomErasing(224, 224, new Rng(s));
    if (!e) continue;
    erased++;
    t.ok(e.top + e.h <= 224 && e.left + e.w <= 224 && e.h * e.w >= 0.015 * 224 * 224);
  }
  t.ok(erased > 180 && erased < 320, `erasing applied ~25% (${erased}/1000)`);
  let cut = 0;
  for (let s = 0; s < 1000; s++) {
    const m = mixupCutmix(224, 224, new Rng(s));
    t.ok(m.lambda >= 0 && m.lambda <= 1);
    if (m.mode === 'cutmix') {
      cut++;
      const b = m.box!;
      t.ok(Math.abs(m.lambda - (1 - ((b.y1 - b.y0) * (b.x1 - b.x0)) / (224 * 224))) < 1e-12);
    } else t.equal(m.mode, 'mixup');
  }
  t.ok(cut > 430 && cut < 570, `switches to cutmix ~50% (${cut}/1000)`);
  t.same(mixupCutmix(224, 224, new Rng(1), { prob: 0 }), { mode: 'none', lambda: 1 });
  let total = 0;
  for (let s = 0; s < 500; s++) {
    const ops = randAugment(new Rng(s));
    total += ops.length;
    t.ok(ops.length <= 4);
    for (const o of ops) t.ok(RAND_AUGMENT_OPS.includes(o.op) && o.magnitude >= 0 && o.magnitude <= 10);
  }
  t.ok(Math.abs(total / 500 - 2) < 0.25, 'each of 4 ops applied with p = 0.5');
  t.same(randAugment(new Rng(5)), randAugment(new Rng(5)));
});

t.test('tube masking: 176 per 14x14 slice, 160 visible / 1408 masked, raster order, seeded', async (t) => {
  const g = tokenGrid(16, 224, 16, 2);
  t.same(g, { t: 8, h: 14, w: 14 });
  const m = tubeMask(g, 0.9, new Rng(3));
  t.equal(m.visible.length, 160);
  t.equal(m.masked.length, 1408);
  const all = [...m.visible, ...m.masked].sort((a, b) => a - b);
  t.same(
    all,
    Array.from({ length: 1568 }, (_, i) => i),
    'a partition of all tokens',
  );
  t.ok(
    m.visible.every((v, i) => i === 0 || v > m.visible[i - 1]),
    'visible ascending',
  );
  t.ok(
    m.masked.every((v, i) => i === 0 || v > m.masked[i - 1]),
    'masked ascending',
  );
  const slice0 = arr(m.visible.subarray(0, 20));
  for (let s = 1; s < 8; s++)
    t.same(
      arr(m.visible.subarray(20 * s, 20 * s + 20)).map((v) => v - 196 * s),
      slice0,
      `slice ${s} repeats the pattern`,
    );
  t.same(tubeMask(g, 0.9, new Rng(3)), m);
  t.notSame(arr(tubeMask(g, 0.9, new Rng(4)).visible), arr(m.visible));
  t.same(maskCounts('tube', g, 0.9), { visible: 160, masked: 1408 });

  const r = randomMask(g, 0.75, new Rng(1));
  t.equal(r.masked.length, 1176);
  t.equal(r.visible.length, 392);
  // Odd grid and ratio: floor per slice for tube, over all for random.
  t.same(maskCounts('tube', { t: 3, h: 5, w: 7 }, 0.5), { visible: 3 * 18, masked: 3 * 17 });
  t.same(maskCounts('random', { t: 3, h: 5, w: 7 }, 0.5), { visible: 53, masked: 52 });
  const rr = randomMask({ t: 3, h: 5, w: 7 }, 0.5, new Rng(2));
  t.equal(rr.masked.length, 52);

  const bm = batchMasks('tube', g, 0.9, 3, 77);
  t.equal(bm.visible.length, 3 * 160);
  t.equal(bm.masked.length, 3 * 1408);
  t.same(arr(bm.visible.subarray(160, 320)), arr(tubeMask(g, 0.9, new Rng(77, 1)).visible), 'row b from Rng(seed, b)');
  t.throws(() => tubeMask(g, 1, new Rng(0)), RangeError);
});

t.test('list files: format, comments, spaces in paths, errors with line numbers', async (t) => {
  const items = parseListFile('# header\n\na/b.mp4 3\n  c d/e f.avi\t12  \n/abs/x.mp4 0\n', { root: '/r' });
  t.same(items, [
    { path: '/r/a/b.mp4', label: 3 },
    { path: '/r/c d/e f.avi', label: 12 },
    { path: '/abs/x.mp4', label: 0 },
  ]);
  t.throws(() => parseListFile('a.mp4 1\nonlyapath\n', { file: 'l.txt' }), {
    name: 'ListFileError',
    message: /l\.txt:2: expected 'path label'/,
  });
  try {
    parseListFile('a.mp4 1\n\nb.mp4 x\n', { file: 'l.txt' });
    t.fail('should throw');
  } catch (e) {
    t.ok(e instanceof ListFileError);
    t.equal((e as ListFileError).line, 3);
  }
});

t.test('folder-per-class trees and the train/val split', async (t) => {
  const root = tempDir(t);
  for (const [cls, files] of [
    ['walk', ['b.mp4', 'a.mp4', 'notes.txt']],
    ['jump', ['x.avi']],
  ] as const) {
    mkdirSync(join(root, cls), { recursive: true });
    for (const f of files) writeFileSync(join(root, cls, f), 'x');
  }
  const { items, classes } = await scanClassFolders(root);
  t.same(classes, ['jump', 'walk']);
  t.same(items, [
    { path: join(root, 'jump/x.avi'), label: 0 },
    { path: join(root, 'walk/a.mp4'), label: 1 },
    { path: join(root, 'walk/b.mp4'), label: 1 },
  ]);

  const xs = Array.from({ length: 100 }, (_, i) => i);
  const a = splitTrainVal(xs, { valFraction: 0.2, seed: 1 });
  t.equal(a.val.length, 20);
  t.same(
    [...a.train, ...a.val].sort((p, q) => p - q),
    xs,
  );
  t.same(splitTrainVal(xs, { valFraction: 0.2, seed: 1 }), a);
  const st = splitTrainVal(xs, { valFraction: 0.25, seed: 2, stratifyBy: (x) => x % 4 });
  for (let c = 0; c < 4; c++) t.equal(st.val.filter((x) => x % 4 === c).length, 6);
});

t.test('epoch order and per-sample seeds depend only on (seed, epoch, index)', async (t) => {
  const o = epochOrder(10, 1, 0);
  t.same(
    arr(o).sort((a, b) => a - b),
    [0, 1, 2, 3, 4, 5, 6, 7, 8, 9],
  );
  t.same(epochOrder(10, 1, 0), o);
  t.notSame(arr(epochOrder(10, 1, 1)), arr(o));
  t.same(arr(epochOrder(4, 1, 0, false)), [0, 1, 2, 3]);
  t.equal(sampleSeed(1, 2, 3), sampleSeed(1, 2, 3));
});
