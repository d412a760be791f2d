// Model presets and the exact parameter / multiply-accumulate counts of SPEC §2 and §3.4.
import { ValueError } from '../errors.js';

/** Encoder size name: 'tiny' is a test/demo size; the rest are the ViT-S/B/L/H widths and depths. */
export type Preset = 'tiny' | 'small' | 'base' | 'large' | 'huge';

/** Everything that fixes a ViT encoder's shapes and layout; build one with videoVit or imageVit. */
export interface VitConfig {
  dim: number;
  depth: number;
  heads: number;
  mlpRatio: number;
  /** Spatial patch size (16; 14 for the MAE ViT-H image teacher). */
  patch: number;
  /** Frames per token: 2 for video models, 1 for image models. */
  tubelet: number;
  frames: number;
  size: number;
  inChans: number;
  /** 'qv': VideoMAE/MVD q_bias + v_bias (no k bias); 'qkv': MAE/timm full qkv bias. */
  qkvBias: 'qv' | 'qkv';
  clsToken: boolean;
  /** Positional table: 3D sin-cos (MVD), 1D interleaved (VideoMAE), 2D with cls row (MAE). */
  posEmbed: 'sincos3d' | 'sinusoid1d' | 'sincos2d';
  eps: number;
}

const SIZES: Record<Preset, { dim: number; depth: number; heads: number }> = {
  // tiny: for tests and the laptop demo (head dim 64 like the real models).
  tiny: { dim: 128, depth: 4, heads: 2 },
  small: { dim: 384, depth: 12, heads: 6 },
  base: { dim: 768, depth: 12, heads: 12 },
  large: { dim: 1024, depth: 24, heads: 16 },
  huge: { dim: 1280, depth: 32, heads: 16 },
};

/** Every Preset name, in size order (for validation messages and CLI choices). */
export const PRESETS = Object.keys(SIZES) as Preset[];

/** Narrows a user-supplied string (CLI flag, model card) to a Preset. */
export function isPreset(s: string): s is Preset {
  return s in SIZES;
}

/** A video encoder (student, VideoMAE teacher, fine-tuning backbone) at 16×224² by default. */
export function videoVit(preset: Preset, over: Partial<VitConfig> = {}): VitConfig {
  if (!isPreset(preset)) throw new ValueError(`unknown model preset '${preset}' (one of ${PRESETS.join(', ')})`);
  return {
    ...SIZES[preset],
    mlpRatio: 4,
    patch: 16,
    tubelet: 2,
    frames: 16,
    size: 224,
    inChans: 3,
    qkvBias: 'qv',
    clsToken: false,
    posEmbed: 'sincos3d',
    eps: 1e-6,
    ...over,
  };
}

/** An MAE image encoder (image teacher): cls token, full qkv bias, 2D table, one frame. */
export function imageVit(preset: Preset, over: Partial<VitConfig> = {}): VitConfig {
  return videoVit(preset, {
    tubelet: 1,
    frames: 1,
    qkvBias: 'qkv',
    clsToken: true,
    posEmbed: 'sincos2d',
    patch: preset === 'huge' ? 14 : 16,
    ...over,
  });
}

/**
 * Token grid of an encoder input: t = frames/tubelet, h = w = size/patch, tokens = t·h·w.
 * Throws a ValueError unless every division is exact.
 */
export function gridOf(c: VitConfig): { t: number; h: number; w: number; tokens: number } {
  const t = c.frames / c.tubelet,
    h = c.size / c.patch,
    w = c.size / c.patch;
  if (![t, h, w].every(Number.isInteger))
    throw new ValueError(`frames ${c.frames} / tubelet ${c.tubelet} and size ${c.size} / patch ${c.patch} must divide exactly`);
  return { t, h, w, tokens: t * h * w };
}

/** Length of one flattened patch (the patch embedding's input width): inChans·tubelet·patch². */
export const patchDim = (c: VitConfig) => c.inChans * c.tubelet * c.patch * c.patch;

