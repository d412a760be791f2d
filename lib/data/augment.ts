// Augmentation (SPEC §3.1, §4.4, §4.6). The parameter functions decide *what* to do to a clip (a
// crop box, a flip flag, RandAugment ops, an erasing box, a Mixup/CutMix draw) from the seeded
// Rng; the pixel work is done by ffmpeg's filters while decoding (crop, scale, hflip) and by the
// native ops of lib/ops/augment.ts (RandAugment, random erasing, the Mixup/CutMix blend).
//
// Fine-tuning order (VideoClipDataset 'finetune' + finetuneClips below): random-resized crop →
// flip (off for SSv2-like data) → RandAugment (u8, in the loader worker) → normalise → random
// erasing (f32, on the batch) → batch-level Mixup/CutMix:
//
//   mixupCutmix(batch: Tensor f32 [B,C,T,H,W], labels: ArrayLike<number> (length B), opts: {
//     numClasses: number; mixupAlpha?: 0.8; cutmixAlpha?: 1.0; prob?: 1.0; switchProb?: 0.5;
//     labelSmoothing?: 0.1; rng?: Rng; seed?: number; params?: MixParams })
//   → { clips: Tensor f32 [B,C,T,H,W], targets: Tensor f32 [B, numClasses], params: MixParams }
//     (Disposable: disposes clips and targets; the input batch is left alone)
//
// The targets are soft (label smoothing folded in), ready for crossEntropy(logits, targets) with
// no further smoothing. The older form mixupCutmix(width, height, rng, opts) still returns only
// the parameters (MixParams), now also available as mixupCutmixParams.
import { Rng } from './rng.js';
import type { CropBox } from '../ops/frames.js';
import { framesToClip } from '../ops/frames.js';
import {
  RAND_AUGMENT_OPS,
  mixBatch,
  randAugmentFrames,
  randomErase,
  type EraseRect,
  type RandAugmentOpName,
  type RandAugmentOptions,
} from '../ops/augment.js';
import { Tensor } from '../tensor.js';
import { ValueError } from '../errors.js';

export type { CropBox };
export { RAND_AUGMENT_OPS, type RandAugmentOpName };

// ImageNet statistics (SPEC §3.1); lib/methods/batch.ts exports the same numbers.
const MEAN = [0.485, 0.456, 0.406];
const STD = [0.229, 0.224, 0.225];

/**
 * Crop sides of the multi-scale crop as fractions of the frame's short side (GroupMultiScaleCrop's scales).
 */
export const MULTI_SCALES = [1, 0.875, 0.75, 0.66] as const;

/** Candidate (w, h) pairs of the multi-scale crop, in the reference's order (rows = h scale). */
export function multiScaleCropSizes(
  width: number,
  height: number,
  size = 224,
  scales: readonly number[] = MULTI_SCALES,
  maxDistort = 1,
): [number, number][] {
  const base = Math.min(width, height);
  const sides = scales.map((s) => Math.floor(base * s));
  const snapped = sides.map((x) => (Math.abs(x - size) < 3 ? size : x));
  const pairs: [number, number][] = [];
  for (let i = 0; i < snapped.length; i++)
    for (let j = 0; j < snapped.length; j++) if (Math.abs(i - j) <= maxDistort) pairs.push([snapped[j], snapped[i]]);
  return pairs;
}

/** The 13 fixed offsets on the 4×4 step grid, in the reference's order (corners, centre, edges, quarters). */
export function fixedCropOffsets(width: number, height: number, cropW: number, cropH: number): [number, number][] {
  const ws = Math.floor((width - cropW) / 4),
    hs = Math.floor((height - cropH) / 4);
  return [
    [0, 0],
    [4 * ws, 0],
    [0, 4 * hs],
    [4 * ws, 4 * hs],
    [2 * ws, 2 * hs],
    [0, 2 * hs],
    [4 * ws, 2 * hs],
    [2 * ws, 4 * hs],
    [2 * ws, 0],
    [ws, hs],
    [3 * ws, hs],
    [ws, 3 * hs],
    [3 * ws, 3 * hs],
  ];
}

/**
 * MVD pretraining's multi-scale corner crop (GroupMultiScaleCrop, fix_crop, more_fix_crop): a
 * size pair drawn uniformly from multiScaleCropSizes, then one of the 13 fixed offsets. The same box
 * is applied to every frame; it is then resized (bilinear) to the output size.
 */
