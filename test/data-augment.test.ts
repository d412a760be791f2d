import t from 'tap';
import { join } from 'node:path';
import {
  VideoLoader,
  VideoClipDataset,
  writeSyntheticSet,
  readListFile,
  Rng,
  finetuneClips,
  mixupCutmix,
  mixupCutmixParams,
  mixTargets,
  applyErasing,
  decodeFrames,
  probeVideo,
  type Batch,
  type DatasetSpec,
  type VideoItem,
} from '../lib/data/index.js';
import { Tensor, framesToClip } from '../lib/index.js';
import { mixBatch, resizeCropArray } from '../lib/ops/augment.js';
import { tempDir } from './helpers/data-fixtures.js';

async function collect(loader: VideoLoader): Promise<Batch[]> {
  const out: Batch[] = [];
  for await (const b of loader) out.push(b);
  return out;
}

let items: VideoItem[] = [];
t.before(async () => {
  const dir = tempDir(t, 'mvd-aug-');
  await writeSyntheticSet({ outDir: dir, videos: 4, frames: 24, size: 64, seed: 2, valFraction: 0 });
  items = await readListFile(join(dir, 'appearance_train.txt'));
});

const finetune = (extra: object = {}): DatasetSpec => ({
  kind: 'videos',
  items,
  transform: { kind: 'finetune', sampling: 'dense', numFrames: 4, stride: 2, size: 32, numSample: 2, ...extra },
});

t.test('fine-tune loader: same seed → same augmented clips (2 workers = in-thread); RandAugment changes pixels', async (t) => {
  const a = await collect(new VideoLoader({ dataset: finetune(), batchSize: 2, seed: 5, workers: 2 }));
  const b = await collect(new VideoLoader({ dataset: finetune(), batchSize: 2, seed: 5, workers: 0 }));
  const plain = await collect(new VideoLoader({ dataset: finetune({ randAugment: false }), batchSize: 2, seed: 5, workers: 0 }));
  t.equal(a.length, 2);
  t.same(a[0].shape, [4, 4, 32, 32, 3], '2 videos × 2 repeated views');
  let changed = 0,
    withOps = 0;
  for (let i = 0; i < a.length; i++) {
    t.ok(Buffer.from(a[i].frames).equals(Buffer.from(b[i].frames)), `batch ${i}: same bytes`);
    const clip = 4 * 32 * 32 * 3;
    for (let r = 0; r < a[i].shape[0]; r++) {
      const m = a[i].meta![r]!;
      t.ok(m.randAugmentApplied, 'marked as applied in the worker');
      t.same(plain[i].meta![r]!.crop, m.crop, 'crop drawn before RandAugment: the same without it');
      const x = a[i].frames.subarray(r * clip, (r + 1) * clip),
        y = plain[i].frames.subarray(r * clip, (r + 1) * clip);
      if (m.randAugment!.length === 0) t.ok(Buffer.from(x).equals(Buffer.from(y)), 'no ops drawn: unchanged');
      else {
        withOps++;
        if (!Buffer.from(x).equals(Buffer.from(y))) changed++;
      }
    }
  }
  t.ok(withOps >= 3 && changed >= withOps - 1, `RandAugment changed ${changed} of ${withOps} clips that drew ops`);
});

t.test('flip is off for SSv2-like (TSN) sampling, about half on for dense', async (t) => {
  const tsn = new VideoClipDataset({ items, transform: { kind: 'finetune', sampling: 'tsn', numFrames: 4, size: 32, numSample: 2 } });
  const dense = new VideoClipDataset({
    items,
    transform: { kind: 'finetune', sampling: 'dense', numFrames: 4, stride: 2, size: 32, numSample: 2 },
  });
  let flipsTsn = 0,
    flipsDense = 0;
  for (let s = 0; s < 5; s++) {
    const i = s % items.length;
    flipsTsn += (await tsn.get(i, 100 + s)).meta!.filter((m) => m.flip).length;
    flipsDense += (await dense.get(i, 100 + s)).meta!.filter((m) => m.flip).length;
  }
  t.equal(flipsTsn, 0, 'never flipped');
  t.ok(flipsDense >= 1 && flipsDense <= 9, `dense flipped ${flipsDense}/10`);
});

t.test('finetuneClips: normalise, then erase the drawn rectangles only', async (t) => {
  const [batch] = await collect(new VideoLoader({ dataset: finetune({ erasing: 1 }), batchSize: 2, seed: 9, workers: 0 }));
  const clips = finetuneClips(batch);
  t.same(clips.shape, [4, 3, 4, 32, 32]);
  using u8 = Tensor.fromArray(batch.frames, batch.shape);
  const plain = await framesToClip(u8, [0.485, 0.456, 0.406], [0.229, 0.224, 0.225]).toArray();
  const got = await clips.toArray();
  const S = 3 * 4 * 32 * 32;
  for (let r = 0; r < 4; r++) {
    const e = batch.meta![r]!.erasing;
    let inside = 0,
      diffOutside = 0;
    for (let i = 0; i < S; i++) {
      const h = Math.floor(i / 32) % 32,
        w = i % 32;
      const inBox = !!e && h >= e.top && h < e.top + e.h && w >= e.left && w < e.left + e.w;
      if (inBox) inside += got[r * S + i] !== plain[r * S + i] ? 1 : 0;
      else diffOutside += got[r * S + i] !== plain[r * S + i] ? 1 : 0;
    }
    t.equal(diffOutside, 0, `row ${r}: nothing outside the box changes`);
    if (e) t.equal(inside, 3 * 4 * e.h * e.w, `row ${r}: the whole ${e.h}x${e.w} box on all 4 frames is noise`);
  }
  t.same(await finetuneClips(batch).toArray(), got, 'deterministic');
  t.throws(() => applyErasing(clips, [null]), 'one box per clip');
});

