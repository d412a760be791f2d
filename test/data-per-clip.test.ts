// Every random choice of a training clip is keyed by (seed, epoch, dataset index): clips of one
// batch differ even when they come from the same file, and a batch's bytes are the same with any
// number of loader workers and after a resume (a fresh sampler asked for step k).
import t from 'tap';
import { join } from 'node:path';
import {
  VideoClipDataset,
  type ClipMeta,
  type ClipSample,
  type ClipSource,
  type ClipTransform,
  type VideoItem,
} from '../lib/data/index.js';
import { BatchSampler, maskedBatch } from '../lib/methods/batch.js';
import { finetuneBatch, type FinetuneOptions } from '../lib/methods/finetune.js';
import { makeTestsrcMp4, tempDir } from './helpers/data-fixtures.js';

const FRAMES = 4,
  SIZE = 32;
const pretrain: ClipTransform = { kind: 'pretrain', numFrames: FRAMES, stride: 2, size: SIZE };
const finetune: ClipTransform = { kind: 'finetune', sampling: 'dense', numFrames: FRAMES, stride: 2, size: SIZE, numSample: 1 };

let same: VideoItem[] = [];
let six: VideoItem[] = [];
t.before(() => {
  const dir = tempDir(t);
  const file = makeTestsrcMp4(join(dir, 'one.mp4'), { frames: 120, w: 160, h: 120 });
  same = [0, 1, 2, 3].map(() => ({ path: file, label: 0 }));
  six = [0, 1, 2, 3, 4, 5].map((k) => ({
    path: makeTestsrcMp4(join(dir, `v${k}.mp4`), { frames: 40 + 10 * k, w: 96 + 16 * k, h: 72 }),
    label: k,
  }));
});

const key = (x: unknown) => JSON.stringify(x);
function pairwiseDistinct(rows: Uint8Array[]): boolean {
  for (let i = 0; i < rows.length; i++)
    for (let j = i + 1; j < rows.length; j++) if (Buffer.from(rows[i]).equals(Buffer.from(rows[j]))) return false;
  return true;
}

t.test('4 clips of the same video in one batch: 4 crops and frame windows', async (t) => {
  await using data = new BatchSampler(new VideoClipDataset({ items: same, transform: pretrain }), 4, 5);
  const b = await data.loaderBatch(0);
  t.same(b.shape, [4, FRAMES, SIZE, SIZE, 3]);
  const windows = b.meta!.map((m) => key(m!.frameIndices)),
    crops = b.meta!.map((m) => key(m!.crop));
  t.equal(new Set(windows).size, 4, `4 frame windows: ${windows.join(' ')}`);
  t.ok(new Set(crops).size > 1, `crops differ: ${crops.join(' ')}`);
  const clip = FRAMES * SIZE * SIZE * 3;
  t.ok(pairwiseDistinct([0, 1, 2, 3].map((k) => b.frames.subarray(k * clip, (k + 1) * clip))), '4 different clips');
  // The student's masks are per clip too.
  using m = await maskedBatch(data, 1, { type: 'tube', grid: { t: 2, h: 2, w: 2 }, ratio: 0.5, seed: 5 });
  const vis = await m.vis.toArray();
  t.ok(new Set([0, 1, 2, 3].map((k) => key(Array.from(vis.slice(k * 4, k * 4 + 4))))).size > 1, 'masks differ between clips');
});

t.test('fine-tuning draws differ per clip', async (t) => {
  // Video files: crop, flip, RandAugment ops and erasing drawn in the loader, per clip.
  await using data = new BatchSampler(new VideoClipDataset({ items: same, transform: { ...finetune, erasing: 1 } }), 4, 2);
  const b = await data.loaderBatch(0);
  const draws = (f: (m: ClipMeta) => unknown) => new Set(b.meta!.map((m) => key(f(m!)))).size;
  t.equal(
    draws((m) => m.crop),
    4,
    'random-resized crops',
  );
  t.equal(
    draws((m) => m.randAugment),
    4,
    'RandAugment ops',
  );
  t.equal(
    draws((m) => m.erasing),
    4,
    'erasing boxes',
  );
  t.equal(
    draws((m) => m.frameIndices),
    4,
    'frame windows',
  );
  // In-memory clips get theirs in finetuneBatch: identical inputs come out as 4 different rows.
  const pattern = Uint8Array.from({ length: FRAMES * 48 * 48 * 3 }, (_, i) => (i * 37) % 251);
  const identical: ClipSource = {
    length: 8,
    async get(index: number): Promise<ClipSample> {
      return { frames: pattern.slice(), shape: [1, FRAMES, 48, 48, 3], label: 0, index, requested: index, bad: [] };
    },
  };
  const o: FinetuneOptions = { preset: 'tiny', frames: FRAMES, size: SIZE, numClasses: 2, batchSize: 4, repeated: 1, mix: false, seed: 3 };
  await using mem = new BatchSampler(identical, 4, 3);
  using fb = await finetuneBatch(mem, 0, o);
  const x = await fb.video.toArray(),
    n = x.length / 4;
  const rows = [0, 1, 2, 3].map((k) => new Uint8Array(x.slice(k * n, (k + 1) * n).buffer));
  t.ok(pairwiseDistinct(rows), 'the same clip, 4 different augmented views');
});

