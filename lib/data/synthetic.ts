// The synthetic "spatial vs temporal" set (DESIGN "Data"): one textured object moving over a
// cluttered background. Appearance label = the object's shape × texture (one frame suffices);
// motion label = its direction (needs two frames). Colours, clutter, position, size, orientation,
// texture scale and speed are random per clip, so neither global colour nor a single frame's
// layout gives the motion label, and clutter with the same textures keeps appearance from being
// a texture-presence test. A clip is a pure function of (seed, index, frames, size).
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ValueError } from '../errors.js';
import { renderSynthClip, type SynthClipParams } from '../ops/synth.js';
import { resizeCropArray } from '../ops/augment.js';
import { Rng, deriveSeed } from './rng.js';
import { splitTrainVal } from './datasets.js';
import { encodeVideo, pickEncoder } from './video.js';
import type { ClipSample, ClipSource } from './types.js';

/** Appearance class names (object shape-texture), indexed by the appearance label. */
export const APPEARANCE_CLASSES = ['disc-stripes', 'square-checker', 'triangle-dots', 'cross-rings'] as const;
/** Motion class names (direction of travel, in image coordinates), indexed by the motion label. */
export const MOTION_CLASSES = ['left', 'right', 'up', 'down'] as const;
const DIRS: [number, number][] = [
  [-1, 0],
  [1, 0],
  [0, -1],
  [0, 1],
];

/** Everything that renders one synthetic clip (native renderSynthClip parameters) and its two labels. */
export interface SynthClipSpec {
  params: SynthClipParams;
  appearance: number;
  motion: number;
}

/** Distractor objects per clip: a uniform count in [min, max]. The default (8–16) is the hard set. */
export interface ClutterRange {
  min: number;
  max: number;
}
/** 8–16 distractors (the hard set): clutter in the objects' own textures, so appearance is not mere texture presence. */
export const DEFAULT_CLUTTER: ClutterRange = { min: 8, max: 16 };

/**
 * The object's two texture colours: 'random' per clip (the hard set), or 'fixed' white/black on
 * every clip. With random colours a from-scratch tiny ViT must first find colour-invariant shape
 * and texture detectors, and at demo budgets it never leaves the loss plateau (docs/DEMO.md:
 * 3000 steps on 48 000 fresh clips, loss still ln 4); with the fixed palette it starts learning
 * appearance within 400 steps. Clutter and background keep their random colours either way.
 */
export const SYNTH_PALETTES = ['random', 'fixed'] as const;
/** 'random' or 'fixed' object colours; see SYNTH_PALETTES. */
export type SynthPalette = (typeof SYNTH_PALETTES)[number];

/**
 * The parameters of clip `index`. Labels cycle so every block of 16 consecutive indices holds each
 * (appearance, motion) pair once: classes are balanced and the two labels independent.
 */
export function synthClipSpec(
  seed: number,
  index: number,
  frames = 16,
  size = 112,
  clutter: ClutterRange = DEFAULT_CLUTTER,
  palette: SynthPalette = 'random',
): SynthClipSpec {
  if (!Number.isInteger(index) || index < 0) throw new ValueError(`synthetic clip index must be a non-negative integer, got ${index}`);
  if (!Number.isInteger(frames) || frames < 2) throw new ValueError(`synthetic clips need at least 2 frames, got ${frames}`);
  if (!Number.isInteger(size) || size < 16) throw new ValueError(`synthetic clip size must be an integer >= 16, got ${size}`);
  const rng = new Rng(seed, index, 0x51);
  const appearance = index % 4,
    motion = Math.floor(index / 4) % 4;
  const radius = size * rng.uniform(0.13, 0.2);
  const reach = 1.35 * radius;
  const travel = size * rng.uniform(0.2, 0.35);
  const speed = travel / (frames - 1);
  const [dx, dy] = DIRS[motion];
  // The centre at mid-clip is uniform over where the whole path stays inside the frame, so the
  // first frame's position carries only a weak hint of the direction.
  const along = (lo: number, hi: number) => (hi > lo ? rng.uniform(lo, hi) : (lo + hi) / 2);
  const midAlong = along(reach + travel / 2, size - reach - travel / 2);
  const midAcross = along(reach, size - reach);
  const midX = dx !== 0 ? midAlong : midAcross,
    midY = dx !== 0 ? midAcross : midAlong;
  const half = (frames - 1) / 2;
  // Drawn in both palettes, so the fixed palette changes nothing else about a clip.
  let colorA: [number, number, number] = [rng.int(256), rng.int(256), rng.int(256)];
  let colorB = colorA.map((c) => (c + 96 + rng.int(64)) % 256) as [number, number, number];
  if (palette === 'fixed')
    [colorA, colorB] = [
      [255, 255, 255],
      [0, 0, 0],
    ];
  const params: SynthClipParams = {
    T: frames,
    H: size,
    W: size,
    seed: rng.nextU32(),
    shape: appearance,
    texture: appearance,
    colorA,
    colorB,
    cx: midX - dx * speed * half,
    cy: midY - dy * speed * half,
    vx: dx * speed,
    vy: dy * speed,
    radius,
    angle: rng.uniform(0, 2 * Math.PI),
    omega: 0,
    period: Math.max(2.5, rng.uniform(0.03, 0.055) * size),
    clutter: clutter.min + rng.int(clutter.max - clutter.min + 1),
    grain: 4,
  };
  return { params, appearance, motion };
}

