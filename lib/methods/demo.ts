// The demo: the paper's teacher study at laptop scale on the built-in synthetic set (no files, no
// ffmpeg). Pretrain a tiny image teacher (MAE on frames) and a tiny video teacher (VideoMAE),
// distill three tiny students (image teacher, video teacher, both), then linear-probe each on the
// appearance task (readable from one frame) and the motion task (needs several frames).
// Beside the students the table has the controls that say whether it measures anything: random
// init (the floor), the video teacher itself, and a supervised ceiling per task (the same encoder
// trained on that task's labels for as many steps as a student). If the ceiling is at chance, the
// task is not learnable at this budget and the student rows are noise (docs/DEMO.md).
import { SyntheticDataset, APPEARANCE_CLASSES, MOTION_CLASSES, type SynthPalette } from '../data/synthetic.js';
import { imageVit, videoVit, type Preset } from '../nn/config.js';
import { Teacher, type TeacherKind } from '../nn/mvd.js';
import { VisionTransformer } from '../nn/encoder.js';
import { VideoClassifier } from '../nn/classifier.js';
import { crossEntropy } from '../ops/xent.js';
import { Tensor } from '../tensor.js';
import { loadStateDict, stateDict } from '../io/checkpoint.js';
import { ValueError } from '../errors.js';
import { BatchSampler, stackClips } from './batch.js';
import { maeRecipe, videomaeRecipe } from './pretrain.js';
import { distillRecipe } from './distill.js';
import { train, tailMean, type Recipe, type StepRecord } from './train.js';
import { extractFeatures, linearProbe } from './probe.js';
import { frameSimilarity, meanOffDiagonal } from '../plot/figures.js';
import type { ClipSource } from '../data/types.js';

/** Teachers' pixel targets (DemoOptions.teacherTargets). */
export const TEACHER_TARGETS = ['normalized', 'raw'] as const;
export type TeacherTargets = (typeof TEACHER_TARGETS)[number];

export interface DemoOptions {
  seed: number;
  frames: number;
  size: number;
  trainClips: number;
  valClips: number;
  batch: number;
  teacherSteps: number;
  studentSteps: number;
  probeSteps: number;
  /** Probe weight decays; chosen per probe on a held-out 20% of the TRAIN clips. */
  probeWeightDecays: number[];
  /** Also train the supervised ceiling rows (one encoder per task, labels, studentSteps steps). */
  supervised: boolean;
  maskRatio: number;
  preset: Preset;
  /** Distractors per clip (task difficulty). */
  clutter: { min: number; max: number };
  /** Object colours of the synthetic set (SynthPalette). */
  palette: SynthPalette;
  /**
   * Teachers' pixel targets: per-patch normalised (the papers' recipe) or raw pixels. Normalising
   * removes each patch's mean colour, which is what says where the object is.
   */
  teacherTargets: TeacherTargets;
  onProgress?: (stage: string, rec?: StepRecord) => void;
}

export const DEMO_DEFAULTS: Omit<DemoOptions, 'seed'> = {
  frames: 8, size: 64, trainClips: 512, valClips: 256, batch: 16,
  teacherSteps: 120, studentSteps: 120, probeSteps: 300, probeWeightDecays: [1e-4, 1e-2, 1e-1, 1], supervised: true, maskRatio: 0.75, preset: 'tiny', clutter: { min: 8, max: 16 }, palette: 'random', teacherTargets: 'normalized',
};

export interface DemoRow {
  student: string;
  /** Probe top-1 on the validation clips. */
  appearance: number;
  motion: number;
  /** Probe top-1 on its own training features (a probe far above val is fitting clip identity). */
  appearanceTrain: number;
  motionTrain: number;
  distillLoss: number | null;
  /**
   * Mean cosine similarity between the pooled features of different temporal slots of a clip,
   * over the first val clips (the paper's Figure 3 statistic: lower = more temporal difference).
   */
  frameSimilarity: number;
  /** 'control' rows (random init, teacher, supervised) are not students. */
  kind: 'student' | 'control';
}

