// Whole MVD training steps: teachers' forward + student forward/backward + AdamW, with a stage
// profile (data, teachers, student, optimizer), clips/s, step-time median and spread, peak RSS.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sync } from '../tensor.js';
import { SyntheticDataset, writeSyntheticSet } from '../data/synthetic.js';
import { VideoClipDataset } from '../data/datasets.js';
import type { ClipSource } from '../data/types.js';
import { distillLoss } from '../ops/loss.js';
import { gridOf, videoVit, isPreset, type Preset } from '../nn/config.js';
import { makeStudent, makeTeacher, teacherPrecisionFor } from '../nn/mvd.js';
import type { WeightPrecision } from '../ops/gemm.js';
import { mvdStepFlops, type StepFlops } from './step-flops.js';
import { AdamW } from '../optim/adamw.js';
import { buildParamGroups } from '../optim/groups.js';
import { BatchSampler, maskedBatch } from '../data/batches.js';
import { ValueError } from '../errors.js';

export interface StepBenchOptions {
  student: Preset;
  teacher: Preset;
  frames: number;
  size: number;
  batch: number;
  steps: number;
  warmup: number;
  maskRatio: number;
  device: string;
  /**
   * Where clips come from: 'memory' (default), the synthetic set rendered in this thread; 'mp4',
   * the same kind of clips written as mp4 files first, then decoded, cropped and resized by the
   * loader's workers (the pretraining transform), overlapped with the steps.
   */
  data?: 'memory' | 'mp4';
  /** Loader worker threads with data 'mp4' (default 2). */
  workers?: number;
  /** The teachers' precision, as distillRecipe's (default: teacherPrecisionFor('auto')). */
  teacherPrecision?: WeightPrecision;
}

/** Clips for the bench: in memory, or written to mp4 in `dir` and decoded by the loader. */
async function clipSource(o: StepBenchOptions, dir: () => string): Promise<ClipSource> {
  const count = Math.max(o.batch * 4, 8);
  if ((o.data ?? 'memory') === 'memory') return new SyntheticDataset({ seed: 1, count, frames: o.frames, size: o.size });
  if (o.data !== 'mp4') throw new ValueError(`bench step: data must be 'memory' or 'mp4', got '${o.data}'`);
  // Videos a little larger than the clip, 4× its frames (stride 4), so crop and resize do work.
  const side = 2 * Math.ceil((o.size * 1.25) / 2);
  const out = dir();
  await writeSyntheticSet({ outDir: out, videos: count, frames: o.frames * 4, size: side, seed: 1, valFraction: 0 });
  const items = Array.from({ length: count }, (_, i) => ({
    path: join(out, 'videos', `clip_${String(i).padStart(6, '0')}.mp4`),
    label: 0,
  }));
  return new VideoClipDataset({ items, transform: { kind: 'pretrain', numFrames: o.frames, stride: 4, size: o.size }, onBadVideo: 'fail' });
}

export interface StepBenchResult {
  impl: 'mvd';
  config: StepBenchOptions;
  clips_per_s: number;
  step_s_median: number;
  step_s_min: number;
  step_s_max: number;
  peak_rss_bytes: number;
  stages: Record<'data' | 'teachers' | 'student' | 'optimizer', number>;
  /** The teachers' precision used. */
  teacher_precision: WeightPrecision;
  /** Counted FLOPs of one step by stage (step-flops.ts), for the % of the FMA peak. */
  flops: StepFlops;
  losses: number[];
}

export async function benchStep(o: StepBenchOptions): Promise<StepBenchResult> {
  if (!isPreset(o.student) || !isPreset(o.teacher)) throw new ValueError('student and teacher must be presets');
  if (o.device !== 'cpu') throw new ValueError(`bench step on '${o.device}': only the CPU backend exists in this build`);
  const teachers = {
    img: makeTeacher('img', { preset: o.teacher, frames: o.frames, size: o.size, seed: 1 }),
    vid: makeTeacher('vid', { preset: o.teacher, frames: o.frames, size: o.size, seed: 2 }),
  };
  // As distillRecipe does: frozen teachers multiply by weights packed once, in their precision.
  const teacherPrecision = teacherPrecisionFor(o.teacherPrecision ?? 'auto', o.device);
  teachers.img.packWeights(teacherPrecision);
  teachers.vid.packWeights(teacherPrecision);
  const student = makeStudent(
    o.student,
    { img: teachers.img.dim, vid: teachers.vid.dim },
    { frames: o.frames, size: o.size, dropPath: 0.1, seed: 3 },
  );
  const opt = new AdamW(buildParamGroups(student.namedParameters(), { weightDecay: 0.05 }), { beta2: 0.95 });
  let tmp: string | null = null;
  const source = await clipSource(o, () => (tmp = mkdtempSync(join(tmpdir(), 'mvd-bench-step-'))));
  const data = new BatchSampler(source, o.batch, 1, o.data === 'mp4' ? { workers: o.workers ?? 2 } : {});
  const grid = gridOf(videoVit(o.student, { frames: o.frames, size: o.size }));
  const stages = { data: 0, teachers: 0, student: 0, optimizer: 0 };
  const times: number[] = [];
  const losses: number[] = [];
  student.train();
  for (let i = 0; i < o.warmup + o.steps; i++) {
    const measured = i >= o.warmup;
    const t0 = performance.now();
    // As distillRecipe takes its batches: the next one loads while this step runs.
    const b = await maskedBatch(data, i, { type: 'tube', grid, ratio: o.maskRatio, seed: 1 });
    const { vis, msk } = b;
    await sync();
    const t1 = performance.now();
    const tImg = teachers.img.targets(b.video, msk),
      tVid = teachers.vid.targets(b.video, msk);
    await sync();
    const t2 = performance.now();
    student.zeroGrad();
    const p = student.forward(b.video, vis, msk);
    const l = distillLoss(p.img!, tImg, p.vid!, tVid, { kind: 'smoothl1' });
    student.backward({ img: l.dPredImg!, vid: l.dPredVid! });
    losses.push((await l.loss.toArray())[0]);
    const t3 = performance.now();
    await opt.update(1e-4);
    await sync();
    const t4 = performance.now();
    for (const x of [tImg, tVid, p.img, p.vid, l.loss, l.dPredImg, l.dPredVid]) x?.dispose();
    b[Symbol.dispose]();
    if (measured) {
      times.push((t4 - t0) / 1000);
      stages.data += t1 - t0;
      stages.teachers += t2 - t1;
      stages.student += t3 - t2;
      stages.optimizer += t4 - t3;
    }
  }
  const total = stages.data + stages.teachers + stages.student + stages.optimizer;
  for (const k of Object.keys(stages) as (keyof typeof stages)[]) stages[k] /= total;
  await data.close();
  if (tmp) rmSync(tmp, { recursive: true, force: true });
  opt.dispose();
  student.dispose();
  teachers.img.dispose();
  teachers.vid.dispose();
  const sorted = [...times].sort((a, b) => a - b);
  const median = sorted[sorted.length >> 1];
  return {
    impl: 'mvd',
    config: o,
    clips_per_s: o.batch / median,
    step_s_median: median,
    step_s_min: sorted[0],
    step_s_max: sorted[sorted.length - 1],
    peak_rss_bytes: process.resourceUsage().maxRSS * 1024,
    stages,
    teacher_precision: teacherPrecision,
    flops: mvdStepFlops(o),
    losses,
  };
}
