// Training commands: pretrain (MAE, VideoMAE, MAM2) and distill (MVD). Library recipes do the
// work; this file turns the checked flags into recipe options.
import { join, basename, resolve } from 'node:path';
import { createHash } from 'node:crypto';
import { SyntheticDataset } from '../../data/synthetic.js';
import { readListFile, VideoClipDataset } from '../../data/datasets.js';
import type { ClipSource } from '../../data/types.js';
import { imageVit, videoVit, type Preset } from '../../nn/config.js';
import { VisionTransformer } from '../../nn/encoder.js';
import { Teacher, type TeacherKind, type TeacherPrecisionChoice } from '../../nn/mvd.js';
import { loadAllWeights, saveWeights } from '../../io/checkpoint.js';
import { modelCardMetadata, modelCardOf } from '../../nn/model-card.js';
import { BatchSampler } from '../../methods/batch.js';
import { PRETRAIN_METHODS, PRETRAIN_METHOD_NAMES, type PretrainMethodName } from '../../methods/pretrain-methods.js';
import { distillRecipe, distillTeacherPrecision, imageTeacherSizeOf } from '../../methods/distill.js';
import { TeacherCache } from '../../methods/teacher-cache.js';
import { train, type Recipe } from '../../methods/train.js';
import { Progress } from '../progress.js';
import { UsageError, type FlagCommand, type Flags } from '../command.js';
import {
  checkTrainFlags,
  dataKind,
  DEVICE,
  MASK_RATIO,
  modelFlag,
  dataShard,
  reportSkipped,
  trainOptions,
  TRAIN_FLAGS,
  useDevice,
} from './common.js';
import { isRankZero } from '../../dist/world.js';

/**
 * The training clips. `fixedView` (teacher cache): every load of a video gives the same view, the
 * centre window and centre crop, instead of the random multi-scale crop of SPEC §3.1.
 */
async function dataSource(f: Flags, fixedView = false): Promise<ClipSource> {
  const frames = f.num('frames'),
    size = f.num('size'),
    seed = f.num('seed');
  if (dataKind(f) === 'synthetic') return new SyntheticDataset({ seed, count: f.num('clips'), frames, size });
  const items = await readListFile(f.str('list'), { root: f.optStr('root') });
  return new VideoClipDataset({
    items,
    transform: fixedView
      ? { kind: 'val', sampling: 'dense', numFrames: frames, stride: 4, size }
      : { kind: 'pretrain', numFrames: frames, stride: 4, size },
    onBadVideo: f.word<'skip' | 'fail'>('on-bad-video'),
  });
}

/** Trains `recipe` as the command's flags say; `config` adds what the flags leave open (resolved choices) to the run's config.json. */
async function runRecipe(name: string, recipe: Recipe, f: Flags, config: Record<string, string | number | boolean> = {}): Promise<number> {
  const batch = f.num('batch'),
    steps = f.num('steps');
  const total = batch * f.num('accumulate');
  const out = f.optStr('out');
  const json = f.bool('json');
  // Under mpirun only rank 0 speaks and writes (train() itself logs and checkpoints on rank 0).
  const speak = isRankZero();
  const p = new Progress(speak && !!process.stderr.isTTY, json);
  const options = trainOptions(f, total);
  const r = await train(recipe, {
    ...options,
    config: { ...(options.config as object), ...config },
    onStep: (rec) => speak && p.update(name, steps, rec, total),
  });
  p.done();
  // The file describes its model (lib/nn/model-card.ts), so extract/probe/finetune need no flags.
  const card = modelCardOf(recipe.model, { method: name });
  if (out && speak)
    await saveWeights(join(out, 'model.safetensors'), recipe.model, { method: name, ...(card ? modelCardMetadata(card) : {}) });
  if (!speak) {
    recipe.dispose();
    return 0;
  }
  reportSkipped(r, recipe);
  const last = r.history[r.history.length - 1];
  const summary = {
    method: name,
    steps,
    resumedFrom: r.resumedFrom,
    startStep: r.startStep,
    finalLosses: last?.losses ?? null,
    out: out ?? null,
  };
  console.log(
    json
      ? JSON.stringify(summary, null, 2)
      : `${name}: ${steps} steps${r.resumedFrom ? ` (resumed at ${r.startStep})` : ''}, final ${JSON.stringify(last?.losses ?? {})}${out ? `; weights in ${join(out, 'model.safetensors')}` : ''}`,
  );
  recipe.dispose();
  return 0;
}

/** "a, b or c" over the method names, each written by `item`. */
function methodList(item: (m: PretrainMethodName) => string): string {
  const xs = PRETRAIN_METHOD_NAMES.map(item);
  return `${xs.slice(0, -1).join(', ')} or ${xs[xs.length - 1]}`;
}

