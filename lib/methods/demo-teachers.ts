// The demo's two teachers as a unit: trained here (MAE on frames, VideoMAE on clips), or read from
// a file that a previous `mvd demo --train-teachers` wrote. The package ships one such file for
// the default settings, so the default demo spends its budget on the students and the evaluation.
// A teacher file records the settings it was trained with, the command, and a hash of its tensors;
// loading refuses a file whose hash does not match its bytes, and the demo refuses a file whose
// settings differ from the run's (naming each difference) instead of evaluating the wrong teachers.
import { createHash } from 'node:crypto';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { SyntheticDataset, type ClutterRange, type SynthPalette } from '../data/synthetic.js';
import type { Preset } from '../nn/config.js';
import { stateDict } from '../io/checkpoint.js';
import { loadSafetensors, readSafetensorsHeader, saveSafetensors } from '../io/safetensors.js';
import { ValueError } from '../errors.js';
import { packageRoot } from '../native.js';
import type { Tensor } from '../tensor.js';
import { BatchSampler } from './batch.js';
import { maeRecipe, videomaeRecipe } from './pretrain.js';
import { train, tailMean, type StepRecord } from './train.js';

/** Teachers' pixel targets (DemoOptions.teacherTargets). */
export const TEACHER_TARGETS = ['normalized', 'raw'] as const;
export type TeacherTargets = (typeof TEACHER_TARGETS)[number];

/** The demo options that decide the teachers' weights (everything the teacher stage reads). */
export interface DemoTeacherSettings {
  seed: number;
  frames: number;
  size: number;
  /** Spatial patch: 8 at 32² gives 16 tokens per frame, several per object. */
  patch: number;
  /** Pool of training clips shared by every stage (larger than any stage's steps × batch). */
  trainClips: number;
  batch: number;
  teacherSteps: number;
  /**
   * VideoMAE's tube mask ratio (the students keep `maskRatio`). 0.9 leaves about 2 of a frame's 16
   * patches visible at 32²/patch 8; 0.75 is where the teacher learns appearance at every seed
   * (docs/DEMO.md, experiment 31).
   */
  teacherMaskRatio: number;
  preset: Preset;
  clutter: ClutterRange;
  palette: SynthPalette;
  /**
   * Teachers' pixel targets: per-patch normalised (the papers' recipe) or raw pixels. Normalising
   * removes each patch's mean colour, which is what says where the object is.
   */
  teacherTargets: TeacherTargets;
}

const SETTING_KEYS = [
  'seed',
  'frames',
  'size',
  'patch',
  'trainClips',
  'batch',
  'teacherSteps',
  'teacherMaskRatio',
  'preset',
  'clutter',
  'palette',
  'teacherTargets',
] as const satisfies readonly (keyof DemoTeacherSettings)[];

/** Both teachers' encoder weights (the caller owns the tensors: dispose() frees them). */
export interface DemoTeachers {
  /** The MAE encoder (an image ViT at the demo's size and patch). */
  image: Map<string, Tensor>;
  /** The VideoMAE encoder (a video ViT with the 1D sinusoid table). */
  video: Map<string, Tensor>;
  /** Mean pretraining loss over the last steps of each. */
  loss: { image: number; video: number };
  settings: DemoTeacherSettings;
  /** 'trained in this run', or the file they were read from. */
  source: string;
  /** sha256 of the tensors (names, shapes, bytes), as recorded in a teacher file. */
  sha256: string;
  dispose(): void;
}

/** The teacher files the package ships (weights/demo-teachers-s<seed>.safetensors: seeds 1–3 at the defaults). */
export function shippedDemoTeacherFiles(): string[] {
  const dir = join(packageRoot, 'weights');
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .filter((n) => /^demo-teachers-.+\.safetensors$/.test(n))
    .sort()
    .map((n) => join(dir, n));
}

/** What a teacher file records in its header (settings and tensors' sha256; nothing is hashed), or null for a file that is not one. */
export async function teacherFileRecord(path: string): Promise<{ settings: DemoTeacherSettings; sha256: string } | null> {
  const h = await readSafetensorsHeader(path);
  if (h.metadata.format !== FORMAT) return null;
  try {
    const settings = JSON.parse(h.metadata.settings ?? 'null');
    return settings ? { settings, sha256: h.metadata.tensorsSha256 ?? '' } : null;
  } catch {
    return null;
  }
}

