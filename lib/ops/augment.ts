// Fine-tuning augmentation pixel ops (native/ops/augment): RandAugment on u8 clips, random erasing
// on the normalised f32 clip, and the Mixup/CutMix blend of an f32 batch. Every random choice is
// made by the caller (lib/data/augment.ts draws them from the seeded Rng); these ops only apply
// them. RandAugment also has a synchronous Uint8Array form for loader worker threads, like
// renderSynthClip: their results are transferable buffers, not queued tensors.
import { addon, type NativeEraseBox } from '../native.js';
import { Tensor } from '../tensor.js';
import { ValueError } from '../errors.js';
import type { CropBox } from './frames.js';

/** timm's increasing RandAugment op set (`inc1`), in its order; the index is the native op code. */
export const RAND_AUGMENT_OPS = [
  'AutoContrast',
  'Equalize',
  'Invert',
  'Rotate',
  'PosterizeIncreasing',
  'SolarizeIncreasing',
  'SolarizeAdd',
  'ColorIncreasing',
  'ContrastIncreasing',
  'BrightnessIncreasing',
  'SharpnessIncreasing',
  'ShearX',
  'ShearY',
  'TranslateXRel',
  'TranslateYRel',
] as const;
/** One of timm's RandAugment ops (the 15 of its increasing set). */
export type RandAugmentOpName = (typeof RAND_AUGMENT_OPS)[number];

/**
 * One RandAugment step: the op and its argument, already mapped from the magnitude: degrees
 * (Rotate, counter-clockwise), shear factor, translate fraction of the width/height, posterize
 * bits, solarize threshold, solarize-add amount, or enhance factor (1 = unchanged); null or
 * ignored for AutoContrast, Equalize, Invert.
 */
export interface RandAugmentStep {
  /** An op of RAND_AUGMENT_OPS, or its plain name (Posterize, Solarize, Color, …, TranslateX/Y). */
  op: RandAugmentOpName | 'Posterize' | 'Solarize' | 'Color' | 'Contrast' | 'Brightness' | 'Sharpness' | 'TranslateX' | 'TranslateY';
  value: number | null;
}

/** Resampling of the geometric RandAugment ops. */
export type Interpolation = 'nearest' | 'bilinear' | 'bicubic';

/** Options of applyRandAugment: resampling and fill. */
export interface RandAugmentOptions {
  /** Resampling of Rotate/Shear/Translate (default 'bicubic', SPEC §4.4's train_interpolation). */
  interpolation?: Interpolation;
  /** Grey level of pixels mapped from outside the frame (default 128, timm's fill). */
  fill?: number;
}

const INTERP: Record<Interpolation, number> = { nearest: 0, bilinear: 1, bicubic: 2 };

/** Plain names for the same ops (the argument is what the op takes either way). */
const ALIASES: Record<string, RandAugmentOpName> = {
  Posterize: 'PosterizeIncreasing',
  Solarize: 'SolarizeIncreasing',
  Color: 'ColorIncreasing',
  Contrast: 'ContrastIncreasing',
  Brightness: 'BrightnessIncreasing',
  Sharpness: 'SharpnessIncreasing',
  TranslateX: 'TranslateXRel',
  TranslateY: 'TranslateYRel',
};

function code(op: RandAugmentOpName | keyof typeof ALIASES): number {
  const k = RAND_AUGMENT_OPS.indexOf((ALIASES[op] ?? op) as RandAugmentOpName);
  if (k < 0)
    throw new ValueError(`randAugment: unknown op '${op as string}' (one of ${RAND_AUGMENT_OPS.join(', ')})`, { op: 'randAugment' });
  return k;
}

function clipsOf(shape: readonly number[]): number {
  return shape.length === 5 ? shape[0] : 1;
}

