// One bad-video policy for training, fine-tuning, validation, probe and evaluation, on real bad
// files: a truncated mp4 cut from a real clip (index first, so it still opens), one cut before its
// index, a text file named .mp4, a zero-byte file, a missing path and a video shorter than the clip.
// 'skip' leaves them out of every count and reports each once; training batches take a
// replacement index fixed by (seed, index); 'fail' throws the typed error naming the file.
import t from 'tap';
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  VideoClipDataset,
  VideoDecodeError,
  VideoTooShortError,
  NoUsableVideosError,
  VideoLoader,
  probeVideo,
  type BadVideoPolicy,
  type ClipTransform,
  type VideoItem,
  type Batch,
} from '../lib/data/index.js';
import { evaluate } from '../lib/methods/eval.js';
import { finetuneBatch, finetuneRecipe, makeClassifier, type FinetuneOptions } from '../lib/methods/finetune.js';
import { extractFeatures, linearProbe } from '../lib/methods/probe.js';
import { BatchSampler } from '../lib/methods/batch.js';
import { Tensor } from '../lib/tensor.js';
import { DEMO_MP4, makeTestsrcMp4, tempDir } from './helpers/data-fixtures.js';

const FRAMES = 4,
  SIZE = 32;
const testView: ClipTransform = { kind: 'test', sampling: 'dense', numClips: 1, numCrops: 1, numFrames: FRAMES, stride: 2, size: SIZE };
const valView: ClipTransform = { kind: 'val', sampling: 'dense', numFrames: FRAMES, stride: 2, size: SIZE };
const ftView: ClipTransform = {
  kind: 'finetune',
  sampling: 'dense',
  numFrames: FRAMES,
  stride: 2,
  size: SIZE,
  numSample: 2,
  randAugment: false,
};

interface Fixtures {
  mixed: VideoItem[];
  good: VideoItem[];
  bad: { path: string; reason: RegExp }[];
}

/** Cuts a copy of `src` to `fraction` of its bytes; with `indexFirst` the mp4 index is moved to the front first. */
function truncated(src: string, out: string, fraction: number, indexFirst: boolean): string {
  let from = src;
  if (indexFirst) {
    from = `${out}.full.mp4`;
    execFileSync('ffmpeg', ['-v', 'error', '-y', '-i', src, '-c', 'copy', '-movflags', '+faststart', from]);
  }
  const bytes = readFileSync(from);
  writeFileSync(out, bytes.subarray(0, Math.floor(bytes.length * fraction)));
  return out;
}

function makeFixtures(dir: string): Fixtures {
  // Four good clips that differ in content (size, hence the crop), labels 0..3.
  const goodPaths = [
    [96, 64],
    [80, 64],
    [112, 64],
    [96, 80],
  ].map(([w, h], k) => makeTestsrcMp4(join(dir, `good${k}.mp4`), { frames: 20, w, h }));
  const text = join(dir, 'notes.mp4');
  writeFileSync(text, 'this is a text file, not a video\n'.repeat(20));
  const empty = join(dir, 'empty.mp4');
  writeFileSync(empty, '');
  const bad = [
    {
      path: truncated(DEMO_MP4, join(dir, 'cut-indexed.mp4'), 0.5, true),
      reason: /^truncated: the container lists 280 frames, only \d+ are present$/,
    },
    { path: text, reason: /invalid data/i },
    { path: empty, reason: /^empty file$/ },
    { path: join(dir, 'missing.mp4'), reason: /^file not found$/ },
    {
      path: makeTestsrcMp4(join(dir, 'short.mp4'), { frames: 2, w: 96, h: 64 }),
      reason: /^too short: 2 frames, the clip needs at least 4$/,
    },
    { path: truncated(DEMO_MP4, join(dir, 'cut-plain.mp4'), 0.5, false), reason: /moov atom not found|invalid data/i },
  ];
  // good, bad, good, bad, bad, good, bad, bad, bad, good: labels of good clips 0..3, bad ones 1.
  const order: (number | string)[] = [0, bad[0].path, 1, bad[1].path, bad[2].path, 2, bad[3].path, bad[4].path, bad[5].path, 3];
  const mixed = order.map((x) => (typeof x === 'number' ? { path: goodPaths[x], label: x } : { path: x, label: 1 }));
  return { mixed, good: goodPaths.map((path, label) => ({ path, label })), bad };
}

let fx: Fixtures;
t.before(() => {
  fx = makeFixtures(tempDir(t, 'mvd-badvideo-'));
});

const dataset = (items: VideoItem[], transform: ClipTransform, policy?: BadVideoPolicy, onBad?: (file: string) => void) =>
  new VideoClipDataset({ items, transform, onBadVideo: policy, onBad: onBad && ((r) => onBad(r.file)) });

