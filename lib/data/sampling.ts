// Which frames of a video make a clip (SPEC §3.1, §4.5, §4.6). Pure functions of the frame count
// and an Rng, returning frame indices in clip order; indices repeat when a video is too short.
import type { Rng } from './rng.js';

function checkCount(name: string, frameCount: number): void {
  if (!Number.isInteger(frameCount) || frameCount <= 0)
    throw new RangeError(`${name}: the video must have at least one frame (got ${frameCount})`);
}

/**
 * MVD/VideoMAE pretraining: `numFrames` frames at `stride`, from a start uniform in
 * [0, frameCount − numFrames·stride]. On a short video the start is 0 and the clip repeats its last
 * stride-aligned frame that exists. (The reference's decord loop stops one stride early when the
 * span ends exactly one frame past the video; we keep the last existing frame instead.)
 */
export function pretrainIndices(frameCount: number, rng: Rng, numFrames = 16, stride = 4): Int32Array {
  checkCount('pretrainIndices', frameCount);
  const span = numFrames * stride;
  const start = frameCount >= span ? rng.int(frameCount - span + 1) : 0;
  const lastStep = Math.floor((frameCount - 1 - start) / stride);
  const out = new Int32Array(numFrames);
  for (let k = 0; k < numFrames; k++) out[k] = start + stride * Math.min(k, lastStep);
  return out;
}

/** numpy.linspace(a, b, n). */
function linspace(a: number, b: number, n: number): number[] {
  if (n === 1) return [a];
  const step = (b - a) / (n - 1);
  const out: number[] = [];
  for (let i = 0; i < n; i++) out.push(i === n - 1 ? b : a + step * i);
  return out;
}

/**
 * Kinetics fine-tuning, train (I3D-style dense): numFrames evenly spread (linspace) over a random
 * window of numFrames·stride frames whose end is uniform in [span, frameCount − 1]; short videos
 * spread frameCount/stride indices over the whole video and pad with the last frame
 * (`kinetics.py loadvideo_decord`).
 */
export function denseTrainIndices(frameCount: number, rng: Rng, numFrames = 16, stride = 4): Int32Array {
  checkCount('denseTrainIndices', frameCount);
  const span = numFrames * stride;
  const out = new Int32Array(numFrames);
  if (frameCount <= span) {
    const n = Math.floor(frameCount / stride);
    const idx = n > 0 ? linspace(0, frameCount, n) : [];
    while (idx.length < numFrames) idx.push(frameCount);
    for (let k = 0; k < numFrames; k++) out[k] = Math.trunc(Math.min(Math.max(idx[k], 0), frameCount - 1));
    return out;
  }
  const end = span + rng.int(frameCount - span);
  const start = end - span;
  const idx = linspace(start, end, numFrames);
  for (let k = 0; k < numFrames; k++) out[k] = Math.trunc(Math.min(Math.max(idx[k], start), end - 1));
  return out;
}

/**
 * Kinetics test: every `stride`-th frame of the whole video, then `numClips` windows of numFrames
 * with evenly spaced starts int(c · (M − numFrames)/(numClips − 1)); windows past the end repeat
 * the last strided frame. Returns one index list per clip.
 */
export function denseTestIndices(frameCount: number, numClips = 5, numFrames = 16, stride = 4): Int32Array[] {
  checkCount('denseTestIndices', frameCount);
  const m = Math.ceil(frameCount / stride);
  const step = numClips > 1 ? Math.max((m - numFrames) / (numClips - 1), 0) : 0;
  const clips: Int32Array[] = [];
  for (let c = 0; c < numClips; c++) {
    const s = Math.trunc(c * step);
    const out = new Int32Array(numFrames);
    for (let k = 0; k < numFrames; k++) out[k] = Math.min(s + k, m - 1) * stride;
    clips.push(out);
  }
  return clips;
}

/**
 * SSv2 train (TSN): `numSegments` equal segments of floor(frameCount/numSegments) frames, one
 * uniformly random frame in each; with fewer frames than segments, sorted random frames; with
 * none per segment and too few frames, all zeros (`ssv2.py loadvideo_decord`).
 */
export function tsnTrainIndices(frameCount: number, rng: Rng, numSegments = 16): Int32Array {
  checkCount('tsnTrainIndices', frameCount);
  const avg = Math.floor(frameCount / numSegments);
  const out = new Int32Array(numSegments);
  if (avg > 0) {
    for (let i = 0; i < numSegments; i++) out[i] = i * avg + rng.int(avg);
  } else if (frameCount > numSegments) {
    for (let i = 0; i < numSegments; i++) out[i] = rng.int(frameCount);
    out.sort();
  }
  return out;
}

/**
 * SSv2 test: `numViews` temporal views; view c takes int(c·tick/numViews + tick·x) in segment x,
 * tick = frameCount/numSegments (`ssv2.py`, test mode). With numViews = 1 and centre = true it
 * gives the validation clip int(tick/2 + tick·x).
 */
export function tsnTestIndices(frameCount: number, numViews = 2, numSegments = 16, centre = false): Int32Array[] {
  checkCount('tsnTestIndices', frameCount);
  const tick = frameCount / numSegments;
  const views: Int32Array[] = [];
  for (let c = 0; c < numViews; c++) {
    const out = new Int32Array(numSegments);
    const shift = centre ? tick / 2 : (c * tick) / numViews;
    for (let x = 0; x < numSegments; x++) out[x] = Math.min(Math.trunc(shift + tick * x), frameCount - 1);
    views.push(out);
  }
  return views;
}

/** Kinetics validation during training: the single centre window of the dense test sampling. */
export function denseCentreIndices(frameCount: number, numFrames = 16, stride = 4): Int32Array {
  return denseTestIndices(frameCount, 3, numFrames, stride)[1];
}
