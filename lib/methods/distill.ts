// MVD distillation (SPEC §3): a tube-masked student regresses the frozen teachers' pre-norm
// features at the masked tokens, one decoder per teacher, losses summed with weights.
import { distillLoss } from '../ops/loss.js';
import type { MaskType } from '../data/masking.js';
import { gridOf, type Preset } from '../nn/config.js';
import {
  makeStudent,
  teacherPrecisionFor,
  type MvdStudent,
  type Teacher,
  type TeacherKind,
  type TeacherPrecisionChoice,
} from '../nn/mvd.js';
import type { WeightPrecision } from '../ops/gemm.js';
import { maskedBatch, type BatchSampler, type SkipReport } from './batch.js';
import type { Recipe } from './train.js';
import type { TeacherCache } from './teacher-cache.js';
import { gatherTokens } from '../ops/tokens.js';
import { type Tensor, tidy } from '../tensor.js';
import { applyLossScale } from './loss-scale.js';
import { ShapeError, ValueError } from '../errors.js';
import { readSafetensorsHeader } from '../io/safetensors.js';
import { describeCheckpoint } from '../nn/model-card.js';

export interface DistillOptions {
  student: Preset;
  frames: number;
  size: number;
  /** Spatial patch of the student (default: the preset's 16). */
  patch?: number;
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
   * their forward is most of a step, and packed weights spare every GEMM call its weight packing.
   * The packs replace the plain weights (one copy in memory). False keeps the plain fp32 weights.
   */
  packTeachers?: boolean;
  /**
   * The precision the packed teachers hold their weights in (default 'auto': bf16 where the CPU
   * has AVX512-BF16, else fp32; teacherPrecisionFor). bf16 with packTeachers false is an error.
   * The recipe's `teacherPrecision` says what was used.
   */
  teacherPrecision?: TeacherPrecisionChoice;
  /**
   * The image teacher's input size (SPEC §3.1: 196 for a ViT-H/14 teacher with a 224 student),
   * resized from the student's crop by the loader. Default: the image teacher's own configured
   * size (imageTeacherSizeOf reads it from a checkpoint). Its token grid must be the student's.
   */
  imageTeacherSize?: number;
}

/**
 * The input size an image-teacher checkpoint was made for: its model card's, else recognised
 * from the positional table of reference keys ([1, (1 +) (S/p)², D]); undefined when the file
 * does not say (sincos tables recomputed, no card).
 */
export async function imageTeacherSizeOf(path: string): Promise<number | undefined> {
  const h = await readSafetensorsHeader(path);
  const d = describeCheckpoint(h, path);
  if (!d.unresolved.includes('size')) return d.card.encoder.size;
  const { encoderPrefix: prefix, encoder } = d.card;
  const pos = h.tensors.get(`${prefix}pos_embed`)?.shape;
  if (pos?.length !== 3 || encoder.tubelet !== 1) return undefined;
  const side = Math.sqrt(pos[1] - (encoder.clsToken ? 1 : 0));
  if (!Number.isInteger(side))
    throw new ShapeError(
      `${path}: ${prefix}pos_embed has shape [${pos}], not a square grid of tokens${encoder.clsToken ? ' plus a cls token' : ''}`,
      { op: 'imageTeacherSizeOf' },
    );
  return side * encoder.patch;
}

/** The image-teacher size to use, checked against the teacher and the student's token grid. */
function imageTeacherSize(o: DistillOptions, grid: { h: number; w: number }): number | undefined {
  const img = o.teachers.img;
  if (!img) {
    if (o.imageTeacherSize !== undefined) throw new ValueError(`imageTeacherSize ${o.imageTeacherSize} given without an image teacher`);
    return undefined;
  }
  const c = img.encoder.config;
  const size = o.imageTeacherSize ?? c.size;
  if (!Number.isInteger(size) || size <= 0) throw new ValueError(`imageTeacherSize must be a positive integer, got ${size}`);
  if (size !== c.size)
    throw new ShapeError(
      `imageTeacherSize ${size} differs from the image teacher's configured input size ${c.size}: build the teacher at ${size}`,
      { op: 'distillRecipe' },
    );
  if (size % c.patch || size / c.patch !== grid.h)
    throw new ShapeError(
      `imageTeacherSize ${size} with the image teacher's patch ${c.patch} gives a ${size / c.patch}² token grid, the student's is ${grid.h}×${grid.w}`,
      { op: 'distillRecipe' },
    );
  return size;
}