/** Runs `fn` with process.stderr.write recorded (and silenced); returns what it wrote and what it threw. */
async function stderrOf(fn: () => Promise<unknown>): Promise<{ out: string; error: unknown }> {
  const write = process.stderr.write;
  let out = '';
  process.stderr.write = ((s: string | Uint8Array) => {
    out += String(s);
    return true;
  }) as typeof process.stderr.write;
  let error: unknown = null;
  try {
    await fn();
  } catch (e) {
    error = e;
  } finally {
    process.stderr.write = write;
  }
  return { out, error };
}

function classifier() {
  const model = makeClassifier({ preset: 'tiny', frames: FRAMES, size: SIZE, numClasses: 4, seed: 2 });
  // A large head, so the clips get different predictions (the default init gives logits near 0).
  const w = model.head.weight.value.toArraySync();
  using big = Tensor.fromArray(
    w.map((x) => x * 2000),
    model.head.weight.value.shape,
  );
  model.head.weight.value.assign(big);
  return model;
}

t.test('every kind of bad file is named with its reason; fail throws the typed error', async (t) => {
  const ds = dataset(fx.mixed, testView);
  for (const b of fx.bad) {
    const i = fx.mixed.findIndex((it) => it.path === b.path);
    const r = await ds.getExact(i, 0);
    t.equal(r.sample, null, `${b.path} left out`);
    t.equal(r.skipped?.path, b.path);
    t.match(r.skipped?.reason ?? '', b.reason, `reason: ${r.skipped?.reason}`);
    const err = await dataset(fx.mixed, testView, 'fail')
      .getExact(i, 0)
      .then(
        () => null,
        (e: unknown) => e,
      );
    t.ok(err instanceof VideoDecodeError, `${b.path}: VideoDecodeError under fail`);
    t.equal((err as VideoDecodeError).file, b.path);
    t.match((err as VideoDecodeError).message, b.path);
  }
  const short = await dataset(fx.mixed, testView, 'fail')
    .getExact(7, 0)
    .then(
      () => null,
      (e: unknown) => e,
    );
  t.ok(short instanceof VideoTooShortError, 'too short is its own VideoDecodeError subclass');
  t.match((short as Error).message, /short\.mp4 is too short: 2 frames, the clip needs at least 4/);
  // The index-first truncation used to pass as a shorter video whose last frame was corrupt.
  await t.rejects(probeVideo(fx.bad[0].path), { name: 'VideoDecodeError', message: /truncated/ });
  t.equal((await probeVideo(fx.good[0].path)).frameCount, 20, 'an intact file passes the truncation check');
  t.same(
    ds.skippedVideos.map((s) => s.path),
    fx.bad.map((b) => b.path),
    'each bad file listed once, in the order met',
  );
  // A 'fail' dataset asked to skip while scoring still fails for training on the file it now knows.
  const strict = dataset(fx.mixed, ftView, 'fail');
  t.equal((await strict.getExact(3, 0, 'skip')).skipped?.path, fx.bad[1].path);
  await t.rejects(strict.get(3, 0), { name: 'VideoDecodeError', file: fx.bad[1].path });
});

t.test('evaluate: bad videos are in no denominator, listed once each; fail stops at the first', async (t) => {
  using model = classifier();
  const bad: string[] = [];
  const r = await evaluate(
    model,
    dataset(fx.mixed, testView, 'skip', (f) => bad.push(f)),
    { classes: 4 },
  );
  const g = await evaluate(model, dataset(fx.good, testView), { classes: 4 });
  t.equal(r.videos, 4, 'four good videos scored, not ten');
  t.equal(g.videos, 4);
  t.same(r.confusion, g.confusion, 'same confusion matrix as the list of good videos only');
  t.equal(r.top1, g.top1);
  t.equal(r.top5, g.top5);
  t.same(r.perClass, g.perClass);
  t.equal(
    r.confusion.flat().reduce((a, b) => a + b, 0),
    4,
  );
  t.equal(r.top1, r.confusion.reduce((a, row, k) => a + row[k], 0) / 4, 'top-1 = diagonal / 4 good videos');
  t.same(
    r.skippedVideos.map((s) => s.path),
    fx.bad.map((b) => b.path),
  );
  fx.bad.forEach((b, k) => t.match(r.skippedVideos[k].reason, b.reason));
  t.same(
    bad,
    fx.bad.map((b) => b.path),
    'each bad file reported once',
  );
  t.same(g.skippedVideos, []);

  for (const how of ['dataset policy', 'evaluate option'] as const) {
    const reported: string[] = [];
    const ds = dataset(fx.mixed, testView, how === 'dataset policy' ? 'fail' : 'skip', (f) => reported.push(f));
    const run = await stderrOf(() =>
      evaluate(model, ds, { classes: 4, ...(how === 'evaluate option' ? { onBadVideo: 'fail' as const } : {}) }),
    );
    t.ok(run.error instanceof VideoDecodeError, `${how}: VideoDecodeError`);
    t.equal((run.error as VideoDecodeError).file, fx.bad[0].path, 'names the first bad file');
    t.match((run.error as Error).message, /truncated/);
    t.same(reported, [], 'nothing reported as skipped before failing');
    t.equal(run.out, '', 'nothing printed before failing');
  }
});

