// MVD distillation (SPEC §3): a tube-masked student regresses the frozen teachers' pre-norm
// features at the masked tokens, one decoder per teacher, losses summed with weights.
import { distillLoss } from '../ops/loss.js';
import type { MaskType } from '../data/masking.js';
import { gridOf, videoVit, type Preset } from '../nn/config.js';
import { makeStudent, type MvdStudent, type Teacher, type TeacherKind } from '../nn/mvd.js';
import { maskedBatch, type BatchSampler, type SkipReport } from './batch.js';
import type { Recipe } from './train.js';
import type { TeacherCache } from './teacher-cache.js';
import { gatherTokens } from '../ops/tokens.js';
import type { Tensor } from '../tensor.js';
import { applyLossScale } from './pretrain.js';

export interface DistillOptions {
  student: Preset;
  frames: number;
  size: number;
  teachers: Partial<Record<TeacherKind, Teacher>>;
  loss?: 'smoothl1' | 'l2' | 'l1';
  wImg?: number;
  wVid?: number;
  maskType?: MaskType;
  maskRatio?: number;
  dropPath?: number;
  seed: number;
  /** Stored teacher features per kind (an approximation: fixed views; lib/methods/teacher-cache.ts). */
  teacherCache?: Partial<Record<TeacherKind, TeacherCache>>;
  /**
   * Pack the frozen teachers' weights once for the CPU GEMM (Teacher.packWeights; default true):
   * their forward is most of a step, and packed weights spare every GEMM call its weight packing,
   * at the cost of a second copy of each teacher's weights in memory.
   */
  packTeachers?: boolean;
}

export function distillRecipe(data: BatchSampler, o: DistillOptions): Recipe & SkipReport & { model: MvdStudent } {
  const dims: Partial<Record<TeacherKind, number>> = {};
  for (const [k, t] of Object.entries(o.teachers) as [TeacherKind, Teacher][]) dims[k] = t.dim;
  const model = makeStudent(o.student, dims, { frames: o.frames, size: o.size, dropPath: o.dropPath, seed: o.seed });
  const grid = gridOf(videoVit(o.student, { frames: o.frames, size: o.size }));
  // Frozen from here on: each teacher weight is packed once instead of inside every GEMM call.
  if (o.packTeachers !== false) for (const t of Object.values(o.teachers)) t?.packWeights();
  return {
    name: 'mvd',
    model,
    async step(i, lossScale = 1) {
      using b = await maskedBatch(data, i, { type: o.maskType ?? 'tube', grid, ratio: o.maskRatio ?? 0.9, seed: o.seed });
      const { vis, msk } = b;
      // Teachers run on the full clip, frozen (SPEC §3.5).
      const targets = async (k: TeacherKind): Promise<Tensor | null> => {
        const cache = o.teacherCache?.[k];
        if (!cache) return o.teachers[k]?.targets(b.video, msk) ?? null;
        using full = await cache.features(b.video, b.indices);
        return gatherTokens(full, msk);
      };
      const tImg = await targets('img');
      const tVid = await targets('vid');
      const preds = model.forward(b.video, vis, msk);
      const l = distillLoss(preds.img ?? null, tImg, preds.vid ?? null, tVid, { kind: o.loss ?? 'smoothl1', wImg: o.wImg ?? 1, wVid: o.wVid ?? 1 });
      applyLossScale(lossScale, l.dPredImg, l.dPredVid);
      model.backward({ img: l.dPredImg ?? undefined, vid: l.dPredVid ?? undefined });
      for (const t of [tImg, tVid, preds.img, preds.vid, l.dPredImg, l.dPredVid]) t?.dispose();
      const [total, img, vid] = await l.loss.toArray();
      l.loss.dispose();
      return { loss: total, ...(o.teachers.img ? { img } : {}), ...(o.teachers.vid ? { vid } : {}) };
    },
    get skippedVideos() {
      return data.skippedVideos;
    },
    dispose: () => model.dispose(),
  };
}
