import t from 'tap';
import { copyFileSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  findFfmpeg,
  FfmpegNotFoundError,
  probeVideo,
  decodeFrames,
  decodeImage,
  VideoDecodeError,
  SyntheticDataset,
  writeSyntheticSet,
  readListFile,
  VideoClipDataset,
  synthClipSpec,
  APPEARANCE_CLASSES,
  pretrainIndices,
  multiScaleCrop,
  Rng,
  arithmeticRuns,
} from '../lib/data/index.js';
import { renderSynthClip } from '../lib/ops/synth.js';
import {
  DEMO_MP4,
  TEST_AVI,
  frameOf,
  makePng,
  makeRampVideo,
  makeTestsrcMp4,
  meanAbsDiff,
  pixel,
  tempDir,
} from './helpers/data-fixtures.js';

t.test('ffmpeg resolution: env, PATH, and one clear error when there is none', async (t) => {
  const none = findFfmpeg({ env: { PATH: '/nonexistent' }, tryStatic: true });
  await t.rejects(none, FfmpegNotFoundError);
  const msg = await none.catch((e: Error) => e.message);
  for (const way of ['MVD_FFMPEG', 'ffmpeg-static', 'PATH']) t.match(msg, way);
  const viaPath = await findFfmpeg({ env: { PATH: '/nonexistent:/usr/bin' } });
  t.equal(viaPath.source, 'path');
  t.equal(viaPath.ffmpeg, '/usr/bin/ffmpeg');
  t.equal(viaPath.ffprobe, '/usr/bin/ffprobe');
  const viaEnv = await findFfmpeg({ env: { MVD_FFMPEG: '/usr/bin/ffmpeg', PATH: '' } });
  t.same(viaEnv, { ffmpeg: '/usr/bin/ffmpeg', ffprobe: '/usr/bin/ffprobe', source: 'env' });
  await t.rejects(findFfmpeg({ env: { FFMPEG_PATH: '/no/such/ffmpeg', PATH: '/usr/bin' } }), {
    message: /FFMPEG_PATH=\/no\/such\/ffmpeg is not an executable/,
  });
});

t.test('probe: the two real clips, with ffprobe and by parsing ffmpeg -i', async (t) => {
  for (const useFfprobe of [true, false]) {
    const d = await probeVideo(DEMO_MP4, { useFfprobe });
    t.match(d, { width: 340, height: 256, fps: 28, frameCount: 280, codec: 'h264' });
    const a = await probeVideo(TEST_AVI, { useFfprobe });
    t.match(a, { width: 320, height: 240, fps: 25, frameCount: 164, codec: 'mpeg4' });
  }
});