/** The methods' default mask ratios: "0.75 for mae, else 0.9" (the most common one is the "else"). */
function maskRatioNote(): string {
  const ratios = PRETRAIN_METHOD_NAMES.map((m) => PRETRAIN_METHODS[m].maskRatio);
  const common = ratios.reduce((a, r) => (ratios.filter((x) => x === r).length > ratios.filter((x) => x === a).length ? r : a));
  const others = PRETRAIN_METHOD_NAMES.filter((m) => PRETRAIN_METHODS[m].maskRatio !== common).map(
    (m) => `${PRETRAIN_METHODS[m].maskRatio} for ${m}`,
  );
  return others.length ? `${others.join(', ')}, else ${common}` : String(common);
}

export const pretrainCommand: FlagCommand = {
  name: 'pretrain',
  summary: `pretrain: --method ${methodList((m) => `${m} (${PRETRAIN_METHODS[m].help})`)}`,
  usage: `mvd pretrain --method ${PRETRAIN_METHOD_NAMES.join('|')} [--model tiny] [--data synthetic | --list FILE --root DIR] [--out RUN] [--resume]`,
  flags: {
    method: { type: 'word', words: PRETRAIN_METHOD_NAMES, required: true, help: methodList((m) => `${m} (${PRETRAIN_METHODS[m].help})`) },
    ...TRAIN_FLAGS,
    'mask-ratio': { ...MASK_RATIO, default: undefined, defaultNote: maskRatioNote() },
    device: DEVICE,
  },
  check: checkTrainFlags,
  async run(f) {
    useDevice(f);
    const method = PRETRAIN_METHODS[f.word<PretrainMethodName>('method')];
    const preset = f.word<Preset>('model'),
      frames = f.num('frames'),
      size = f.num('size'),
      seed = f.num('seed');
    const maskRatio = f.optNum('mask-ratio') ?? method.maskRatio;
    const src = await dataSource(f);
    const data = new BatchSampler(src, f.num('batch'), seed, dataShard());
    return runRecipe(f.word('method'), method.recipe(data, { preset, frames, size, maskRatio, seed }), f);
  },
};

/** A frozen teacher built for `kind` and loaded from `path`: every weight must come from the file. */
export async function loadTeacher(kind: TeacherKind, path: string, model: Preset, frames: number, size: number): Promise<Teacher> {
  const cfg = kind === 'img' ? imageVit(model, { size }) : videoVit(model, { frames, size, posEmbed: 'sinusoid1d' });
  // Every parameter comes from the file, so a random initialisation would only be overwritten.
  const enc = new VisionTransformer(cfg, { finalNorm: true, frameStride: kind === 'img' ? 2 : undefined, init: 'none' });
  return new Teacher(kind, await loadAllWeights(path, enc));
}

