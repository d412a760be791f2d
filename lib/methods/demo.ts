// The demo: the paper's teacher study at laptop scale on the built-in synthetic set (no files, no
// ffmpeg). Pretrain a tiny image teacher (MAE on frames) and a tiny video teacher (VideoMAE),
// distil three tiny students (from the image teacher, the video teacher, both), then evaluate every
// encoder as the papers do: fine-tuned end to end on the appearance task (readable from one frame)
// and on the motion task (needs several frames), with a linear probe of the frozen encoder beside.
// Random init fine-tuned the same way is the control: it says the tasks are learnable at this
// budget (above chance) and is what pretraining has to beat. The setting (fixed palette, no
// clutter, 32² at patch 8) is where learning shows on 2 cores (docs/DEMO.md, experiments 17+).
import { SyntheticDataset } from '../data/synthetic.js';
import { imageVit, videoVit, type VitConfig } from '../nn/config.js';
import { Teacher, type TeacherKind } from '../nn/mvd.js';
import { VisionTransformer } from '../nn/encoder.js';
import { loadStateDict, stateDict } from '../io/checkpoint.js';
import { ValueError } from '../errors.js';
import type { Tensor } from '../tensor.js';
import { BatchSampler } from './batch.js';
import {
  TEACHER_TARGETS,
  teacherSettingDifferences,
  teacherSettingsOf,
  trainDemoTeachers,
  type DemoTeachers,
  type DemoTeacherSettings,
} from './demo-teachers.js';
import { distillRecipe } from './distill.js';
import { train, tailMean, type StepRecord } from './train.js';
import { meanFrameSimilarity } from './demo-similarity.js';
import { DEMO_TASKS, finetuneAndScore, inflateImageWeights, probeBothTasks, type DemoTask } from './demo-finetune.js';

export { TEACHER_TARGETS, type TeacherTargets } from './demo-teachers.js';

/** Options of one demo run: the teachers' settings, then the students' and the evaluation's. */
export interface DemoOptions extends DemoTeacherSettings {
  /** Held-out clips every fine-tuned encoder and probe is scored on. */
  valClips: number;
  /** Training clips the linear probes are fitted on. */
  probeClips: number;
  studentSteps: number;
  finetuneSteps: number;
  finetuneLr: number;
  /** Layer-wise lr decay while fine-tuning (FinetuneSetting.layerDecay); null: one lr for every layer. */
  finetuneLayerDecay: number | null;
  /**
   * Every pretrained encoder's fine-tuning starts from shrink × its weights + perturb × the
   * random-init row's initialisation (FinetuneSetting.shrinkPerturb; docs/DEMO.md experiments 32 and
   * 38–40: the pretrained weights as they are optimise worse than a fresh start). null: as they are.
   */
  finetuneShrinkPerturb: { shrink: number; perturb: number } | null;
  /**
   * Labelled clips fine-tuning draws from (the first of the training pool, reshuffled each epoch):
   * fewer than steps × batch means the labelled set is reused, the regime where pretraining helps most.
   * null: the whole pool.
   */
  labelledClips: number | null;
  /** Scale of the classifier head's initial weights (FinetuneSetting.headInitScale). */
  headInitScale: number;
  probeSteps: number;
  /** Probe weight decays; chosen per probe on a held-out 20% of the probe's training clips. */
  probeWeightDecays: number[];
  /** The students' tube mask ratio (the paper's 0.9); VideoMAE's is `teacherMaskRatio`. */
  maskRatio: number;
  /** Progress: a stage's name and its step count (0 for stages without steps), then its steps. */
  onProgress?: (stage: string, steps: number, rec?: StepRecord) => void;
}

/** The default demo: synthetic set, model and step budgets (docs/DEMO.md says how they were chosen). */
export const DEMO_DEFAULTS: Omit<DemoOptions, 'seed'> = {
  frames: 8,
  size: 32,
  patch: 8,
  trainClips: 8192,
  valClips: 256,
  probeClips: 1024,
  batch: 16,
  teacherSteps: 4000,
  teacherMaskRatio: 0.75,
  studentSteps: 300,
  finetuneSteps: 200,
  finetuneLr: 1.5e-3,
  finetuneLayerDecay: null,
  finetuneShrinkPerturb: { shrink: 0.3, perturb: 1 },
  labelledClips: 256,
  headInitScale: 1,
  probeSteps: 300,
  probeWeightDecays: [1e-4, 1e-2, 1e-1, 1],
  maskRatio: 0.9,
  preset: 'tiny',
  clutter: { min: 0, max: 0 },
  palette: 'fixed',
  teacherTargets: 'normalized',
};

export type DemoRowKind = 'control' | 'teacher' | 'student';