/** Parameters of one pre-norm block of width d. */
export function blockParams(d: number, mlpRatio: number, qkvBias: 'qv' | 'qkv'): number {
  const hidden = d * mlpRatio;
  return (
    2 * d /* norm1 */ +
    3 * d * d +
    (qkvBias === 'qv' ? 2 * d : 3 * d) +
    d * d +
    d /* proj */ +
    2 * d /* norm2 */ +
    d * hidden +
    hidden +
    hidden * d +
    d
  );
}

/** Exact parameter counts of an encoder at three scopes (SPEC §2); see encoderParams. */
export interface ParamCount {
  /** Patch embedding + blocks: the backbone SPEC §2's "encoder" column counts. */
  backbone: number;
  /** + final norm (pretraining encoders and teachers). */
  withNorm: number;
  /** + fc_norm + classification head (fine-tuning model). */
  withHead: number;
}

/**
 * Exact parameter counts of an encoder (cls token included when present; fixed positional tables are
 * not parameters). numClasses only affects withHead; 400 is Kinetics-400.
 */
export function encoderParams(c: VitConfig, numClasses = 400): ParamCount {
  const backbone = c.dim * patchDim(c) + c.dim + c.depth * blockParams(c.dim, c.mlpRatio, c.qkvBias) + (c.clsToken ? c.dim : 0);
  return { backbone, withNorm: backbone + 2 * c.dim, withHead: backbone + 2 * c.dim + c.dim * numClasses + numClasses };
}

/**
 * Multiply-accumulates of one transformer block's forward over `seqs` sequences of `n` tokens of
 * width `d`: qkv, proj and the MLP (4 + 2·mlpRatio products of d² per token), and attention's QKᵀ
 * and PV (2·n²·d per sequence).
 */
export function blockMacs(n: number, d: number, mlpRatio = 4, seqs = 1): number {
  return seqs * (n * d * d * (4 + 2 * mlpRatio) + 2 * n * n * d);
}

/** Multiply-accumulates of one forward pass over all tokens (fvcore convention, SPEC §2). */
export function encoderMacs(c: VitConfig): number {
  const n = gridOf(c).tokens + (c.clsToken ? 1 : 0);
  return c.depth * blockMacs(n, c.dim, c.mlpRatio) + gridOf(c).tokens * patchDim(c) * c.dim;
}

/** Shape of one MVD feature decoder (SPEC §3.4); its blocks reuse the student's mlpRatio and 'qv' bias. */
export interface MvdDecoderConfig {
  dim: number;
  depth: number;
  heads: number;
  /** Output width: the teacher's feature width. */
  targetDim: number;
}

/** SPEC §3.4: student + both decoders, trainable only (frozen tables excluded). */
export function mvdStudentParams(student: VitConfig, dec: MvdDecoderConfig, teachers: ('img' | 'vid')[] = ['img', 'vid']): number {
  const enc = encoderParams(student).withNorm;
  const one =
    student.dim * dec.dim +
    dec.dim /* down */ +
    dec.dim /* mask token */ +
    dec.depth * blockParams(dec.dim, student.mlpRatio, 'qv') +
    2 * dec.dim +
    dec.dim * dec.targetDim +
    dec.targetDim;
  return enc + teachers.length * one;
}

/** SPEC §3.4 decoder configurations for a student preset and teacher width. */
export function mvdDecoderFor(student: Preset, teacherDim: number): MvdDecoderConfig {
  const table: Record<Preset, { dim: number; depth: number; heads: number }> = {
    tiny: { dim: 128, depth: 1, heads: 2 },
    small: { dim: 384, depth: 2, heads: 6 },
    base: { dim: 768, depth: 2, heads: 12 },
    large: { dim: 512, depth: 4, heads: 8 },
    huge: { dim: 640, depth: 8, heads: 8 },
  };
  return { ...table[student], targetDim: teacherDim };
}

/** SPEC §7: VideoMAE decoder per encoder size. */
export function videomaeDecoderFor(preset: Preset): { dim: number; depth: number; heads: number } {
  const table: Record<Preset, { dim: number; depth: number; heads: number }> = {
    tiny: { dim: 64, depth: 1, heads: 1 },
    small: { dim: 192, depth: 4, heads: 3 },
    base: { dim: 384, depth: 4, heads: 6 },
    large: { dim: 512, depth: 12, heads: 8 },
    huge: { dim: 640, depth: 12, heads: 8 },
  };
  return table[preset];
}
