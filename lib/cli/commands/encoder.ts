// Loading a plain video encoder (student, VideoMAE or fine-tuned weights) for extract and probe.
import { videoVit, type Preset } from '../../nn/config.js';
import { VisionTransformer } from '../../nn/encoder.js';
import { loadWeights } from '../../io/checkpoint.js';
import { UsageError } from '../command.js';

/** An encoder of the given preset with weights loaded (student, VideoMAE or fine-tuned checkpoints). */
export async function loadEncoder(path: string, model: Preset, frames: number, size: number, pos: 'sincos3d' | 'sinusoid1d'): Promise<VisionTransformer> {
  const enc = new VisionTransformer(videoVit(model, { frames, size, posEmbed: pos }), { finalNorm: true });
  const rep = await loadWeights(path, enc, { mayStayFresh: ['norm.'] });
  const missing = rep.missing.filter((n) => !n.startsWith('norm.'));
  if (missing.length) throw new UsageError(`${path}: ${missing.length} encoder weights missing (${missing.slice(0, 4).join(', ')}…) for model ${model}`);
  return enc;
}