export interface DemoRow {
  encoder: string;
  kind: DemoRowKind;
  /** Top-1 on the val clips after fine-tuning end to end on each task. */
  finetuned: Record<DemoTask, number>;
  /** Top-1 on the val clips of a linear probe of the frozen encoder. */
  probe: Record<DemoTask, number>;
  /** Final pretraining or distillation loss (null for random init). */
  pretrainLoss: number | null;
  /**
   * Mean cosine similarity between the pooled features of different temporal slots of a clip,
   * over the first val clips (the paper's Figure 3 statistic: lower = more temporal difference).
   */
  frameSimilarity: number;
}

/** One seed of the demo: every encoder's fine-tuned and probed accuracy on both tasks, with the teachers' statistics. */
export interface DemoResult {
  seed: number;
  rows: DemoRow[];
  teacherLoss: { image: number; video: number };
  /** Where the teachers came from: 'trained in this run', or the teacher file's path. */
  teacherSource: string;
  /** sha256 of the teachers' tensors (a teacher file records the same). */
  teacherSha256: string;
  /** The teachers' own cross-frame similarity (Figure 3: the video teacher's should be lower). */
  teacherFrameSimilarity: { image: number; video: number };
  valClips: number;
  settings: Omit<DemoOptions, 'seed' | 'onProgress'>;
  seconds: number;
}

/** Clips of the val set used for the cross-frame similarity. */
const SIMILARITY_CLIPS = 32;

function checkOptions(o: DemoOptions): void {
  if (!TEACHER_TARGETS.includes(o.teacherTargets))
    throw new ValueError(`runDemo: teacherTargets must be ${TEACHER_TARGETS.join(' or ')}, got '${o.teacherTargets}'`);
  for (const k of ['teacherSteps', 'studentSteps', 'finetuneSteps', 'probeSteps', 'batch', 'trainClips', 'valClips', 'probeClips'] as const)
    if (!(Number.isInteger(o[k]) && o[k] > 0)) throw new ValueError(`runDemo: ${k} must be a positive integer, got ${o[k]}`);
  if (o.probeClips > o.trainClips)
    throw new ValueError(`runDemo: probeClips (${o.probeClips}) must be at most trainClips (${o.trainClips})`);
  const l = o.labelledClips;
  if (l !== null && !(Number.isInteger(l) && l > 0 && l <= o.trainClips))
    throw new ValueError(
      `runDemo: labelledClips must be null (the whole pool) or an integer in [1, trainClips = ${o.trainClips}], got ${l}`,
    );
  const d = o.finetuneLayerDecay;
  if (d !== null && !(d > 0 && d <= 1)) throw new ValueError(`runDemo: finetuneLayerDecay must be in (0, 1] or null, got ${d}`);
  const sp = o.finetuneShrinkPerturb;
  if (sp !== null && !(sp.shrink >= 0 && sp.perturb >= 0 && sp.shrink + sp.perturb > 0))
    throw new ValueError(
      `runDemo: finetuneShrinkPerturb must be null or { shrink, perturb } of non-negative numbers, not both 0; got ${JSON.stringify(sp)}`,
    );
}

/**
 * The teacher study end to end for one seed: the teachers (given, e.g. from loadDemoTeachers, or
 * trained here), then the students distilled from them, then every encoder fine-tuned and probed.
 * Given teachers must have been trained with this run's teacher settings (a ValueError names each
 * difference); the caller keeps ownership of them.
 */