export const distillCommand: FlagCommand = {
  name: 'distill',
  summary: 'MVD: distill a tube-masked student from an image teacher, a video teacher, or both',
  usage:
    'mvd distill --teachers both --image-teacher IMG.safetensors --video-teacher VID.safetensors [--teacher-model tiny] [--model tiny] [--teacher-cache DIR] [--out RUN]',
  flags: {
    teachers: { type: 'word', words: ['image', 'video', 'both'], help: 'which teachers to distill from', default: 'both' },
    'image-teacher': { type: 'in-file', what: 'image teacher', help: 'MAE weights (safetensors), needed with --teachers image|both' },
    'video-teacher': { type: 'in-file', what: 'video teacher', help: 'VideoMAE weights (safetensors), needed with --teachers video|both' },
    'teacher-model': modelFlag('teacher preset', undefined),
    'image-teacher-size': {
      type: 'int',
      min: 16,
      help: "the image teacher's input size (SPEC §3.1: 196 for a ViT-H/14 teacher); its token grid must be the student's",
      defaultNote: "the image teacher checkpoint's own size, else --size",
    },
    loss: { type: 'word', words: ['smoothl1', 'l2', 'l1'], help: 'feature loss', default: 'smoothl1' },
    'w-img': { type: 'number', min: 0, help: 'image loss weight', default: 1 },
    'w-vid': { type: 'number', min: 0, help: 'video loss weight', default: 1 },
    'drop-path': { type: 'number', min: 0, below: 1, help: 'student drop path', default: 0.1 },
    'teacher-cache': {
      type: 'out-dir',
      help:
        'DIR: run each teacher once per clip and reuse its features from DIR in later epochs. APPROXIMATION: each clip is seen ' +
        'through one fixed view (video files: centre window, centre crop) instead of random multi-scale crops; masks still change every step',
    },
    'no-pack-teachers': {
      type: 'bool',
      help:
        "keep the teachers' plain fp32 weights: by default each is packed once for the CPU GEMM instead (faster teacher " +
        'forwards; with --teacher-precision bf16, half the memory)',
    },
    'teacher-precision': {
      type: 'word',
      words: ['auto', 'fp32', 'bf16'],
      default: 'auto',
      help:
        "precision of the frozen teachers' weights and products: bf16 rounds weights and inputs to bf16 and accumulates in fp32 " +
        "(AVX512-BF16 CPUs; CUDA always); auto is bf16 where the CPU has AVX512-BF16, else fp32. The run's config.json records the one used",
    },
    ...TRAIN_FLAGS,
    'mask-ratio': MASK_RATIO,
    device: DEVICE,
  },
  check(f) {
    checkTrainFlags(f);
    const which = f.word('teachers');
    if (which !== 'video' && !f.given('image-teacher'))
      throw new UsageError(
        '--image-teacher WEIGHTS is required with --teachers image|both (make one with `mvd pretrain --method mae --out RUN`)',
      );
    if (which !== 'image' && !f.given('video-teacher'))
      throw new UsageError(
        '--video-teacher WEIGHTS is required with --teachers video|both (make one with `mvd pretrain --method videomae --out RUN`)',
      );
    if (which === 'video' && f.given('image-teacher')) throw new UsageError('--image-teacher is not used with --teachers video');
    if (f.given('image-teacher-size') && !f.given('image-teacher')) throw new UsageError('--image-teacher-size needs --image-teacher');
    if (which === 'image' && f.given('video-teacher')) throw new UsageError('--video-teacher is not used with --teachers image');
    if (f.bool('no-pack-teachers') && f.word('teacher-precision') === 'bf16')
      throw new UsageError('--teacher-precision bf16 needs packed teachers: drop --no-pack-teachers');
  },
  async run(f) {
    useDevice(f);
    const model = f.word<Preset>('model'),
      tmodel = f.optWord<Preset>('teacher-model') ?? model;
    const frames = f.num('frames'),
      size = f.num('size'),
      seed = f.num('seed');
    const teachers: Partial<Record<TeacherKind, Teacher>> = {};
    let imageTeacherSize: number | undefined;
    if (f.given('image-teacher')) {
      imageTeacherSize = f.optNum('image-teacher-size') ?? (await imageTeacherSizeOf(f.str('image-teacher'))) ?? size;
      teachers.img = await loadTeacher('img', f.str('image-teacher'), tmodel, frames, imageTeacherSize);
    }
    if (f.given('video-teacher')) teachers.vid = await loadTeacher('vid', f.str('video-teacher'), tmodel, frames, size);
    const packTeachers = !f.bool('no-pack-teachers');
    const teacherPrecision = distillTeacherPrecision({
      teachers,
      packTeachers,
      teacherPrecision: f.word<TeacherPrecisionChoice>('teacher-precision'),
    });
    const cacheDir = f.optStr('teacher-cache');
    const src = await dataSource(f, !!cacheDir);
    const data = new BatchSampler(src, f.num('batch'), seed, dataShard());
    const teacherCache: Partial<Record<TeacherKind, TeacherCache>> = {};
    if (cacheDir) {
      const clipId =
        src instanceof VideoClipDataset
          ? (i: number) =>
              `${basename(src.items[i].path)}-${createHash('sha1').update(resolve(src.items[i].path)).digest('hex').slice(0, 10)}`
          : (i: number) => `synth-seed${seed}-${i}`;
      // bf16 teachers give other features than fp32 ones: the precision is part of the key.
      const view = `${src instanceof VideoClipDataset ? `centre-f${frames}x4-s${size}` : `full-f${frames}-s${size}`}-${teacherPrecision}`;
      for (const [k, t] of Object.entries(teachers) as [TeacherKind, Teacher][])
        teacherCache[k] = await TeacherCache.open(cacheDir, t, { clipId, view });
    }
    const r = distillRecipe(data, {
      student: model,
      frames,
      size,
      teachers,
      loss: f.word<'smoothl1' | 'l2' | 'l1'>('loss'),
      wImg: f.num('w-img'),
      wVid: f.num('w-vid'),
      maskRatio: f.num('mask-ratio'),
      dropPath: f.num('drop-path'),
      seed,
      teacherCache,
      packTeachers,
      teacherPrecision,
      imageTeacherSize,
    });
    const code = await runRecipe('mvd', r, f, { teacherPrecisionUsed: r.teacherPrecision });
    if (cacheDir) {
      // Summed over the ranks (a collective: every rank asks, in the same order); rank 0 reports.
      const counts: string[] = [];
      for (const x of Object.values(teacherCache)) {
        const n = await x.totals();
        counts.push(`${x.teacher.kind} ${n.forwards} clips computed, ${n.hits} read`);
      }
      if (!f.bool('json') && isRankZero())
        console.log(`teacher cache ${cacheDir}: ${counts.join('; ')} (fixed views: an approximation of random crops)`);
    }
    for (const t of Object.values(teachers)) t.dispose();
    return code;
  },
};