export function multiScaleCrop(width: number, height: number, rng: Rng, size = 224): CropBox {
  const [w, h] = rng.choice(multiScaleCropSizes(width, height, size));
  const [x, y] = rng.choice(fixedCropOffsets(width, height, w, h));
  return { x, y, w, h };
}

/**
 * RandomResizedCrop's parameters (torchvision get_params): up to 10 tries of an area fraction in
 * `scale` and a log-uniform aspect in `ratio`, else a centre crop clamped to the ratio range.
 */
export function randomResizedCrop(
  width: number,
  height: number,
  rng: Rng,
  scale: [number, number] = [0.08, 1],
  ratio: [number, number] = [3 / 4, 4 / 3],
): CropBox {
  const area = width * height;
  const logR = [Math.log(ratio[0]), Math.log(ratio[1])];
  for (let attempt = 0; attempt < 10; attempt++) {
    const target = area * rng.uniform(scale[0], scale[1]);
    const aspect = Math.exp(rng.uniform(logR[0], logR[1]));
    const w = Math.round(Math.sqrt(target * aspect));
    const h = Math.round(Math.sqrt(target / aspect));
    if (w > 0 && w <= width && h > 0 && h <= height) {
      const y = rng.randint(0, height - h),
        x = rng.randint(0, width - w);
      return { x, y, w, h };
    }
  }
  const inRatio = width / height;
  let w = width,
    h = height;
  if (inRatio < Math.min(...ratio)) h = Math.round(w / Math.min(...ratio));
  else if (inRatio > Math.max(...ratio)) w = Math.round(h * Math.max(...ratio));
  return { x: Math.floor((width - w) / 2), y: Math.floor((height - h) / 2), w, h };
}

/** Horizontal flip with probability p (0.5 on Kinetics, 0 on SSv2 where left/right is the label). */
export function flipFlag(rng: Rng, p = 0.5): boolean {
  return rng.float() < p;
}

/**
 * Test-time spatial views (§4.6): the short side is resized to `size` (long side scaled and
 * truncated, as video_transforms.Resize does), then `numCrops` square crops evenly spaced along the
 * long side at int(k·(L − size)/(numCrops − 1)). Boxes are in the resized frame.
 */
export function testCrops(width: number, height: number, size = 224, numCrops = 3): { resized: [number, number]; crops: CropBox[] } {
  const short = Math.min(width, height);
  const rw = width <= height ? size : Math.trunc((width * size) / short);
  const rh = width <= height ? Math.trunc((height * size) / short) : size;
  const long = Math.max(rw, rh);
  const step = numCrops > 1 ? (long - size) / (numCrops - 1) : 0;
  const crops: CropBox[] = [];
  for (let k = 0; k < numCrops; k++) {
    const off = numCrops > 1 ? Math.trunc(k * step) : Math.trunc((long - size) / 2);
    crops.push(rh >= rw ? { x: 0, y: off, w: size, h: size } : { x: off, y: 0, w: size, h: size });
  }
  return { resized: [rw, rh], crops };
}

/** The centre square crop of side `size` after resizing the short side to `size` (validation). */
export function centreCrop(width: number, height: number, size = 224): { resized: [number, number]; crop: CropBox } {
  const { resized, crops } = testCrops(width, height, size, 3);
  return { resized, crop: crops[1] };
}

/** One random-erasing box in output-frame pixels (the crop's size after scaling), drawn by randomErasing. */
export interface ErasingBox {
  top: number;
  left: number;
  h: number;
  w: number;
  /** Seed for the per-pixel normal noise of mode 'pixel' (applied natively). */
  noiseSeed: number;
}

/**
 * Random erasing (timm RandomErasing, mode 'pixel', count 1): with probability p, a box of area
 * fraction in [minArea, maxArea] and log-uniform aspect in [0.3, 1/0.3], 10 tries. Null when not applied.
 */
export function randomErasing(
  width: number,
  height: number,
  rng: Rng,
  opts: { p?: number; minArea?: number; maxArea?: number; minAspect?: number } = {},
): ErasingBox | null {
  const p = opts.p ?? 0.25,
    minArea = opts.minArea ?? 0.02,
    maxArea = opts.maxArea ?? 1 / 3;
  const minAspect = opts.minAspect ?? 0.3;
  if (rng.float() > p) return null;
  const area = width * height;
  const logA = [Math.log(minAspect), Math.log(1 / minAspect)];
  for (let attempt = 0; attempt < 10; attempt++) {
    const target = rng.uniform(minArea, maxArea) * area;
    const aspect = Math.exp(rng.uniform(logA[0], logA[1]));
    const h = Math.round(Math.sqrt(target * aspect));
    const w = Math.round(Math.sqrt(target / aspect));
    if (w < width && h < height) {
      const top = rng.randint(0, height - h),
        left = rng.randint(0, width - w);
      return { top, left, h, w, noiseSeed: rng.nextU32() };
    }
  }
  return null;
}