export async function runDemo(opts: Partial<DemoOptions> & { seed: number; teachers?: DemoTeachers }): Promise<DemoResult> {
  const o: DemoOptions & { teachers?: DemoTeachers } = { ...DEMO_DEFAULTS, ...opts };
  checkOptions(o);
  const t0 = performance.now();
  const setOf = (seed: number, count: number) =>
    new SyntheticDataset({ seed, count, frames: o.frames, size: o.size, clutter: o.clutter, palette: o.palette });
  const trainSet = setOf(o.seed, o.trainClips);
  const valSet = setOf(o.seed + 100000, o.valClips);
  const probeTrain = setOf(o.seed, o.probeClips);
  const labelled = o.labelledClips === null ? trainSet : setOf(o.seed, o.labelledClips);
  const sched = (steps: number) => ({
    steps,
    lr: 1.5e-3,
    minLr: 1e-4,
    warmupSteps: Math.max(1, Math.round(steps / 10)),
    weightDecay: 0.05,
  });
  const onStep = (stage: string, steps: number) => (rec: StepRecord) => o.onProgress?.(stage, steps, rec);
  const vidCfg = (posEmbed: VitConfig['posEmbed']) => videoVit(o.preset, { frames: o.frames, size: o.size, patch: o.patch, posEmbed });

  // Stage 1: the teachers, given (a teacher file) or trained here.
  const given = opts.teachers ?? null;
  if (given) {
    const diff = teacherSettingDifferences(given.settings, teacherSettingsOf(o));
    if (diff.length)
      throw new ValueError(
        `runDemo: the teachers from ${given.source} were trained with other settings than this run's (${diff.join('; ')}); ` +
          "pass the run the file's settings, or train teachers for these (mvd demo --fresh-teachers)",
      );
  }
  const own = given ? null : await trainDemoTeachers(o, (stage, steps, rec) => o.onProgress?.(stage, steps, rec));
  const t1 = (given ?? own)!;
  const teacher = (kind: TeacherKind, weights: Map<string, Tensor>) => {
    const cfg = kind === 'img' ? imageVit(o.preset, { size: o.size, patch: o.patch }) : vidCfg('sinusoid1d');
    const enc = new VisionTransformer(cfg, { finalNorm: true, frameStride: kind === 'img' ? 2 : undefined, init: 'none' });
    loadStateDict(enc, weights);
    return new Teacher(kind, enc);
  };
  const teachers = { img: teacher('img', t1.image), vid: teacher('vid', t1.video) };
  const teacherLoss = t1.loss;
  const teacherSource = t1.source,
    teacherSha256 = t1.sha256;
  own?.dispose();
  const teacherFrameSimilarity = {
    image: await meanFrameSimilarity((v) => teachers.img.features(v), Math.ceil(o.frames / 2), valSet, SIMILARITY_CLIPS),
    video: await meanFrameSimilarity((v) => teachers.vid.features(v), teachers.vid.encoder.grid.t, valSet, SIMILARITY_CLIPS),
  };

  // Stage 2: every encoder, probed frozen and fine-tuned on each task with the same budget.
  const rows: DemoRow[] = [];
  const evaluateEncoder = async (
    name: string,
    kind: DemoRowKind,
    cfg: VitConfig,
    weights: Map<string, Tensor> | null,
    pretrainLoss: number | null,
  ) => {
    o.onProgress?.(`probe: ${name}`, 0);
    const frozen = new VisionTransformer(cfg, { finalNorm: false, seed: o.seed + 5 });
    if (weights) loadStateDict(frozen, weights);
    const probe = await probeBothTasks(frozen, probeTrain, valSet, {
      steps: o.probeSteps,
      seed: o.seed,
      weightDecays: o.probeWeightDecays,
    });
    // A video-kind Teacher view is the frozen encoder's pre-norm features over the whole clip.
    const frameSim = await meanFrameSimilarity((v) => new Teacher('vid', frozen).features(v), frozen.grid.t, valSet, SIMILARITY_CLIPS);
    frozen.dispose();
    const finetuned = {} as Record<DemoTask, number>;
    for (const task of DEMO_TASKS)
      finetuned[task] = await finetuneAndScore(
        cfg,
        weights,
        task,
        labelled,
        valSet,
        {
          steps: o.finetuneSteps,
          batch: o.batch,
          lr: o.finetuneLr,
          headInitScale: o.headInitScale,
          layerDecay: o.finetuneLayerDecay,
          shrinkPerturb: o.finetuneShrinkPerturb,
          seed: o.seed + 6,
        },
        onStep(`fine-tune ${name} on ${task}`, o.finetuneSteps),
      );
    rows.push({ encoder: name, kind, finetuned, probe, pretrainLoss, frameSimilarity: frameSim });
  };
  await evaluateEncoder('random init', 'control', vidCfg('sincos3d'), null, null);
  const imgWeights = await inflateImageWeights(teachers.img.encoder, vidCfg('sincos3d'));
  await evaluateEncoder('image teacher (MAE)', 'teacher', vidCfg('sincos3d'), imgWeights, teacherLoss.image);
  for (const t of imgWeights.values()) t.dispose();
  await evaluateEncoder('video teacher (VideoMAE)', 'teacher', vidCfg('sinusoid1d'), stateDict(teachers.vid.encoder), teacherLoss.video);
  const students: [string, Partial<Record<TeacherKind, Teacher>>][] = [
    ['student ← image teacher', { img: teachers.img }],
    ['student ← video teacher', { vid: teachers.vid }],
    ['student ← both (co-taught)', teachers],
  ];
  for (const [name, ts] of students) {
    const r = distillRecipe(new BatchSampler(trainSet, o.batch, o.seed), {
      student: o.preset,
      frames: o.frames,
      size: o.size,
      patch: o.patch,
      teachers: ts,
      maskRatio: o.maskRatio,
      seed: o.seed + 3,
    });
    const run = await train(r, { ...sched(o.studentSteps), onStep: onStep(`distil ${name}`, o.studentSteps) });
    await evaluateEncoder(name, 'student', vidCfg('sincos3d'), stateDict(r.model.encoder), tailMean(run.history, 'loss'));
    r.dispose();
  }
  teachers.img.dispose();
  teachers.vid.dispose();
  const { onProgress: _progress, seed: _seed, teachers: _teachers, ...settings } = o;
  return {
    seed: o.seed,
    rows,
    teacherLoss,
    teacherSource,
    teacherSha256,
    teacherFrameSimilarity,
    valClips: o.valClips,
    settings,
    seconds: (performance.now() - t0) / 1000,
  };
}