/** Which of a synthetic clip's labels a dataset reports as `label`: shape-texture or direction. */
export type SyntheticLabel = 'appearance' | 'motion';

/**
 * Options of SyntheticDataset; defaults 16 frames of 112², seed 0, the hard set (clutter 8–16, random palette).
 */
export interface SyntheticDatasetOptions {
  seed?: number;
  count: number;
  frames?: number;
  size?: number;
  /** Which label `label` carries (both are always in `labels`). Default 'appearance'. */
  label?: SyntheticLabel;
  /** Distractor count range (task difficulty); default 8–16. */
  clutter?: ClutterRange;
  /** Object colours (default 'random'). */
  palette?: SynthPalette;
  /** Also give each clip resized (bilinear) to this size: the image teacher's input. */
  imageTeacherSize?: number;
}

/** The synthetic set in memory: rendered natively on demand, no ffmpeg involved. */
export class SyntheticDataset implements ClipSource {
  readonly seed: number;
  readonly length: number;
  readonly frames: number;
  readonly size: number;
  readonly label: SyntheticLabel;
  readonly classes: readonly string[];
  readonly clutter: ClutterRange;
  readonly palette: SynthPalette;
  readonly imageTeacherSize?: number;

  constructor(private readonly opts: SyntheticDatasetOptions) {
    this.imageTeacherSize = opts.imageTeacherSize;
    if (opts.imageTeacherSize !== undefined && !(Number.isInteger(opts.imageTeacherSize) && opts.imageTeacherSize > 0))
      throw new ValueError(`SyntheticDataset: imageTeacherSize must be a positive integer, got ${opts.imageTeacherSize}`);
    this.seed = opts.seed ?? 0;
    this.length = opts.count;
    this.frames = opts.frames ?? 16;
    this.size = opts.size ?? 112;
    this.label = opts.label ?? 'appearance';
    this.clutter = opts.clutter ?? DEFAULT_CLUTTER;
    this.palette = opts.palette ?? 'random';
    if (!SYNTH_PALETTES.includes(this.palette))
      throw new ValueError(`SyntheticDataset: palette must be ${SYNTH_PALETTES.map((p) => `'${p}'`).join(' or ')}, got '${opts.palette}'`);
    if (!Number.isInteger(this.length) || this.length <= 0)
      throw new ValueError(`SyntheticDataset: count must be a positive integer, got ${opts.count}`);
    this.classes = this.label === 'appearance' ? APPEARANCE_CLASSES : MOTION_CLASSES;
  }

  /** The same set also giving each clip resized to `size` (the image teacher's input). */
  withImageTeacherSize(size: number): SyntheticDataset {
    return new SyntheticDataset({ ...this.opts, imageTeacherSize: size });
  }

  spec(index: number): SynthClipSpec {
    if (index >= this.length) throw new ValueError(`SyntheticDataset: index ${index} is past the end (${this.length} clips)`);
    return synthClipSpec(this.seed, index, this.frames, this.size, this.clutter, this.palette);
  }

  /** The clip's frames; `_seed` is ignored: synthetic clips take no augmentation. */
  async get(index: number, _seed = 0): Promise<ClipSample> {
    return this.getSync(index);
  }