t.test('decode: exact frames, repeats, crops and resizing on a lossless ramp video', async (t) => {
  const dir = tempDir(t);
  const ramp = makeRampVideo(join(dir, 'ramp.mkv'), { frames: 50 });
  const info = await probeVideo(ramp);
  t.match(info, { width: 160, height: 120, fps: 25, frameCount: 50, seekable: true });
  // Pixel (x, y) of frame n is (x, y, 5n).
  const idx = [13, 0, 7, 7, 49];
  const d = await decodeFrames(ramp, idx, { info, crop: { x: 10, y: 20, w: 64, h: 48 } });
  t.same(d.shape, [5, 48, 64, 3]);
  for (let k = 0; k < idx.length; k++) {
    t.same(pixel(d.data, k, 0, 0, 48, 64), [10, 20, 5 * idx[k]], `frame ${idx[k]} top-left`);
    t.same(pixel(d.data, k, 63, 47, 48, 64), [73, 67, 5 * idx[k]], `frame ${idx[k]} bottom-right`);
  }
  t.same(frameOf(d.data, 2, 48, 64), frameOf(d.data, 3, 48, 64), 'repeated index copies the frame');
  // 64×48 → 32×24 bilinear on a linear ramp: output (j, i) sits at source 10 + 2j + 0.5, 20 + 2i + 0.5.
  const s = await decodeFrames(ramp, [3], { info, crop: { x: 10, y: 20, w: 64, h: 48 }, outW: 32, outH: 24 });
  for (const [j, i] of [
    [5, 4],
    [16, 12],
    [25, 20],
  ]) {
    const [r, g, b] = pixel(s.data, 0, j, i, 24, 32);
    t.ok(
      Math.abs(r - (10 + 2 * j + 0.5)) <= 1 && Math.abs(g - (20 + 2 * i + 0.5)) <= 1 && b === 15,
      `scaled pixel (${j},${i}) = ${r},${g},${b}`,
    );
  }
  // Several crops in one pass equal separate decodes.
  const crops = [
    { x: 0, y: 0, w: 40, h: 40 },
    { x: 100, y: 70, w: 40, h: 40 },
  ];
  const multi = await decodeFrames(ramp, [2, 9], { info, crop: crops, outW: 20, outH: 20 });
  t.same(multi.shape, [2, 2, 20, 20, 3]);
  for (let c = 0; c < 2; c++) {
    const one = await decodeFrames(ramp, [2, 9], { info, crop: crops[c], outW: 20, outH: 20 });
    t.same(multi.data.subarray(c * one.data.length, (c + 1) * one.data.length), one.data, `crop ${c}`);
  }
  const flipped = await decodeFrames(ramp, [1], { info, crop: { x: 10, y: 20, w: 64, h: 48 }, flip: true });
  t.same(pixel(flipped.data, 0, 0, 0, 48, 64), [73, 20, 5]);
  // Test-time path: resize the whole frame first, then crop.
  const rs = await decodeFrames(ramp, [4], { info, resize: [80, 60], crop: { x: 40, y: 30, w: 40, h: 30 } });
  const [r0, g0] = pixel(rs.data, 0, 0, 0, 30, 40);
  t.ok(Math.abs(r0 - 80.5) <= 1 && Math.abs(g0 - 60.5) <= 1, `resized then cropped: ${r0},${g0}`);
  await t.rejects(decodeFrames(ramp, [50], { info }), { message: /past the end/ });
  await t.rejects(decodeFrames(ramp, [0], { info, crop: { x: 150, y: 0, w: 20, h: 10 } }), { message: /outside/ });
});

t.test('decode: 40-frame video, clamped pretraining indices decode to the right frames', async (t) => {
  const dir = tempDir(t);
  const ramp = makeRampVideo(join(dir, 'short.mkv'), { frames: 40, w: 96, h: 64 });
  const info = await probeVideo(ramp);
  t.equal(info.frameCount, 40);
  const idx = pretrainIndices(info.frameCount, new Rng(0));
  const crop = multiScaleCrop(info.width, info.height, new Rng(0), 56);
  const d = await decodeFrames(ramp, idx, { info, crop, outW: 56, outH: 56 });
  t.same(d.shape, [16, 56, 56, 3]);
  t.same(
    Array.from({ length: 16 }, (_, k) => pixel(d.data, k, 0, 0, 56, 56)[2]),
    Array.from(idx, (i) => 5 * i),
  );
});

t.test('decode: seeking gives the same frames as decoding from the start (mp4, avi, testsrc)', async (t) => {
  const dir = tempDir(t);
  const ts = makeTestsrcMp4(join(dir, 'testsrc.mp4'), { frames: 60 });
  const tsInfo = await probeVideo(ts);
  t.equal((await probeVideo(DEMO_MP4)).seekable, true);
  t.equal((await probeVideo(TEST_AVI)).seekable, false, 'AVI with packed B-frames: no packet timestamps, decoded from the start');
  t.same(arithmeticRuns([0, 4, 8, 13, 17, 22, 23, 24, 30]), [
    [0, 8, 4],
    [13, 17, 4],
    [22, 24, 1],
    [30, 30, 1],
  ]);
  t.match(tsInfo, { width: 320, height: 240, fps: 25, frameCount: 60, codec: 'h264' });
  for (const [path, idx] of [
    [DEMO_MP4, [100, 104, 150, 150, 279]],
    [TEST_AVI, [37, 41, 163]],
    [ts, [29, 33, 37, 59]],
  ] as const) {
    const opts = { crop: { x: 8, y: 4, w: 224, h: 224 }, outW: 112, outH: 112 };
    const a = await decodeFrames(path, idx, opts);
    const b = await decodeFrames(path, idx, { ...opts, seek: false });
    t.same(a.shape, [idx.length, 112, 112, 3]);
    t.ok(Buffer.from(a.data).equals(Buffer.from(b.data)), `${path}: seeked == unseeked`);
    t.ok(meanAbsDiff(frameOf(a.data, 0, 112, 112), frameOf(a.data, 1, 112, 112)) > 0.1, 'distinct frames differ');
  }
});

