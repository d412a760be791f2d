// FLOPs of one MVD training step by stage, for the step bench's % of the FMA peak. Counts the
// multiply-adds of the GEMMs and attention products (2 FLOPs each); norms, GELU, softmax and the
// loss are left out (a few percent, memory-bound). Backward is counted as twice the forward (dX and
// dW), except the patch embedding, whose input needs no gradient.
import { blockMacs, encoderMacs, gridOf, imageVit, mvdDecoderFor, patchDim, videoVit, type Preset } from '../nn/config.js';
import { maskCounts } from '../data/masking.js';

/** FLOPs of one step's stages (the data and optimizer stages do no counted products). */
export interface StepFlops {
  teachers: number;
  student: number;
  total: number;
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
  // The image teacher sees every other frame as an image of its own.
  const images = o.batch * (o.frames / 2);
  const teachers = 2 * (o.batch * encoderMacs(vt) + images * encoderMacs(it));
  const s = videoVit(o.student, { frames: o.frames, size: o.size });
  const sg = gridOf(s);
  const { visible, masked } = maskCounts('tube', sg, o.maskRatio);
  const embed = 2 * o.batch * sg.tokens * patchDim(s) * s.dim;
  const encoder = 2 * s.depth * blockMacs(visible, s.dim, s.mlpRatio, o.batch);
  let decoders = 0;
  for (const targetDim of [it.dim, vt.dim]) {
    const d = mvdDecoderFor(o.student, targetDim);
    decoders +=
      2 * o.batch * visible * s.dim * d.dim +
      2 * d.depth * blockMacs(sg.tokens, d.dim, 4, o.batch) +
      2 * o.batch * masked * d.dim * targetDim;
  }
  const student = 2 * embed + 3 * (encoder + decoders);
  return { teachers, student, total: teachers + student };
}