/** Steps for one clip, or one list per clip of [N,T,H,W,C], to the native [[op, value], …] lists. */
function nativeSteps(shape: readonly number[], steps: readonly RandAugmentStep[] | readonly (readonly RandAugmentStep[])[]): number[][][] {
  const n = clipsOf(shape);
  const perClip =
    steps.length > 0 && Array.isArray(steps[0])
      ? (steps as readonly (readonly RandAugmentStep[])[])
      : Array.from({ length: n }, () => steps as readonly RandAugmentStep[]);
  return perClip.map((list) => list.map((s) => [code(s.op), s.value ?? 0]));
}

/**
 * RandAugment steps applied in order to u8 clips [T,H,W,C] or [N,T,H,W,C] (C = 1..4): the same
 * steps with the same arguments on every frame of a clip (video convention), each frame's own
 * statistics for AutoContrast/Equalize/Contrast. `steps` is one list for all clips, or one list
 * per clip. Returns a new u8 tensor of the same shape.
 */
export function randAugmentFrames(
  frames: Tensor,
  steps: readonly RandAugmentStep[] | readonly (readonly RandAugmentStep[])[],
  opts: RandAugmentOptions = {},
): Tensor<'u8'> {
  return Tensor.fromNative(
    addon().randAugment(frames, nativeSteps(frames.shape, steps), INTERP[opts.interpolation ?? 'bicubic'], opts.fill ?? 128),
  );
}

/**
 * randAugmentFrames on a plain Uint8Array [T,H,W,C] / [N,T,H,W,C], in place and synchronously on
 * the calling thread (for loader workers). Returns `data`.
 */
export function randAugmentArray(
  data: Uint8Array,
  shape: readonly number[],
  steps: readonly RandAugmentStep[] | readonly (readonly RandAugmentStep[])[],
  opts: RandAugmentOptions = {},
): Uint8Array {
  return addon().randAugmentInPlace(data, shape, nativeSteps(shape, steps), {
    interp: INTERP[opts.interpolation ?? 'bicubic'],
    fill: opts.fill ?? 128,
  });
}

/**
 * resizeCrop (bilinear, half-pixel centres, rounded) on a plain Uint8Array [T,H,W,C],
 * synchronously on the calling thread; returns a new Uint8Array [T,outH,outW,C]. Used by loader
 * workers to make the image teacher's input from the same crop as the student's.
 */
export function resizeCropArray(data: Uint8Array, shape: readonly number[], crop: CropBox, outH: number, outW: number): Uint8Array {
  return addon().resizeCropArray(data, shape, { x: crop.x, y: crop.y, w: crop.w, h: crop.h, outH, outW });
}

/** A rectangle to erase in clip `clip` of a [B,C,T,H,W] batch, with the seed of its noise. */
export type EraseRect = NativeEraseBox;

/**
 * Random erasing, mode 'pixel' (timm RandomErasing as VideoMAE applies it: one rectangle for all
 * frames of a clip, fresh per-pixel normal noise in every frame and channel) on a normalised f32
 * clip batch [B,C,T,H,W]. Returns a new tensor; clips without a rectangle are copied unchanged.
 */
export function randomErase(clip: Tensor, rects: readonly EraseRect[]): Tensor<'f32'> {
  return Tensor.fromNative(addon().randomErase(clip, rects));
}

/**
 * Mixes an f32 batch [B,C,T,H,W] with its mirror image x.flip(0) (timm Mixup, mode 'batch'):
 * Mixup without `box`: λ·x[b] + (1 − λ)·x[B−1−b]; CutMix with `box`: x[b] with rows [y0,y1) ×
 * columns [x0,x1) of every frame taken from x[B−1−b] (λ is then only the caller's target weight).
 */
export function mixBatch(x: Tensor, lambda: number, box?: { y0: number; y1: number; x0: number; x1: number } | null): Tensor<'f32'> {
  return Tensor.fromNative(addon().mixBatch(x, lambda, box ? [box.y0, box.y1, box.x0, box.x1] : null));
}
