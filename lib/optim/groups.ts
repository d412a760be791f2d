// Parameter groups (SPEC §3.7, §4.3): weight decay by name and rank, and layer-wise lr decay.
import type { Parameter } from '../nn/module.js';

/** Parameters sharing one weight decay and lr scale; AdamW steps each group with its own settings. */
export interface ParamGroup {
  name: string;
  params: [string, Parameter][];
  weightDecay: number;
  /** Multiplies the scheduled lr (layer-wise decay); 1 without it. */
  lrScale: number;
}

/** Names that never get weight decay besides 1-D tensors and biases (matched exactly, SPEC §3.7). */
export const NO_DECAY_NAMES = ['pos_embed', 'cls_token', 'mask_token'];

/**
 * True when a parameter is excluded from weight decay: rank 1, a name ending in `.bias`, or one of
 * the exact names above. The MVD decoders' `mask_token_img`/`mask_token_vid` are 3-D and match no
 * name exactly, so they *are* decayed — the reference code's quirk, kept on purpose.
 */
export function skipsDecay(name: string, p: Parameter, extra: string[] = []): boolean {
  return p.value.ndim === 1 || name.endsWith('.bias') || NO_DECAY_NAMES.includes(name) || extra.includes(name);
}

/** Layer id for layer-wise lr decay (SPEC §4.3): 0 embeddings, k+1 for blocks.k, depth+1 the rest. */
export function layerId(name: string, depth: number): number {
  if (['cls_token', 'mask_token', 'pos_embed'].includes(name) || name.startsWith('patch_embed')) return 0;
  const m = /^blocks\.(\d+)\./.exec(name);
  if (m) return Number(m[1]) + 1;
  return depth + 1;
}

/** How buildParamGroups splits parameters: decay value, optional layer-wise lr decay, extra exclusions. */
export interface GroupOptions {
  weightDecay: number;
  /** Layer-wise lr decay factor (fine-tuning); omit for none. */
  layerDecay?: number;
  /** Encoder depth, needed with layerDecay. */
  depth?: number;
  extraNoDecay?: string[];
}

/**
 * Splits trainable parameters into decay / no_decay groups (SPEC §3.7), per layer when layerDecay is
 * set (scale layerDecay^(depth+1−layer), SPEC §4.3). Frozen parameters are left out.
 */
export function buildParamGroups(named: [string, Parameter][], opts: GroupOptions): ParamGroup[] {
  const groups = new Map<string, ParamGroup>();
  for (const [name, p] of named) {
    if (!p.trainable) continue;
    const noDecay = skipsDecay(name, p, opts.extraNoDecay);
    const layer = opts.layerDecay !== undefined ? layerId(name, opts.depth ?? 0) : -1;
    const lrScale = opts.layerDecay !== undefined ? opts.layerDecay ** ((opts.depth ?? 0) + 1 - layer) : 1;
    const key = `${layer >= 0 ? `layer_${layer}_` : ''}${noDecay ? 'no_decay' : 'decay'}`;
    let g = groups.get(key);
    if (!g) groups.set(key, (g = { name: key, params: [], weightDecay: noDecay ? 0 : opts.weightDecay, lrScale }));
    g.params.push([name, p]);
  }
  return [...groups.values()];
}
