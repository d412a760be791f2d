// What a weights file holds, so that loading it never needs a guess. mvd writes a model card into
// every safetensors file it saves (metadata key `mvd.model`, JSON); files from the reference
// repositories have none, and are recognised from their key names and shapes instead (SPEC §5):
// VideoMAE pretraining (`encoder.*`) → 1D sinusoid table; an MVD student (`blocks.*`, 3-D patch
// kernel) → 3D sin-cos; an MAE image encoder (`cls_token`, 2-D kernel) → 2D table + cls. A
// fine-tuned classifier (`head.*`, `fc_norm.*`) is the one case the keys cannot settle: MVD and
// VideoMAE fine-tuned keys are identical but their tables differ, so the caller must say which.
import { ValueError } from '../errors.js';
import type { Module } from './module.js';
import { VisionTransformer } from './encoder.js';
import { PRESETS, videoVit, type VitConfig } from './config.js';
import type { SafetensorsHeader } from '../io/safetensors.js';

/**
 * A choice the caller made (or had to make) that does not fit the checkpoint: a value that
 * contradicts its model card or key names, or a positional table its keys cannot settle. The CLI
 * reports it as a usage error (exit 2).
 */
export class CheckpointChoiceError extends ValueError {}

/** The safetensors metadata key holding a file's model card (JSON). */
export const MODEL_CARD_KEY = 'mvd.model';
/** The card format this version writes and reads; another one is refused, not guessed. */
export const MODEL_CARD_FORMAT = 'mvd.model/1';

/** A positional table: 3D sin-cos (MVD), 1D sinusoid (VideoMAE), 2D sin-cos with cls row (MAE). */
export type PosEmbed = VitConfig['posEmbed'];
/** Every PosEmbed, for validating user input. */
export const POS_EMBEDS: readonly PosEmbed[] = ['sincos3d', 'sinusoid1d', 'sincos2d'];

/** Everything needed to rebuild the model a weights file holds, without flags. */
export interface ModelCard {
  format: typeof MODEL_CARD_FORMAT;
  /** 'encoder': a pretraining model or bare encoder; 'classifier': encoder + fc_norm + head. */
  kind: 'encoder' | 'classifier';
  /** The recipe that wrote it (mae, videomae, mam2, mvd, finetune), when known. */
  method?: string;
  /** Prefix of the encoder's keys in the file ('' or 'encoder.'). */
  encoderPrefix: string;
  encoder: VitConfig;
  /** Whether the file holds the encoder's final norm (`norm.*`); classifiers have fc_norm instead. */
  finalNorm: boolean;
  /** Per-channel input normalisation the model was trained with (0–1 pixel scale). */
  mean: number[];
  std: number[];
  numClasses?: number;
  classNames?: string[];
}

/** Where a card came from: the file's own metadata, or recognised from its key names. */
export interface DescribedCheckpoint {
  card: ModelCard;
  source: 'metadata' | 'keys';
  /** Fields the keys could not settle (only with source 'keys'): the caller must supply them. */
  unresolved: ('posEmbed' | 'frames' | 'size')[];
}

const IMAGENET = { mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225] };

/** The card of a model about to be saved: its (first) VisionTransformer and where its keys sit. */
export function modelCardOf(
  m: Module,
  extra: { method?: string; classNames?: string[]; mean?: number[]; std?: number[] } = {},
): ModelCard | null {
  const enc = m.modules().find((x): x is VisionTransformer => x instanceof VisionTransformer);
  if (!enc) return null;
  const names = m.namedParameters().map(([n]) => n);
  const kernel = names.find((n) => n.endsWith('patch_embed.proj.weight'));
  if (kernel === undefined) return null;
  const prefix = kernel.slice(0, -'patch_embed.proj.weight'.length);
  const head = names.includes('head.weight');
  return {
    format: MODEL_CARD_FORMAT,
    kind: head ? 'classifier' : 'encoder',
    ...(extra.method ? { method: extra.method } : {}),
    encoderPrefix: prefix,
    encoder: { ...enc.config },
    finalNorm: names.includes(`${prefix}norm.weight`),
    mean: extra.mean ?? IMAGENET.mean,
    std: extra.std ?? IMAGENET.std,
    ...(head ? { numClasses: numClassesOf(m) } : {}),
    ...(extra.classNames ? { classNames: extra.classNames } : {}),
  };
}