export interface DemoResult {
  seed: number;
  rows: DemoRow[];
  teacherLoss: { image: number; video: number };
  /** The teachers' own cross-frame similarity (Figure 3: the video teacher's should be lower). */
  teacherFrameSimilarity: { image: number; video: number };
  /** Half-width of the 95% band of a chance-level probe on valClips clips (binomial, p = 1/4). */
  chanceBand: number;
  seconds: number;
}

/** Clips of the val set used for the cross-frame similarity. */
const SIMILARITY_CLIPS = 32;

/**
 * Mean off-diagonal slot similarity of `features` (pre-norm, [B, slots·P, D]) over the first
 * clips of `source`: one forward for all of them, then frameSimilarity clip by clip.
 */
async function meanFrameSimilarity(features: (video: Tensor) => Tensor, slots: number, source: ClipSource, clips = SIMILARITY_CLIPS): Promise<number> {
  const n = Math.min(clips, source.length);
  const b = stackClips(await Promise.all(Array.from({ length: n }, (_, i) => source.get(i, 0))));
  using f = features(b.video);
  b.video.dispose();
  let sum = 0;
  for (let i = 0; i < n; i++) {
    using one = f.slice(i, i + 1);
    sum += meanOffDiagonal(await frameSimilarity(one, slots));
  }
  return sum / n;
}

/** A teacher built from a pretrained encoder's weights (pre-norm features, frozen). */
function teacherFrom(kind: TeacherKind, weights: ReturnType<typeof stateDict>, o: DemoOptions): Teacher {
  const cfg = kind === 'img' ? imageVit(o.preset, { size: o.size }) : videoVit(o.preset, { frames: o.frames, size: o.size, posEmbed: 'sinusoid1d' });
  const enc = new VisionTransformer(cfg, { finalNorm: true, frameStride: kind === 'img' ? 2 : undefined, seed: o.seed });
  loadStateDict(enc, weights);
  return new Teacher(kind, enc);
}

/** A classifier trained on one label set with the same batches and schedule as a student. */
function supervisedRecipe(data: BatchSampler, task: 'appearance' | 'motion', o: DemoOptions): Recipe & { model: VideoClassifier } {
  const model = new VideoClassifier(videoVit(o.preset, { frames: o.frames, size: o.size }), { numClasses: 4, seed: o.seed + 4, initScale: 1 });
  return {
    name: `supervised-${task}`,
    model,
    async step(i, lossScale = 1) {
      const b = await data.batch(i);
      using logits = model.forward(b.video);
      using y = Tensor.fromArray(b.labelSets[task], [b.labelSets[task].length]);
      const r = crossEntropy(logits, y);
      if (lossScale !== 1) throw new Error('supervised demo row: loss scaling is not used');
      model.backward(r.dLogits);
      const loss = await r.loss.item();
      for (const t of [r.loss, r.dLogits, b.video]) t.dispose();
      return { loss };
    },
    dispose: () => model.dispose(),
  };
}

