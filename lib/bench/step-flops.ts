// FLOPs of one MVD training step by stage, for the step bench's % of the FMA peak. Counts the
// multiply-adds of the GEMMs and attention products (2 FLOPs each); norms, GELU, softmax and the
// loss are left out (a few percent, memory-bound). Backward is counted as twice the forward (dX and
// dW), except the patch embedding, whose input needs no gradient.
import { gridOf, imageVit, mvdDecoderFor, patchDim, videoVit, type Preset, type VitConfig } from '../nn/config.js';
import { maskCounts } from '../data/masking.js';

/** FLOPs of one step's stages (the data and optimizer stages do no counted products). */
export interface StepFlops {
  teachers: number;
  student: number;
  total: number;
}

/** One pre-norm transformer block over `seqs` sequences of `tokens` tokens of width `dim`. */
function blockFlops(seqs: number, tokens: number, dim: number, mlpRatio: number): number {
  const linear = 2 * seqs * tokens * dim * (3 * dim + dim + 2 * mlpRatio * dim);
  const attention = 2 * 2 * seqs * tokens * tokens * dim;
  return linear + attention;
}

/** A ViT's forward over `seqs` inputs of `tokens` tokens (patch embedding over `patches` of them). */
function vitForwardFlops(c: VitConfig, seqs: number, tokens: number, patches: number): number {
  return 2 * seqs * patches * patchDim(c) * c.dim + c.depth * blockFlops(seqs, tokens, c.dim, c.mlpRatio);
}

/**
 * The FLOPs of benchStep's step: both teachers' forwards on `batch` clips (the image teacher on
 * every other frame, with its cls token), and the student's forward and backward on the visible
 * tokens with one decoder per teacher over every token.
 */
export function mvdStepFlops(o: {
  student: Preset;
  teacher: Preset;
  frames: number;
  size: number;
  batch: number;
  maskRatio: number;
}): StepFlops {
  const vt = videoVit(o.teacher, { frames: o.frames, size: o.size });
  const it = imageVit(o.teacher, { size: o.size });
  const g = gridOf(vt);
  const images = o.batch * (o.frames / 2);
  const imgTokens = (o.size / it.patch) ** 2;
  const teachers = vitForwardFlops(vt, o.batch, g.tokens, g.tokens) + vitForwardFlops(it, images, imgTokens + 1, imgTokens);
  const s = videoVit(o.student, { frames: o.frames, size: o.size });
  const sg = gridOf(s);
  const { visible, masked } = maskCounts('tube', sg, o.maskRatio);
  const embed = 2 * o.batch * sg.tokens * patchDim(s) * s.dim;
  const encoder = s.depth * blockFlops(o.batch, visible, s.dim, s.mlpRatio);
  let decoders = 0;
  for (const targetDim of [it.dim, vt.dim]) {
    const d = mvdDecoderFor(o.student, targetDim);
    decoders +=
      2 * o.batch * visible * s.dim * d.dim + d.depth * blockFlops(o.batch, sg.tokens, d.dim, 4) + 2 * o.batch * masked * d.dim * targetDim;
  }
  const student = 2 * embed + 3 * (encoder + decoders);
  return { teachers, student, total: teachers + student };
}