/** One batch's Mixup/CutMix draw (mixupCutmixParams); 'none' leaves clips as they are, with λ = 1. */
export interface MixParams {
  mode: 'mixup' | 'cutmix' | 'none';
  /** Weight of the original sample; for cutmix, corrected to the box's actual area. */
  lambda: number;
  /** CutMix box (pasted from the batch flipped along its first axis), in output pixels. */
  box?: { y0: number; y1: number; x0: number; x1: number };
}

/**
 * Per-batch Mixup/CutMix (timm Mixup, mode 'batch'): applied with probability `prob`; CutMix with
 * probability `switchProb`, λ ~ Beta(α, α) for the chosen one; the CutMix box has side ratio
 * sqrt(1 − λ), a uniform centre, is clipped to the frame, and λ becomes 1 − box area / frame area.
 * Mixing partners are the batch reversed (x.flip(0)); targets get label smoothing on top.
 */
export function mixupCutmixParams(
  width: number,
  height: number,
  rng: Rng,
  opts: { mixupAlpha?: number; cutmixAlpha?: number; prob?: number; switchProb?: number } = {},
): MixParams {
  const ma = opts.mixupAlpha ?? 0.8,
    ca = opts.cutmixAlpha ?? 1.0;
  const prob = opts.prob ?? 1.0,
    switchProb = opts.switchProb ?? 0.5;
  if (!(rng.float() < prob) || (ma <= 0 && ca <= 0)) return { mode: 'none', lambda: 1 };
  const cut = ma > 0 && ca > 0 ? rng.float() < switchProb : ca > 0;
  const lam = rng.beta(cut ? ca : ma, cut ? ca : ma);
  if (!cut) return { mode: 'mixup', lambda: lam };
  const r = Math.sqrt(1 - lam);
  const ch = Math.trunc(height * r),
    cw = Math.trunc(width * r);
  const cy = rng.int(height),
    cx = rng.int(width);
  const clip = (v: number, hi: number) => Math.min(Math.max(v, 0), hi);
  const y0 = clip(cy - Math.floor(ch / 2), height),
    y1 = clip(cy + Math.floor(ch / 2), height);
  const x0 = clip(cx - Math.floor(cw / 2), width),
    x1 = clip(cx + Math.floor(cw / 2), width);
  return { mode: 'cutmix', lambda: 1 - ((y1 - y0) * (x1 - x0)) / (width * height), box: { y0, y1, x0, x1 } };
}

/** One drawn RandAugment op, applied to every frame of a clip alike (randAugment). */
export interface RandAugmentOp {
  op: RandAugmentOpName;
  /** Magnitude after the gaussian jitter, in [0, 10]. */
  magnitude: number;
  /**
   * The op's argument: degrees (Rotate), shear factor, translate fraction of the size, posterize
   * bits, solarize threshold, solarize-add amount, or enhance factor; null for argument-free ops.
   */
  value: number | null;
}

function levelToArg(op: RandAugmentOpName, m: number, rng: Rng): number | null {
  const f = m / 10;
  const signed = (v: number) => (rng.float() < 0.5 ? -v : v);
  switch (op) {
    case 'AutoContrast':
    case 'Equalize':
    case 'Invert':
      return null;
    case 'Rotate':
      return signed(f * 30);
    case 'ShearX':
    case 'ShearY':
      return signed(f * 0.3);
    case 'TranslateXRel':
    case 'TranslateYRel':
      return signed(f * 0.45);
    case 'PosterizeIncreasing':
      return 4 - Math.trunc(f * 4);
    case 'SolarizeIncreasing':
      return 256 - Math.trunc(f * 256);
    case 'SolarizeAdd':
      return Math.trunc(f * 110);
    default:
      return 1 + signed(f * 0.9); // Color/Contrast/Brightness/Sharpness increasing
  }
}

/**
 * RandAugment `rand-m7-n4-mstd0.5-inc1`: n ops drawn uniformly with replacement; each is applied
 * with probability 0.5 and a magnitude ~ N(m, mstd) clipped to [0, 10]. The same ops apply to every
 * frame of a clip. Returns only the applied ops, in order (pixel work: randAugmentFrames/Array).
 */