/**
 * The precision distillRecipe runs `o`'s teachers in: teacherPrecisionFor on their device, fp32 when
 * they stay unpacked (and an error when bf16 was asked for without packing).
 */
export function distillTeacherPrecision(o: Pick<DistillOptions, 'teachers' | 'packTeachers' | 'teacherPrecision'>): WeightPrecision {
  const choice = o.teacherPrecision ?? 'auto';
  const first = Object.values(o.teachers).find((t) => t !== undefined);
  const device = first?.device ?? 'cpu';
  if (o.packTeachers === false) {
    if (choice === 'bf16')
      throw new ValueError('teacher precision bf16 needs packed teachers: packTeachers false keeps their plain fp32 weights');
    if (device.startsWith('cuda')) return teacherPrecisionFor(choice, device);
    return 'fp32';
  }
  return teacherPrecisionFor(choice, device);
}

/**
 * MVD distillation (SPEC §3): builds the student for the given teachers and returns its training
 * recipe (smooth-L1, 90% tube masking by default). Packs the teachers' weights unless packTeachers is
 * false; the recipe owns and closes `data` but not the teachers, which the caller disposes.
 */
export function distillRecipe(
  data: BatchSampler,
  o: DistillOptions,
): Recipe & SkipReport & { model: MvdStudent; teacherPrecision: WeightPrecision } {
  const dims: Partial<Record<TeacherKind, number>> = {};
  for (const [k, t] of Object.entries(o.teachers) as [TeacherKind, Teacher][]) dims[k] = t.dim;
  const model = makeStudent(o.student, dims, { frames: o.frames, size: o.size, patch: o.patch, dropPath: o.dropPath, seed: o.seed });
  const grid = gridOf(model.encoder.config);
  const teacherSize = imageTeacherSize(o, grid);
  // The loader resizes each crop a second time only when the sizes differ.
  data.setImageTeacherSize(teacherSize !== undefined && teacherSize !== o.size ? teacherSize : undefined);
  const teacherPrecision = distillTeacherPrecision(o);
  // Frozen from here on: each teacher weight is packed once instead of inside every GEMM call.
  if (o.packTeachers !== false) for (const t of Object.values(o.teachers)) t?.packWeights(teacherPrecision);
  return {
    name: 'mvd',
    model,
    teacherPrecision,
    async step(i, lossScale = 1) {
      using b = await maskedBatch(data, i, { type: o.maskType ?? 'tube', grid, ratio: o.maskRatio ?? 0.9, seed: o.seed });
      const { vis, msk } = b;
      // Teachers run on the full clip, frozen (SPEC §3.5).
      const targets = async (k: TeacherKind): Promise<Tensor | null> => {
        const input = k === 'img' ? (b.teacherVideo ?? b.video) : b.video;
        const cache = o.teacherCache?.[k];
        if (!cache) return o.teachers[k]?.targets(input, msk) ?? null;
        using full = await cache.features(input, b.indices);
        return gatherTokens(full, msk);
      };
      using tImg = await targets('img');
      using tVid = await targets('vid');
      using loss = tidy(() => {
        const preds = model.forward(b.video, vis, msk);
        const l = distillLoss(preds.img ?? null, tImg, preds.vid ?? null, tVid, {
          kind: o.loss ?? 'smoothl1',
          wImg: o.wImg ?? 1,
          wVid: o.wVid ?? 1,
        });
        applyLossScale(lossScale, l.dPredImg, l.dPredVid);
        model.backward({ img: l.dPredImg ?? undefined, vid: l.dPredVid ?? undefined });
        return l.loss;
      });
      const [total, img, vid] = await loss.toArray();
      return { loss: total, ...(o.teachers.img ? { img } : {}), ...(o.teachers.vid ? { vid } : {}) };
    },
    get skippedVideos() {
      return data.skippedVideos;
    },
    dispose: () => {
      model.dispose();
      void data.close();
    },
  };
}