t.test('synthetic set: native render, labels, mp4 round trip within codec tolerance', async (t) => {
  const ds = new SyntheticDataset({ seed: 5, count: 16, frames: 8, size: 64 });
  const c = ds.getSync(6);
  t.same(c.shape, [1, 8, 64, 64, 3]);
  t.same(c.labels, { appearance: 2, motion: 1 });
  t.same(ds.getSync(6).frames, c.frames, 'deterministic');
  t.notSame(Array.from(ds.getSync(7).frames.subarray(0, 64)), Array.from(c.frames.subarray(0, 64)));
  t.ok(meanAbsDiff(frameOf(c.frames, 0, 64, 64), frameOf(c.frames, 7, 64, 64)) > 1, 'the object moves');
  const spec = synthClipSpec(5, 6, 8, 64);
  t.equal(spec.params.vx > 0 && spec.params.vy === 0, true, 'motion 1 = right');
  t.throws(() => renderSynthClip({ ...spec.params, T: 0 }), { name: 'ValueError' });
  // The fixed palette changes the object's colours and nothing else.
  const fixed = synthClipSpec(5, 6, 8, 64, undefined, 'fixed');
  t.same(
    { ...fixed.params, colorA: null, colorB: null },
    { ...spec.params, colorA: null, colorB: null },
    'fixed palette: same geometry, seed and clutter',
  );
  t.same(
    [fixed.params.colorA, fixed.params.colorB],
    [
      [255, 255, 255],
      [0, 0, 0],
    ],
  );
  const fc = new SyntheticDataset({ seed: 5, count: 8, frames: 8, size: 64, palette: 'fixed' }).getSync(6);
  const p = fixed.params,
    px = Math.round(p.cx),
    py = Math.round(p.cy);
  const at = (py * 64 + px) * 3;
  t.ok(
    [0, 255].includes(fc.frames[at]) && fc.frames[at] === fc.frames[at + 1] && fc.frames[at] === fc.frames[at + 2],
    'the object centre is white or black',
  );
  t.throws(() => new SyntheticDataset({ seed: 5, count: 8, palette: 'grey' as never }), { name: 'ValueError' });

  const dir = tempDir(t);
  const res = await writeSyntheticSet({ outDir: dir, videos: 8, frames: 8, size: 64, seed: 5 });
  t.equal(res.videos, 8);
  t.same(res.lists.sort(), ['appearance_train.txt', 'appearance_val.txt', 'motion_train.txt', 'motion_val.txt']);
  const classes = JSON.parse(readFileSync(join(dir, 'classes.json'), 'utf8'));
  t.same(classes.appearance, [...APPEARANCE_CLASSES]);
  const train = await readListFile(join(dir, 'motion_train.txt'));
  const val = await readListFile(join(dir, 'motion_val.txt'));
  t.equal(train.length + val.length, 8);
  t.equal(val.length, 2);
  const item = [...train, ...val].find((it) => it.path.endsWith('clip_000006.mp4'))!;
  t.equal(item.label, 1);
  const info = await probeVideo(item.path);
  t.match(info, { width: 64, height: 64, fps: 25, frameCount: 8 });
  const idx = [0, 3, 7];
  const d = await decodeFrames(item.path, idx, { info });
  for (let k = 0; k < idx.length; k++) {
    const right = meanAbsDiff(frameOf(d.data, k, 64, 64), frameOf(c.frames, idx[k], 64, 64));
    const wrong = meanAbsDiff(frameOf(d.data, k, 64, 64), frameOf(c.frames, idx[k] < 4 ? 7 : 0, 64, 64));
    t.ok(right < 12 && right < wrong, `frame ${idx[k]}: error ${right.toFixed(2)} vs other frame ${wrong.toFixed(2)}`);
  }
});