export function randAugment(rng: Rng, opts: { n?: number; m?: number; mstd?: number; prob?: number } = {}): RandAugmentOp[] {
  const n = opts.n ?? 4,
    m = opts.m ?? 7,
    mstd = opts.mstd ?? 0.5,
    prob = opts.prob ?? 0.5;
  const chosen: RandAugmentOpName[] = [];
  for (let i = 0; i < n; i++) chosen.push(rng.choice(RAND_AUGMENT_OPS));
  const out: RandAugmentOp[] = [];
  for (const op of chosen) {
    if (prob < 1 && rng.float() > prob) continue;
    const mag = Math.min(10, Math.max(0, mstd > 0 ? rng.normal(m, mstd) : m));
    out.push({ op, magnitude: mag, value: levelToArg(op, mag, rng) });
  }
  return out;
}

/** The native step list of drawn RandAugment ops (magnitudes already mapped to arguments). */
export function randAugmentSteps(ops: readonly RandAugmentOp[]): { op: RandAugmentOpName; value: number | null }[] {
  return ops.map((o) => ({ op: o.op, value: o.value }));
}

/** Applies drawn RandAugment ops to u8 frames [T,H,W,C] (all frames alike); a new tensor. */
export function applyRandAugment(frames: Tensor, ops: readonly RandAugmentOp[], opts: RandAugmentOptions = {}): Tensor<'u8'> {
  return randAugmentFrames(frames, randAugmentSteps(ops), opts);
}

/**
 * Random erasing of a normalised f32 batch [B,C,T,H,W] from per-clip boxes (randomErasing's
 * output, null = not erased); row b of the batch uses boxes[b]. A new tensor.
 */
export function applyErasing(clips: Tensor, boxes: readonly (ErasingBox | null | undefined)[]): Tensor<'f32'> {
  const [B, , , H, W] = clips.shape;
  if (clips.shape.length !== 5 || boxes.length !== B)
    throw new ValueError(
      `applyErasing: need one box (or null) per clip of [B,C,T,H,W], got ${boxes.length} for [${clips.shape.join(',')}]`,
    );
  const rects: EraseRect[] = [];
  boxes.forEach((b, clip) => {
    if (!b) return;
    if (b.top + b.h > H || b.left + b.w > W)
      throw new ValueError(
        `applyErasing: box ${JSON.stringify(b)} of clip ${clip} leaves the ${W}x${H} frame (boxes are drawn for the output size)`,
      );
    rects.push({ clip, top: b.top, left: b.left, h: b.h, w: b.w, seed: b.noiseSeed });
  });
  return randomErase(clips, rects);
}

/** The part of a loader batch (or any stack of u8 clips) that finetuneClips needs. */
export interface U8ClipBatch {
  /** u8 [N,T,H,W,3]. */
  frames: Uint8Array;
  shape: number[];
  /** Per-row augmentation choices (erasing boxes; RandAugment already applied by the dataset). */
  meta?: readonly ({ erasing?: ErasingBox | null; randAugment?: readonly RandAugmentOp[]; randAugmentApplied?: boolean } | undefined)[];
}

/**
 * A fine-tuning batch as the model sees it: u8 frames → (RandAugment for rows whose ops were drawn
 * but not yet applied) → ImageNet normalisation (f32 [N,3,T,H,W]) → random erasing from each row's
 * meta. Mixup/CutMix is separate (mixupCutmix), since it mixes rows and changes the targets.
 */
export function finetuneClips(
  batch: U8ClipBatch,
  opts: RandAugmentOptions & { mean?: number[]; std?: number[]; device?: string } = {},
): Tensor<'f32'> {
  const meta = batch.meta ?? [];
  let u8: Tensor<'u8'> = Tensor.fromArray(batch.frames, batch.shape, opts.device ? { device: opts.device } : {});
  const pending = meta.map((m) => (m?.randAugment?.length && !m.randAugmentApplied ? randAugmentSteps(m.randAugment) : []));
  if (pending.some((p) => p.length)) {
    while (pending.length < batch.shape[0]) pending.push([]);
    const aug = randAugmentFrames(u8, pending, opts);
    u8.dispose();
    u8 = aug;
  }
  const clips = framesToClip(u8, opts.mean ?? MEAN, opts.std ?? STD);
  u8.dispose();
  const boxes = Array.from({ length: batch.shape[0] }, (_, i) => meta[i]?.erasing ?? null);
  if (!boxes.some((b) => b)) return clips;
  const erased = applyErasing(clips, boxes);
  clips.dispose();
  return erased;
}

