// `mvd extract`: encoder features of one clip (a tensor file or a video) to safetensors.
import { Tensor } from '../../tensor.js';
import type { Preset } from '../../nn/config.js';
import { loadSafetensors, saveSafetensors } from '../../io/safetensors.js';
import { meanTokens } from '../../nn/classifier.js';
import { UsageError, type FlagCommand } from '../command.js';
import { framesFlag, JSON_FLAG, modelFlag, POS, sizeFlag } from './common.js';
import { loadEncoder } from './encoder.js';
import { decodeClip } from './video-clip.js';

async function readClip(path: string): Promise<Tensor> {
  const { tensors } = await loadSafetensors(path);
  const t = tensors.get('clip') ?? (tensors.size === 1 ? [...tensors.values()][0] : undefined);
  if (!t) throw new UsageError(`--input ${path}: expected a tensor named "clip" (or exactly one tensor), found ${[...tensors.keys()].join(', ') || 'none'}`);
  if (t.ndim !== 4 || t.shape[0] !== 3 || t.dtype !== 'f32') throw new UsageError(`--input ${path}: the clip must be float32 [3,T,H,W], got ${t.dtype} [${t.shape}]`);
  return t.reshape([1, ...t.shape]);
}

export const extractCommand: FlagCommand = {
  name: 'extract',
  summary: 'encoder features of one clip (from a tensor file or a video) to safetensors',
  usage: 'mvd extract --checkpoint W.safetensors --model base (--input clip.safetensors | --video file.mp4) --out feats.safetensors [--layer prenorm|norm]',
  flags: {
    checkpoint: { type: 'in-file', what: 'checkpoint', required: true, help: 'weights (MVD student, VideoMAE or fine-tuned; reference key names)' },
    model: modelFlag(),
    input: { type: 'in-file', what: 'clip file', help: 'float32 [3,T,H,W] already normalised, key "clip" (or the only tensor)' },
    video: { type: 'in-file', what: 'video', help: 'a video file: T frames at stride 4 from the middle, short side to size, centre crop, ImageNet normalisation' },
    out: { type: 'out-file', required: true, help: 'output safetensors (keys "features" [N,D] and "pooled" [D])' },
    layer: { type: 'word', words: ['prenorm', 'norm'], help: 'prenorm (last block) or norm (after the final norm)', default: 'norm' },
    frames: framesFlag(undefined, '16, with --video'),
    size: sizeFlag(undefined, '224, with --video'),
    pos: POS,
    json: JSON_FLAG,
  },
  check(f) {
    if (f.given('input') === f.given('video')) throw new UsageError('give exactly one of --input CLIP.safetensors or --video FILE');
    for (const k of ['frames', 'size']) if (f.given(k) && f.given('input')) throw new UsageError(`--${k} applies to --video only: --input's clip has its own shape`);
  },
  async run(f) {
    const ck = f.str('checkpoint'), out = f.str('out'), model = f.word<Preset>('model'), layer = f.word('layer');
    const clip = f.given('input') ? await readClip(f.str('input')) : await decodeClip(f.str('video'), f.optNum('frames') ?? 16, f.optNum('size') ?? 224);
    const [, , T, H] = clip.shape;
    using enc = await loadEncoder(ck, model, T, H, f.word('pos'));
    enc.eval();
    const e = enc.forward(clip);
    const feats = layer === 'prenorm' ? e.prenorm : e.out!;
    using pooled = meanTokens(feats);
    using f2 = feats.reshape(feats.shape.slice(1));
    using p1 = pooled.reshape([pooled.shape[1]]);
    await saveSafetensors(out, { features: f2, pooled: p1 }, { model, layer, checkpoint: ck });
    for (const t of [e.prenorm, e.out, clip]) t?.dispose();
    console.log(f.bool('json') ? JSON.stringify({ out, tokens: f2.shape[0], dim: f2.shape[1] }) : `wrote ${out}: features [${f2.shape}] and pooled [${p1.shape}]`);
    return 0;
  },
};