t.test('same (seed, step): same batch with 0, 1 and 2 workers and after a resume', async (t) => {
  const mask = { type: 'tube' as const, grid: { t: 2, h: 2, w: 2 }, ratio: 0.5, seed: 9 };
  // 6 videos, batch 2: 3 steps per epoch, so steps 0..4 cross into epoch 1.
  const run = async (workers: number, from = 0, to = 5) => {
    await using data = new BatchSampler(new VideoClipDataset({ items: six, transform: pretrain }), 2, 9, { workers });
    const out: { frames: Buffer; indices: number[]; vis: number[] }[] = [];
    for (let s = from; s < to; s++) {
      using m = await maskedBatch(data, s, mask);
      const x = await m.video.toArray();
      out.push({ frames: Buffer.from(x.buffer, x.byteOffset, x.byteLength), indices: m.indices, vis: Array.from(await m.vis.toArray()) });
    }
    return out;
  };
  const [w0, w1, w2] = [await run(0), await run(1), await run(2)];
  t.equal(new Set(w0.slice(0, 3).flatMap((b) => b.indices)).size, 6, 'epoch 0 sees every video once');
  for (let s = 0; s < 5; s++) {
    t.ok(w1[s].frames.equals(w0[s].frames) && w2[s].frames.equals(w0[s].frames), `step ${s}: same bytes with 0, 1, 2 workers`);
    t.same(w1[s].vis, w0[s].vis, `step ${s}: same masks`);
  }
  t.notOk(w0[3].frames.equals(w0[0].frames), 'epoch 1 draws other clips');
  const resumed = await run(2, 4, 5);
  t.ok(resumed[0].frames.equals(w0[4].frames), 'a fresh sampler at step 4 gives step 4');
  t.same(resumed[0].vis, w0[4].vis, 'and its masks');
});

t.test('the image teacher gets its own input size through the loader', async (t) => {
  const { SyntheticDataset } = await import('../lib/data/index.js');
  const { distillRecipe } = await import('../lib/methods/distill.js');
  const { Teacher, makeTeacher } = await import('../lib/nn/mvd.js');
  const { VisionTransformer } = await import('../lib/nn/encoder.js');
  const { imageVit } = await import('../lib/nn/config.js');
  const { ShapeError } = await import('../lib/errors.js');
  // A /14 teacher at 28² has the 2×2 token grid of a /16 student at 32².
  const img = new Teacher('img', new VisionTransformer(imageVit('tiny', { size: 28, patch: 14 }), { finalNorm: true, frameStride: 2 }));
  const vid = makeTeacher('vid', { preset: 'tiny', frames: FRAMES, size: SIZE });
  const data = new BatchSampler(new SyntheticDataset({ seed: 1, count: 8, frames: FRAMES, size: SIZE }), 2, 1);
  const r = distillRecipe(data, { student: 'tiny', frames: FRAMES, size: SIZE, teachers: { img, vid }, maskRatio: 0.5, seed: 1 });
  using b = await maskedBatch(data, 0, { type: 'tube', grid: { t: 2, h: 2, w: 2 }, ratio: 0.5, seed: 1 });
  t.same(b.teacherVideo?.shape, [2, 3, FRAMES, 28, 28], 'defaulted from the teacher: 28²');
  t.ok(Number.isFinite((await r.step(1)).loss), 'a step at two input sizes');
  r.dispose();
  t.throws(
    () =>
      distillRecipe(new BatchSampler(new SyntheticDataset({ seed: 1, count: 8, frames: FRAMES, size: SIZE }), 2, 1), {
        student: 'tiny',
        frames: FRAMES,
        size: SIZE,
        teachers: { img },
        imageTeacherSize: 42,
        seed: 1,
      }),
    ShapeError,
    'a size the teacher was not built for',
  );
  img.dispose();
  vid.dispose();
});