function numClassesOf(m: Module): number {
  const p = m.namedParameters().find(([n]) => n === 'head.bias');
  return p ? p[1].value.shape[0] : 0;
}

/** The safetensors metadata entry for a card. */
export function modelCardMetadata(card: ModelCard): Record<string, string> {
  return { [MODEL_CARD_KEY]: JSON.stringify(card) };
}

/** The card of a file from its header: its own metadata when present, else its key names. */
export function describeCheckpoint(h: SafetensorsHeader, path: string): DescribedCheckpoint {
  const raw = h.metadata[MODEL_CARD_KEY];
  if (raw !== undefined) return { card: parseCard(raw, path), source: 'metadata', unresolved: [] };
  return recogniseKeys(h, path);
}

function parseCard(raw: string, path: string): ModelCard {
  let c: ModelCard;
  try {
    c = JSON.parse(raw) as ModelCard;
  } catch (e) {
    throw new ValueError(`${path}: metadata '${MODEL_CARD_KEY}' is not JSON (${(e as Error).message})`);
  }
  const bad = (what: string) => new ValueError(`${path}: metadata '${MODEL_CARD_KEY}' ${what}`);
  if (!c || typeof c !== 'object' || c.format !== MODEL_CARD_FORMAT)
    throw bad(`has format ${JSON.stringify(c?.format)}, expected '${MODEL_CARD_FORMAT}'`);
  if (c.kind !== 'encoder' && c.kind !== 'classifier') throw bad(`has kind ${JSON.stringify(c.kind)}`);
  if (typeof c.encoderPrefix !== 'string' || typeof c.finalNorm !== 'boolean') throw bad('lacks encoderPrefix/finalNorm');
  const e = c.encoder as Partial<VitConfig> | undefined;
  const ints = ['dim', 'depth', 'heads', 'patch', 'tubelet', 'frames', 'size', 'inChans'] as const;
  if (!e || ints.some((k) => !Number.isInteger(e[k]) || (e[k] as number) <= 0))
    throw bad('has an encoder without positive integer dim/depth/heads/patch/tubelet/frames/size/inChans');
  if (!POS_EMBEDS.includes(e.posEmbed as PosEmbed))
    throw bad(`has posEmbed ${JSON.stringify(e.posEmbed)} (one of ${POS_EMBEDS.join(', ')})`);
  if (e.qkvBias !== 'qv' && e.qkvBias !== 'qkv') throw bad(`has qkvBias ${JSON.stringify(e.qkvBias)}`);
  for (const k of ['mean', 'std'] as const)
    if (!Array.isArray(c[k]) || c[k].length !== e.inChans || !c[k].every((x) => Number.isFinite(x) && (k === 'mean' || x > 0)))
      throw bad(`has ${k} ${JSON.stringify(c[k])}`);
  return c;
}

/** Heads are not in any shape; every preset's width has one head count (SPEC §2). */
function headsForWidth(dim: number, path: string): number {
  for (const p of PRESETS) {
    const c = videoVit(p);
    if (c.dim === dim) return c.heads;
  }
  throw new ValueError(
    `${path}: encoder width ${dim} is not a preset's (${PRESETS.map((p) => `${p} ${videoVit(p).dim}`).join(', ')}) and the file has no '${MODEL_CARD_KEY}' metadata to give its head count`,
  );
}