  getSync(index: number): ClipSample {
    const s = this.spec(index);
    const frames = renderSynthClip(s.params);
    const ts = this.imageTeacherSize;
    const teacher =
      ts !== undefined && ts !== this.size
        ? {
            teacherFrames: resizeCropArray(
              frames,
              [this.frames, this.size, this.size, 3],
              { x: 0, y: 0, w: this.size, h: this.size },
              ts,
              ts,
            ),
            teacherShape: [1, this.frames, ts, ts, 3],
          }
        : {};
    return {
      ...teacher,
      frames,
      shape: [1, this.frames, this.size, this.size, 3],
      label: this.label === 'appearance' ? s.appearance : s.motion,
      labels: { appearance: s.appearance, motion: s.motion },
      index,
      requested: index,
      bad: [],
    };
  }
}

/** Options of writeSyntheticSet (`mvd synth`); defaults 16 frames of 112² at 25 fps, seed 0. */
export interface WriteSyntheticSetOptions {
  outDir: string;
  /** Number of clips. */
  videos: number;
  frames?: number;
  /** Square frame side in pixels (even, for yuv420p). Default 112. */
  size?: number;
  seed?: number;
  fps?: number;
  /** Fraction of clips listed in the *_val.txt files (default 0.2). */
  valFraction?: number;
  /** Encoder; default libx264 when available, else mpeg4. */
  codec?: string;
  /** Encoders running at once (default 2). */
  concurrency?: number;
  /** Called after each clip is written. */
  onProgress?: (done: number, total: number) => void;
}

/** What writeSyntheticSet wrote: clip count, the codec used, list files and the train/val split sizes. */
export interface WriteSyntheticSetResult {
  outDir: string;
  videos: number;
  codec: string;
  /** Written list files, relative to outDir. */
  lists: string[];
  train: number;
  val: number;
}

/**
 * Writes the synthetic set as mp4 files plus VideoMAE-format list files for both label sets
 * (appearance_{train,val}.txt, motion_{train,val}.txt; paths relative to outDir) and classes.json.
 * Backs `mvd synth --out DIR --videos N`.
 */
export async function writeSyntheticSet(opts: WriteSyntheticSetOptions): Promise<WriteSyntheticSetResult> {
  const frames = opts.frames ?? 16,
    size = opts.size ?? 112,
    seed = opts.seed ?? 0,
    fps = opts.fps ?? 25;
  if (size % 2) throw new ValueError(`writeSyntheticSet: size must be even for yuv420p video, got ${size}`);
  if (!Number.isInteger(opts.videos) || opts.videos <= 0)
    throw new ValueError(`writeSyntheticSet: videos must be a positive integer, got ${opts.videos}`);
  const ds = new SyntheticDataset({ seed, count: opts.videos, frames, size });
  const codec = opts.codec ?? (await pickEncoder());
  await mkdir(join(opts.outDir, 'videos'), { recursive: true });
  const name = (i: number) => `videos/clip_${String(i).padStart(6, '0')}.mp4`;

  let next = 0,
    done = 0;
  const worker = async () => {
    while (next < opts.videos) {
      const i = next++;
      const clip = ds.getSync(i);
      await encodeVideo(join(opts.outDir, name(i)), clip.frames, clip.shape.slice(1), { fps, codec });
      opts.onProgress?.(++done, opts.videos);
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, opts.concurrency ?? 2) }, worker));

  const all = Array.from({ length: opts.videos }, (_, i) => i);
  const { train, val } = splitTrainVal(all, { valFraction: opts.valFraction ?? 0.2, seed: deriveSeed(seed, 0x7a1) });
  const lists: string[] = [];
  for (const kind of ['appearance', 'motion'] as const)
    for (const [split, ids] of [
      ['train', train],
      ['val', val],
    ] as const) {
      const file = `${kind}_${split}.txt`;
      const lines = ids.map((i) => {
        const s = synthClipSpec(seed, i, frames, size);
        return `${name(i)} ${kind === 'appearance' ? s.appearance : s.motion}`;
      });
      await writeFile(join(opts.outDir, file), lines.join('\n') + (lines.length ? '\n' : ''));
      lists.push(file);
    }
  const meta = {
    appearance: APPEARANCE_CLASSES,
    motion: MOTION_CLASSES,
    videos: opts.videos,
    frames,
    size,
    fps,
    seed,
    codec,
    train: train.length,
    val: val.length,
    lists,
  };
  await writeFile(join(opts.outDir, 'classes.json'), `${JSON.stringify(meta, null, 2)}\n`);
  return { outDir: opts.outDir, videos: opts.videos, codec, lists, train: train.length, val: val.length };
}