t.test('mixupCutmix(batch, labels, opts): mixed clips and smoothed soft targets', async (t) => {
  const [B, C, T, H, W] = [4, 3, 2, 8, 8],
    K = 5;
  const f = Float32Array.from({ length: B * C * T * H * W }, (_, i) => ((i * 7) % 16) / 4);
  const x = Tensor.fromArray(f, [B, C, T, H, W]);
  const labels = [0, 3, 1, 4];
  let sawMix = false,
    sawCut = false;
  for (let s = 0; s < 12 && !(sawMix && sawCut); s++) {
    using r = mixupCutmix(x, labels, { numClasses: K, rng: new Rng(s) });
    const p = mixupCutmixParams(W, H, new Rng(s), {});
    t.same(r.params, p, 'same draw as the parameter function');
    const tg = await r.targets.toArray();
    t.same(r.targets.shape, [B, K]);
    for (let b = 0; b < B; b++) {
      const row = Array.from(tg.subarray(b * K, (b + 1) * K));
      t.ok(Math.abs(row.reduce((a, v) => a + v, 0) - 1) < 1e-6, 'targets sum to 1');
      const want = r.params.lambda * (1 - 0.1 + 0.02) + (1 - r.params.lambda) * 0.02;
      t.ok(labels[b] === labels[B - 1 - b] || Math.abs(row[labels[b]] - want) < 1e-6, 'λ-weighted smoothed one-hot');
    }
    const ref = await mixBatch(x, r.params.lambda, r.params.mode === 'cutmix' ? r.params.box : null).toArray();
    t.same(await r.clips.toArray(), ref);
    if (r.params.mode === 'cutmix') {
      sawCut = true;
      const bx = r.params.box!;
      t.ok(Math.abs(r.params.lambda - (1 - ((bx.y1 - bx.y0) * (bx.x1 - bx.x0)) / (H * W))) < 1e-12, 'λ corrected to the box area');
    } else sawMix = true;
  }
  t.ok(sawMix && sawCut, 'both modes seen');
  using none = mixupCutmix(x, labels, { numClasses: K, prob: 0 });
  t.equal(none.params.mode, 'none');
  t.same(await none.clips.toArray(), f, 'no mixing: the batch itself');
  t.same(
    Array.from(mixTargets([2], 4, 1, 0.1)).map((v) => +v.toFixed(6)),
    [0.025, 0.025, 0.925, 0.025],
  );
  t.throws(() => mixupCutmix(x, [0, 1], { numClasses: K }), 'label count must match');
  t.throws(() => mixupCutmix(x, [0, 1, 2, 9], { numClasses: K }), 'labels inside [0, K)');
});

t.test('imageTeacherSize: the image teacher gets the same crop resized to its own size', async (t) => {
  const dataset: DatasetSpec = { kind: 'videos', items, transform: { kind: 'pretrain', numFrames: 4, stride: 2, size: 32 } };
  const [a] = await collect(new VideoLoader({ dataset, batchSize: 2, seed: 3, workers: 1, imageTeacherSize: 24 }));
  t.same(a.shape, [2, 4, 32, 32, 3]);
  t.same(a.teacherShape, [2, 4, 24, 24, 3]);
  // Both inputs are one bilinear resize of the same unscaled crop.
  const clip = 4 * 32 * 32 * 3,
    tclip = 4 * 24 * 24 * 3;
  for (let r = 0; r < 2; r++) {
    const m = a.meta![r]!,
      crop = m.crop!;
    const info = await probeVideo(items[a.indices[r]].path);
    const raw = await decodeFrames(items[a.indices[r]].path, m.frameIndices, { info, crop, outW: crop.w, outH: crop.h });
    const whole = { x: 0, y: 0, w: crop.w, h: crop.h };
    t.same(
      resizeCropArray(raw.data, raw.shape, whole, 32, 32),
      a.frames.subarray(r * clip, (r + 1) * clip),
      `row ${r}: student = resize(crop)`,
    );
    t.same(
      resizeCropArray(raw.data, raw.shape, whole, 24, 24),
      a.teacherFrames!.subarray(r * tclip, (r + 1) * tclip),
      `row ${r}: teacher = resize(crop)`,
    );
  }
  const [plain] = await collect(new VideoLoader({ dataset, batchSize: 2, seed: 3, workers: 0 }));
  t.same(
    plain.meta!.map((m) => m!.crop),
    a.meta!.map((m) => m!.crop),
    'same crops with and without the teacher input',
  );
  t.equal(plain.teacherFrames, undefined);
  const [s] = await collect(
    new VideoLoader({
      dataset: { kind: 'synthetic', seed: 1, count: 2, frames: 2, size: 32 },
      batchSize: 2,
      seed: 1,
      workers: 0,
      imageTeacherSize: 16,
    }),
  );
  t.same(s.teacherShape, [2, 2, 16, 16, 3]);
  await t.rejects(
    new VideoLoader({ dataset: finetune(), batchSize: 2, imageTeacherSize: 16, workers: 0 })[Symbol.asyncIterator]().next(),
    'not for fine-tuning',
  );
});