function recogniseKeys(h: SafetensorsHeader, path: string): DescribedCheckpoint {
  const keys = new Set(h.tensors.keys());
  const shapeOf = (k: string) => h.tensors.get(k)?.shape;
  const prefix = ['', 'encoder.', 'backbone.', 'module.'].find((p) => keys.has(`${p}patch_embed.proj.weight`));
  if (prefix === undefined)
    throw new ValueError(
      `${path}: not an encoder checkpoint: no patch_embed.proj.weight (with or without encoder./backbone./module.) and no '${MODEL_CARD_KEY}' metadata`,
    );
  const kernel = shapeOf(`${prefix}patch_embed.proj.weight`)!;
  if (kernel.length !== 5 && kernel.length !== 4)
    throw new ValueError(`${path}: patch_embed.proj.weight has shape [${kernel}], expected [D,C,t,p,p] or [D,C,p,p]`);
  const [dim, inChans] = kernel;
  const tubelet = kernel.length === 5 ? kernel[2] : 1;
  const patch = kernel[kernel.length - 1];
  let depth = 0;
  while (keys.has(`${prefix}blocks.${depth}.norm1.weight`)) depth++;
  if (depth === 0) throw new ValueError(`${path}: no ${prefix}blocks.0.norm1.weight: not a ViT encoder`);
  const fc1 = shapeOf(`${prefix}blocks.0.mlp.fc1.weight`);
  const mlpRatio = fc1 ? fc1[0] / dim : 4;
  const qkvBias = keys.has(`${prefix}blocks.0.attn.q_bias`) ? 'qv' : 'qkv';
  const clsToken = keys.has(`${prefix}cls_token`);
  const classifier = keys.has('head.weight');
  const unresolved: DescribedCheckpoint['unresolved'] = tubelet === 1 ? ['size'] : ['frames', 'size'];
  let posEmbed: PosEmbed;
  if (clsToken || tubelet === 1) posEmbed = 'sincos2d';
  else if (classifier) {
    posEmbed = 'sincos3d'; // placeholder: the caller must choose (unresolved)
    unresolved.unshift('posEmbed');
  } else posEmbed = prefix === 'encoder.' ? 'sinusoid1d' : 'sincos3d';
  const encoder: VitConfig = {
    dim,
    depth,
    heads: headsForWidth(dim, path),
    mlpRatio,
    patch,
    tubelet,
    // An image encoder's frames is 1 (videos reach it frame by frame, SPEC §3.5).
    frames: tubelet === 1 ? 1 : 16,
    size: 224,
    inChans,
    qkvBias,
    clsToken,
    posEmbed,
    eps: 1e-6,
  };
  const card: ModelCard = {
    format: MODEL_CARD_FORMAT,
    kind: classifier ? 'classifier' : 'encoder',
    encoderPrefix: prefix,
    encoder,
    finalNorm: keys.has(`${prefix}norm.weight`),
    mean: IMAGENET.mean,
    std: IMAGENET.std,
    ...(classifier ? { numClasses: shapeOf('head.weight')![0] } : {}),
  };
  return { card, source: 'keys', unresolved };
}

/** What a caller may choose where a checkpoint leaves it open (reference files: frames, size, table). */
export interface EncoderChoices {
  frames?: number;
  size?: number;
  posEmbed?: PosEmbed;
}

/**
 * The encoder configuration to build: the card's, with the caller's choices where the card left
 * them open. A choice that contradicts what the file says is a ValueError naming both values; an
 * open choice the caller did not make takes the reference default (16 frames at 224²), except the
 * positional table, whose absence is an error.
 */
export function resolveEncoder(d: DescribedCheckpoint, choices: EncoderChoices, path: string): VitConfig {
  const c = { ...d.card.encoder };
  const open = new Set(d.unresolved);
  for (const k of ['frames', 'size', 'posEmbed'] as const) {
    const given = choices[k];
    if (given === undefined) {
      if (open.has(k) && k === 'posEmbed')
        throw new CheckpointChoiceError(
          `${path}: a fine-tuned classifier's keys do not say which positional table it was trained with ` +
            `(MVD: sincos3d, VideoMAE: sinusoid1d); pass posEmbed (CLI: --pos)`,
        );
      continue;
    }
    if (k === 'posEmbed' && !POS_EMBEDS.includes(given as PosEmbed))
      throw new CheckpointChoiceError(`posEmbed '${given}' is not one of ${POS_EMBEDS.join(', ')}`);
    if (k !== 'posEmbed' && !(Number.isInteger(given) && (given as number) > 0))
      throw new CheckpointChoiceError(`${k} must be a positive integer (got ${given})`);
    if (!open.has(k) && given !== c[k])
      throw new CheckpointChoiceError(
        `${path}: ${k} ${given} contradicts the checkpoint, which says ${c[k]} (${d.source === 'metadata' ? 'its model card' : 'its key names'}); leave it out to use the checkpoint's`,
      );
    (c as Record<string, unknown>)[k] = given;
  }
  return c;
}