t.test('fine-tuning: training batches replace bad videos by (seed, index); validation leaves them out', async (t) => {
  const reported: string[] = [];
  const ds = dataset(fx.mixed, ftView, 'skip', (f) => reported.push(f));
  const probed: string[] = [];
  const probe = ds.probe.bind(ds);
  ds.probe = (p: string) => {
    probed.push(p);
    return probe(p);
  };
  const badPaths = new Set(fx.bad.map((b) => b.path));
  const first = await Promise.all(fx.mixed.map((_, i) => ds.get(i, 77)));
  for (const [i, s] of first.entries()) {
    t.notOk(badPaths.has(fx.mixed[s.index].path), `index ${i}: loaded item ${s.index} is a good video`);
    t.equal(s.requested, i);
    if (!badPaths.has(fx.mixed[i].path)) t.equal(s.index, i, `good index ${i} is itself`);
    t.equal(s.label, fx.mixed[s.index].label, 'label of the video actually loaded');
  }
  t.same([...reported].sort(), [...badPaths].sort(), 'every bad file reported exactly once');
  // Again, now that the bad files are known: the same replacements, and no bad file opened again.
  const probesBefore = probed.filter((p) => badPaths.has(p)).length;
  const again = await Promise.all(fx.mixed.map((_, i) => ds.get(i, 77)));
  t.same(
    again.map((s) => s.index),
    first.map((s) => s.index),
    'replacement independent of what is already known',
  );
  t.ok(
    again.every((s, i) => Buffer.from(s.frames).equals(Buffer.from(first[i].frames))),
    'same bytes',
  );
  t.equal(probed.filter((p) => badPaths.has(p)).length, probesBefore, 'known-bad files are not probed again');
  t.equal(reported.length, badPaths.size, 'still reported once');
  t.ok(
    again.every((s) => s.bad.length === 0),
    'no sample repeats an old report',
  );
  // A fresh dataset (a resumed run) makes the same choices.
  const fresh = dataset(fx.mixed, ftView);
  const resumed = await Promise.all(fx.mixed.map((_, i) => fresh.get(i, 77)));
  t.same(
    resumed.map((s) => s.index),
    first.map((s) => s.index),
    'same replacements in a fresh dataset',
  );
  const replaced = first.filter((s) => s.index !== s.requested).map((s) => s.index);
  t.ok(new Set(replaced).size > 1, `replacements spread over the list, not the next neighbour (${replaced})`);

  // The recipe trains on full batches and says what it skipped.
  const base: FinetuneOptions = {
    preset: 'tiny',
    frames: FRAMES,
    size: SIZE,
    numClasses: 4,
    batchSize: 4,
    seed: 1,
    mix: false,
    repeated: 2,
  };
  const data = new BatchSampler(dataset(fx.mixed, ftView), 4, 1);
  const recipe = finetuneRecipe(data, base);
  for (const i of [0, 1]) t.ok(Number.isFinite((await recipe.step(i)).loss), `step ${i} trains on a full batch`);
  t.ok(
    recipe.skippedVideos.length > 0 && recipe.skippedVideos.every((s) => badPaths.has(s.path) && s.reason.length > 0),
    `recipe.skippedVideos: ${recipe.skippedVideos.length}`,
  );
  t.equal(new Set(recipe.skippedVideos.map((s) => s.path)).size, recipe.skippedVideos.length, 'no duplicates');
  recipe.dispose();
  using b = await finetuneBatch(new BatchSampler(dataset(fx.mixed, ftView), 4, 1), 0, base);
  t.same(b.video.shape, [8, 3, FRAMES, SIZE, SIZE], 'four videos × two views, whatever was bad');

  const failing = new BatchSampler(dataset(fx.mixed, ftView, 'fail'), 4, 1);
  const run = await stderrOf(async () => {
    for (const i of [0, 1]) (await finetuneBatch(failing, i, base)).video.dispose();
  });
  t.ok(run.error instanceof VideoDecodeError, 'fail: the first bad video of a batch is a VideoDecodeError');
  t.ok(badPaths.has((run.error as VideoDecodeError).file), `names it: ${(run.error as VideoDecodeError).file}`);
  t.equal(run.out, '');

  // Validation during fine-tuning: the centre view, scored without the bad ones.
  using model = classifier();
  const val = await evaluate(model, dataset(fx.mixed, valView), { classes: 4 });
  t.equal(val.videos, 4);
  t.equal(val.skippedVideos.length, fx.bad.length);
});