/** Options of mixupCutmix; the defaults are the SPEC §4.4 values (α 0.8 / 1.0, prob 1, switchProb 0.5). */
export interface MixupOptions {
  numClasses: number;
  mixupAlpha?: number;
  cutmixAlpha?: number;
  prob?: number;
  switchProb?: number;
  /** Folded into the soft targets (default 0.1, SPEC §4.4). */
  labelSmoothing?: number;
  /** Source of the per-batch draw (else Rng(seed ?? 0)). */
  rng?: Rng;
  seed?: number;
  /** A draw made elsewhere (e.g. the loader's Batch.mix); used instead of drawing. */
  params?: MixParams;
}

/**
 * mixupCutmix's output: mixed clips f32 [B, C, T, H, W] and soft targets f32 [B, numClasses] (both
 * owned by the result; disposing it frees them, not the input batch), plus the draw used.
 */
export interface MixupResult extends Disposable {
  clips: Tensor<'f32'>;
  targets: Tensor<'f32'>;
  params: MixParams;
}

/**
 * timm's mixup_target: one-hot rows with label smoothing (on = 1 − ε + ε/K, off = ε/K) of the
 * labels and of the reversed labels, weighted λ and 1 − λ. f32 [B, K] as a plain array.
 */
export function mixTargets(labels: ArrayLike<number>, numClasses: number, lambda: number, smoothing = 0.1): Float32Array {
  const B = labels.length,
    K = numClasses;
  const off = smoothing / K,
    on = 1 - smoothing + off;
  const out = new Float32Array(B * K);
  for (let b = 0; b < B; b++) {
    const y1 = labels[b],
      y2 = labels[B - 1 - b];
    if (!(Number.isInteger(y1) && y1 >= 0 && y1 < K)) throw new ValueError(`mixupCutmix: label ${y1} is outside [0, ${K})`);
    for (let k = 0; k < K; k++) out[b * K + k] = (k === y1 ? on : off) * lambda + (k === y2 ? on : off) * (1 - lambda);
  }
  return out;
}

function mixBatchTensors(batch: Tensor, labels: ArrayLike<number>, opts: MixupOptions): MixupResult {
  if (batch.shape.length !== 5) throw new ValueError(`mixupCutmix: batch must be f32 [B,C,T,H,W], got [${batch.shape.join(',')}]`);
  const [B, , , H, W] = batch.shape;
  if (labels.length !== B) throw new ValueError(`mixupCutmix: ${labels.length} labels for a batch of ${B}`);
  if (!(Number.isInteger(opts.numClasses) && opts.numClasses > 0))
    throw new ValueError(`mixupCutmix: numClasses must be a positive integer, got ${opts.numClasses}`);
  const params = opts.params ?? mixupCutmixParams(W, H, opts.rng ?? new Rng(opts.seed ?? 0, 0x31c), opts);
  const targets = Tensor.fromArray(mixTargets(labels, opts.numClasses, params.lambda, opts.labelSmoothing ?? 0.1), [B, opts.numClasses], {
    device: batch.device,
  });
  const clips =
    params.mode === 'none'
      ? (batch.clone() as Tensor<'f32'>)
      : mixBatch(batch, params.lambda, params.mode === 'cutmix' ? params.box : null);
  return {
    clips,
    targets,
    params,
    [Symbol.dispose]: () => {
      clips.dispose();
      targets.dispose();
    },
  };
}

/**
 * Batch-level Mixup/CutMix (timm Mixup, mode 'batch', SPEC §4.4), see the signature at the top of
 * this file. With `(width, height, rng, opts)` it only draws the parameters (mixupCutmixParams).
 */
export function mixupCutmix(batch: Tensor, labels: ArrayLike<number>, opts: MixupOptions): MixupResult;
export function mixupCutmix(
  width: number,
  height: number,
  rng: Rng,
  opts?: { mixupAlpha?: number; cutmixAlpha?: number; prob?: number; switchProb?: number },
): MixParams;
export function mixupCutmix(
  a: Tensor | number,
  b: ArrayLike<number> | number,
  c?: MixupOptions | Rng,
  d?: { mixupAlpha?: number; cutmixAlpha?: number; prob?: number; switchProb?: number },
): MixupResult | MixParams {
  if (typeof a === 'number') return mixupCutmixParams(a, b as number, c as Rng, d);
  return mixBatchTensors(a, b as ArrayLike<number>, c as MixupOptions);
}