t.test('bad videos: reported and skipped with policy skip, thrown with policy fail', async (t) => {
  const dir = tempDir(t);
  const good1 = makeTestsrcMp4(join(dir, 'good1.mp4'), { frames: 20, w: 96, h: 64 });
  const good2 = makeTestsrcMp4(join(dir, 'good2.mp4'), { frames: 20, w: 96, h: 64 });
  const truncated = join(dir, 'truncated.mp4');
  copyFileSync(good1, truncated);
  writeFileSync(truncated, readFileSync(truncated).subarray(0, Math.floor(statSync(truncated).size / 3)));
  const garbage = join(dir, 'garbage.mp4');
  writeFileSync(garbage, Buffer.from(Array.from({ length: 4096 }, (_, i) => (i * 2654435761) >>> 24)));
  const missing = join(dir, 'missing.mp4');
  for (const bad of [truncated, garbage, missing])
    await t.rejects(
      probeVideo(bad).then((i) => decodeFrames(bad, [0, 19], { info: i })),
      VideoDecodeError,
    );

  const items = [good1, truncated, garbage, good2].map((path, label) => ({ path, label }));
  const transform = { kind: 'pretrain' as const, numFrames: 4, stride: 2, size: 32 };
  const reported: string[] = [];
  const skip = new VideoClipDataset({ items, transform, onBadVideo: 'skip', onBad: (r) => reported.push(r.file) });
  const s = await skip.get(1, 123);
  t.ok(s.index === 0 || s.index === 3, `substituted by a good index (${s.index})`);
  t.equal(s.requested, 1);
  t.equal(s.label, s.index);
  t.same(s.shape, [1, 4, 32, 32, 3]);
  t.ok(s.bad.length >= 1 && s.bad[0].file === truncated, 'the requested bad file is reported by the sample that met it');
  t.ok(s.bad.every((b) => b.reason.length > 0));
  t.same(
    reported,
    s.bad.map((b) => b.file),
  );
  const s2 = await skip.get(2, 123);
  t.ok(s2.index === 0 || s2.index === 3);
  t.same([...reported].sort(), [garbage, truncated].sort(), 'each bad file reported once');
  t.equal(skip.bad.length, 2);
  t.same(
    skip.skippedVideos.map((v) => v.path),
    reported,
  );
  const fresh = new VideoClipDataset({ items, transform, onBadVideo: 'skip' });
  t.equal((await fresh.get(1, 123)).index, s.index, 'the replacement is a function of (seed, index)');
  const g = await skip.get(0, 123);
  t.equal(g.index, 0);

  const failReports: string[] = [];
  const fail = new VideoClipDataset({ items, transform, onBadVideo: 'fail', onBad: (r) => failReports.push(r.file) });
  const err = await fail.get(2, 1).then(
    () => null,
    (e: unknown) => e,
  );
  t.ok(err instanceof VideoDecodeError, 'policy fail throws VideoDecodeError');
  t.equal((err as VideoDecodeError).file, garbage);
  t.match((err as VideoDecodeError).message, /cannot decode .*garbage\.mp4: \S/);
  t.same(failReports, [], 'fail reports nothing as skipped');
});

t.test('dataset transforms on a real clip: fine-tune (repeated aug), val, test views', async (t) => {
  const items = [{ path: DEMO_MP4, label: 7 }];
  const ft = new VideoClipDataset({ items, transform: { kind: 'finetune', sampling: 'dense', size: 64, numSample: 2 } });
  const a = await ft.get(0, 9);
  t.same(a.shape, [2, 16, 64, 64, 3]);
  t.equal(a.meta!.length, 2);
  t.same((await ft.get(0, 9)).frames, a.frames, 'same seed, same bytes');
  const test = new VideoClipDataset({ items, transform: { kind: 'test', sampling: 'tsn', numClips: 2, numCrops: 3, size: 64 } });
  const v = await test.get(0, 0);
  t.same(v.shape, [6, 16, 64, 64, 3]);
  t.same(
    v.meta!.map((m) => m.crop!.x),
    [0, 10, 21, 0, 10, 21],
    'short side 64 → 85 wide, crops at int(k·10.5)',
  );
  const val = new VideoClipDataset({ items, transform: { kind: 'val', sampling: 'dense', size: 64 } });
  t.same((await val.get(0, 0)).shape, [1, 16, 64, 64, 3]);
});

t.test('images for the image teacher decode through the same ffmpeg', async (t) => {
  const dir = tempDir(t);
  const png = makePng(join(dir, 'a.png'), 97, 65);
  const im = await decodeImage(png, { crop: { x: 10, y: 5, w: 60, h: 60 }, outW: 32, outH: 32 });
  t.same(im.shape, [32, 32, 3]);
  t.equal(im.sourceWidth, 97);
  t.equal(im.data.length, 32 * 32 * 3);
  await t.rejects(decodeImage(join(dir, 'nope.png')), VideoDecodeError);
});