t.test('probe: features of the good videos only, the skipped ones listed', async (t) => {
  using model = classifier();
  const mixed = await extractFeatures(model.encoder, dataset(fx.mixed, valView), { batchSize: 4 });
  const good = await extractFeatures(model.encoder, dataset(fx.good, valView), { batchSize: 4 });
  t.same(mixed.features.shape, [4, model.encoder.dim]);
  t.same(Array.from(mixed.indices), [0, 2, 5, 9]);
  const a = await mixed.features.toArray(),
    g = await good.features.toArray();
  t.ok(
    a.every((x, i) => Math.abs(x - g[i]) < 1e-4),
    'rows equal the good-only features',
  );
  t.same(
    mixed.skippedVideos.map((s) => s.path),
    fx.bad.map((b) => b.path),
  );
  const y = Int32Array.from(mixed.indices, (i) => fx.mixed[i].label);
  const p = await linearProbe(
    { x: mixed.features, y, skippedVideos: mixed.skippedVideos },
    { x: good.features, y, skippedVideos: good.skippedVideos },
    4,
    { steps: 5 },
  );
  t.equal(p.skippedVideos.length, fx.bad.length, 'the probe result lists them');
  t.ok(Number.isFinite(p.valAcc));
  const failed = await extractFeatures(model.encoder, dataset(fx.mixed, valView), { onBadVideo: 'fail' }).then(
    () => null,
    (e: unknown) => e,
  );
  t.ok(failed instanceof VideoDecodeError && failed.file === fx.bad[0].path, 'fail: the first bad file');
  for (const f of [mixed, good]) f.features.dispose();
});

t.test('a list with no usable video is a typed error everywhere', async (t) => {
  const allBad = fx.bad.map((b) => ({ path: b.path, label: 0 }));
  using model = classifier();
  await t.rejects(evaluate(model, dataset(allBad, testView), { classes: 4 }), NoUsableVideosError);
  await t.rejects(extractFeatures(model.encoder, dataset(allBad, valView)), NoUsableVideosError);
  const ds = dataset(allBad, ftView);
  const err = await ds.get(2, 5).then(
    () => null,
    (e: unknown) => e,
  );
  t.ok(err instanceof NoUsableVideosError, 'training sample');
  t.match((err as Error).message, /all 6 videos are unreadable, expected at least one usable video \(first: /);
  t.equal((err as NoUsableVideosError).skippedVideos.length, 6);
  await t.rejects(new BatchSampler(dataset(allBad, ftView), 2, 1).batch(0), NoUsableVideosError);
  const loader = new VideoLoader({
    dataset: { kind: 'videos', items: allBad, transform: { kind: 'pretrain', numFrames: FRAMES, stride: 2, size: SIZE } },
    batchSize: 2,
    workers: 1,
  });
  await t.rejects(
    (async () => {
      for await (const _ of loader) void _;
    })(),
    NoUsableVideosError,
    'through a loader worker too',
  );
});

t.test('loader workers: each bad file reported once, batches equal in-thread ones', async (t) => {
  const spec = {
    kind: 'videos' as const,
    items: fx.mixed,
    transform: { kind: 'pretrain' as const, numFrames: FRAMES, stride: 2, size: SIZE },
  };
  const run = async (workers: number) => {
    const reported: string[] = [];
    const loader = new VideoLoader({ dataset: spec, batchSize: 5, seed: 3, workers, onBad: (r) => reported.push(r.file) });
    const batches: Batch[] = [];
    for await (const b of loader) batches.push(b);
    return { batches, reported, skipped: loader.skippedVideos };
  };
  const two = await run(2),
    none = await run(0);
  for (const r of [two, none]) {
    t.same([...r.reported].sort(), fx.bad.map((b) => b.path).sort(), 'every bad file once');
    t.same(
      r.skipped.map((s) => s.path),
      r.reported,
    );
    t.same(
      r.batches.map((b) => b.shape[0]),
      [5, 5],
      'full batches',
    );
  }
  two.batches.forEach((b, k) => {
    t.same(b.indices, none.batches[k].indices, `batch ${k}: same replacements with 2 workers and in-thread`);
    t.ok(Buffer.from(b.frames).equals(Buffer.from(none.batches[k].frames)), `batch ${k}: same bytes`);
  });
});