/** The shipped teacher file trained with exactly these teacher settings, or null. */
export async function shippedDemoTeachersFor(s: DemoTeacherSettings): Promise<string | null> {
  for (const f of shippedDemoTeacherFiles()) {
    const rec = await teacherFileRecord(f);
    if (rec && teacherSettingDifferences(rec.settings, teacherSettingsOf(s)).length === 0) return f;
  }
  return null;
}

/** The teacher settings within a full set of demo options. */
export function teacherSettingsOf(o: DemoTeacherSettings): DemoTeacherSettings {
  return Object.fromEntries(SETTING_KEYS.map((k) => [k, o[k]])) as unknown as DemoTeacherSettings;
}

/** Each setting where `file` and `run` differ, as "name: file X, this run Y" (empty: they fit). */
export function teacherSettingDifferences(file: DemoTeacherSettings, run: DemoTeacherSettings): string[] {
  const show = (v: unknown) => JSON.stringify(v);
  return SETTING_KEYS.filter((k) => show(file[k]) !== show(run[k])).map((k) => `${k}: file ${show(file[k])}, this run ${show(run[k])}`);
}

/** sha256 over every tensor's name, dtype, shape and bytes, in name order (what a teacher file records). */
async function tensorsHash(tensors: Map<string, Tensor>): Promise<string> {
  const h = createHash('sha256');
  for (const name of [...tensors.keys()].sort()) {
    const t = tensors.get(name)!;
    const data = await t.toArray();
    h.update(`${name}\0${t.dtype}\0${t.shape.join(',')}\0`);
    h.update(new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
  }
  return h.digest('hex');
}

function teachersOf(
  image: Map<string, Tensor>,
  video: Map<string, Tensor>,
  loss: DemoTeachers['loss'],
  settings: DemoTeacherSettings,
  source: string,
  sha256: string,
): DemoTeachers {
  return {
    image,
    video,
    loss,
    settings,
    source,
    sha256,
    dispose() {
      for (const t of [...image.values(), ...video.values()]) t.dispose();
    },
  };
}

/** Stage 1 of the demo: pretrain the image teacher (MAE on frames) and the video teacher (VideoMAE). */
export async function trainDemoTeachers(
  s: DemoTeacherSettings,
  onStep?: (stage: string, steps: number, rec: StepRecord) => void,
): Promise<DemoTeachers> {
  const settings = teacherSettingsOf(s);
  // The same pool runDemo's later stages draw from (same seed and settings, so the same clips).
  const trainSet = new SyntheticDataset({
    seed: s.seed,
    count: s.trainClips,
    frames: s.frames,
    size: s.size,
    clutter: s.clutter,
    palette: s.palette,
  });
  const sched = {
    steps: s.teacherSteps,
    lr: 1.5e-3,
    minLr: 1e-4,
    warmupSteps: Math.max(1, Math.round(s.teacherSteps / 10)),
    weightDecay: 0.05,
  };
  const progress = (stage: string) => (rec: StepRecord) => onStep?.(stage, s.teacherSteps, rec);
  const norm = s.teacherTargets === 'normalized';
  const mae = maeRecipe(new BatchSampler(trainSet, s.batch, s.seed), {
    preset: s.preset,
    size: s.size,
    patch: s.patch,
    maskRatio: 0.75,
    seed: s.seed + 1,
    normPix: norm,
  });
  let image!: Map<string, Tensor>;
  let maeRun!: Awaited<ReturnType<typeof train>>;
  try {
    maeRun = await train(mae, { ...sched, onStep: progress('image teacher (MAE)') });
    image = new Map([...stateDict(mae.model.encoder)].map(([k, t]) => [k, t.clone()]));
  } finally {
    mae.dispose();
  }
  try {
    const vmae = videomaeRecipe(new BatchSampler(trainSet, s.batch, s.seed), {
      preset: s.preset,
      frames: s.frames,
      size: s.size,
      maskRatio: s.teacherMaskRatio,
      seed: s.seed + 2,
      normTarget: norm,
      override: { patch: s.patch },
    });
    try {
      const vmaeRun = await train(vmae, { ...sched, onStep: progress('video teacher (VideoMAE)') });
      const video = new Map([...stateDict(vmae.model.encoder)].map(([k, t]) => [k, t.clone()]));
      const all = new Map([...prefixed('image.', image), ...prefixed('video.', video)]);
      const loss = { image: tailMean(maeRun.history, 'loss'), video: tailMean(vmaeRun.history, 'loss') };
      return teachersOf(image, video, loss, settings, 'trained in this run', await tensorsHash(all));
    } finally {
      vmae.dispose();
    }
  } catch (e) {
    for (const t of image.values()) t.dispose();
    throw e;
  }
}

function prefixed(prefix: string, m: Map<string, Tensor>): [string, Tensor][] {
  return [...m].map(([k, t]) => [prefix + k, t]);
}

const FORMAT = 'mvd-demo-teachers/1';

/**
 * Writes both teachers to one safetensors file ('image.*', 'video.*') with their settings, losses,
 * the command that made them and the tensors' sha256 (t.sha256) in its metadata. Returns the hash.
 */
export async function saveDemoTeachers(path: string, t: DemoTeachers, meta: { command: string; version: string }): Promise<string> {
  // t.sha256 is the hash of these tensors (trainDemoTeachers and loadDemoTeachers computed it);
  // loading the written file checks it again.
  const all = new Map([...prefixed('image.', t.image), ...prefixed('video.', t.video)]);
  const sha256 = t.sha256;
  await saveSafetensors(path, all, {
    format: FORMAT,
    settings: JSON.stringify(t.settings),
    loss: JSON.stringify(t.loss),
    command: meta.command,
    mvdVersion: meta.version,
    tensorsSha256: sha256,
  });
  return sha256;
}

/** Reads a teacher file; a file that is not one, or whose tensors do not hash to its record, is a ValueError naming it. */
export async function loadDemoTeachers(path: string): Promise<DemoTeachers> {
  if (!existsSync(path)) throw new ValueError(`demo teachers: no file at ${path}`);
  const { tensors, metadata } = await loadSafetensors(path);
  const drop = () => {
    for (const t of tensors.values()) t.dispose();
  };
  try {
    if (metadata.format !== FORMAT)
      throw new ValueError(
        `demo teachers: ${path} has format ${JSON.stringify(metadata.format ?? null)}, expected '${FORMAT}' (a file written by \`mvd demo --train-teachers\`)`,
      );
    const sha256 = await tensorsHash(tensors);
    if (sha256 !== metadata.tensorsSha256)
      throw new ValueError(
        `demo teachers: ${path} is damaged: its tensors hash to ${sha256}, its metadata records ${metadata.tensorsSha256}`,
      );
    const part = (prefix: string) =>
      new Map([...tensors].filter(([k]) => k.startsWith(prefix)).map(([k, t]) => [k.slice(prefix.length), t] as [string, Tensor]));
    const image = part('image.'),
      video = part('video.');
    if (!image.size || !video.size || image.size + video.size !== tensors.size)
      throw new ValueError(
        `demo teachers: ${path} holds ${image.size} 'image.' and ${video.size} 'video.' tensors of ${tensors.size}, expected both teachers and nothing else`,
      );
    const json = (key: string) => {
      try {
        return JSON.parse(metadata[key] ?? 'null');
      } catch {
        throw new ValueError(`demo teachers: ${path} metadata '${key}' is not JSON: ${JSON.stringify(metadata[key]).slice(0, 80)}`);
      }
    };
    const settings = json('settings'),
      loss = json('loss');
    if (!settings || typeof loss?.image !== 'number' || typeof loss?.video !== 'number')
      throw new ValueError(`demo teachers: ${path} metadata lacks its settings or losses`);
    return teachersOf(image, video, loss, settings, path, sha256);
  } catch (e) {
    drop();
    throw e;
  }
}