export async function runDemo(opts: Partial<DemoOptions> & { seed: number }): Promise<DemoResult> {
  const o: DemoOptions = { ...DEMO_DEFAULTS, ...opts };
  const t0 = performance.now();
  const trainSet = new SyntheticDataset({ seed: o.seed, count: o.trainClips, frames: o.frames, size: o.size, clutter: o.clutter, palette: o.palette });
  const valSet = new SyntheticDataset({ seed: o.seed + 100000, count: o.valClips, frames: o.frames, size: o.size, clutter: o.clutter, palette: o.palette });
  const data = new BatchSampler(trainSet, o.batch, o.seed);
  const sched = (steps: number) => ({ steps, lr: 1.5e-3, minLr: 1e-4, warmupSteps: Math.max(1, Math.round(steps / 10)), weightDecay: 0.05 });
  const progress = (stage: string) => (rec: StepRecord) => o.onProgress?.(stage, rec);

  // Stage 1: teachers.
  if (!TEACHER_TARGETS.includes(o.teacherTargets)) throw new ValueError(`runDemo: teacherTargets must be ${TEACHER_TARGETS.join(' or ')}, got '${o.teacherTargets}'`);
  const norm = o.teacherTargets === 'normalized';
  const mae = maeRecipe(data, { preset: o.preset, size: o.size, maskRatio: 0.75, seed: o.seed + 1, normPix: norm });
  const maeRun = await train(mae, { ...sched(o.teacherSteps), onStep: progress('image teacher (MAE)') });
  const vmae = videomaeRecipe(data, { preset: o.preset, frames: o.frames, size: o.size, maskRatio: o.maskRatio, seed: o.seed + 2, normTarget: norm });
  const vmaeRun = await train(vmae, { ...sched(o.teacherSteps), onStep: progress('video teacher (VideoMAE)') });
  const teachers = { img: teacherFrom('img', stateDict(mae.model), o), vid: teacherFrom('vid', stateDict(vmae.model), o) };
  mae.dispose();
  vmae.dispose();

  // Stage 2: students, and the probes on both tasks.
  const trainApp = trainSet;
  const rows: DemoRow[] = [];
  const variants: [string, Partial<Record<TeacherKind, Teacher>> | null][] = [
    ['random init (no pretraining)', null],
    ['image teacher', { img: teachers.img }],
    ['video teacher', { vid: teachers.vid }],
    ['both (co-teaching)', teachers],
  ];
  const probeBoth = async (name: string, encoder: VisionTransformer, kind: DemoRow['kind'], loss: number | null) => {
    o.onProgress?.(`probe: ${name}`);
    const tr = await extractFeatures(encoder, trainApp);
    const va = await extractFeatures(encoder, valSet);
    const po = { steps: o.probeSteps, seed: o.seed, weightDecay: o.probeWeightDecays };
    const app = await linearProbe({ x: tr.features, y: tr.labelSets.appearance }, { x: va.features, y: va.labelSets.appearance }, APPEARANCE_CLASSES.length, po);
    const mot = await linearProbe({ x: tr.features, y: tr.labelSets.motion }, { x: va.features, y: va.labelSets.motion }, MOTION_CLASSES.length, po);
    tr.features.dispose();
    va.features.dispose();
    // A video-kind Teacher view is the frozen encoder's pre-norm features over the whole clip.
    const view = new Teacher('vid', encoder);
    const sim = await meanFrameSimilarity((v) => view.features(v), encoder.grid.t, valSet);
    rows.push({ student: name, appearance: app.valAcc, motion: mot.valAcc, appearanceTrain: app.trainAcc, motionTrain: mot.trainAcc, distillLoss: loss, frameSimilarity: sim, kind });
  };
  for (const [name, ts] of variants) {
    const r = distillRecipe(data, { student: o.preset, frames: o.frames, size: o.size, teachers: ts ?? { vid: teachers.vid }, maskRatio: o.maskRatio, seed: o.seed + 3 });
    let loss: number | null = null;
    if (ts) {
      const run = await train(r, { ...sched(o.studentSteps), onStep: progress(`student ← ${name}`) });
      loss = tailMean(run.history, 'loss');
    }
    await probeBoth(name, r.model.encoder, ts ? 'student' : 'control', loss);
    r.dispose();
  }
  await probeBoth('video teacher itself (VideoMAE)', teachers.vid.encoder, 'control', null);
  if (o.supervised)
    for (const task of ['appearance', 'motion'] as const) {
      const r = supervisedRecipe(data, task, o);
      const run = await train(r, { ...sched(o.studentSteps), beta2: 0.999, onStep: progress(`supervised on ${task}`) });
      await probeBoth(`supervised on ${task} (ceiling)`, r.model.encoder, 'control', tailMean(run.history, 'loss'));
      r.dispose();
    }
  const teacherFrameSimilarity = {
    image: await meanFrameSimilarity((v) => teachers.img.features(v), Math.ceil(o.frames / (teachers.img.encoder.opts.frameStride ?? 1)), valSet),
    video: await meanFrameSimilarity((v) => teachers.vid.features(v), teachers.vid.encoder.grid.t, valSet),
  };
  teachers.img.dispose();
  teachers.vid.dispose();
  return {
    teacherFrameSimilarity,
    seed: o.seed,
    rows,
    teacherLoss: { image: tailMean(maeRun.history, 'loss'), video: tailMean(vmaeRun.history, 'loss') },
    chanceBand: 1.96 * Math.sqrt((0.25 * 0.75) / o.valClips),
    seconds: (performance.now() - t0) / 1000,
  };
}
