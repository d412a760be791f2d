// Training commands: pretrain (MAE, VideoMAE), distill (MVD), probe, extract. Library recipes do
// the work; this file turns flags (and an optional JSON config) into recipe options.
import { readFileSync, existsSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import { createHash } from 'node:crypto';
import { Tensor, setDefaultDevice } from '../../tensor.js';
import { gpuInfo, resolveDevice } from '../../device.js';
import { SyntheticDataset, APPEARANCE_CLASSES, MOTION_CLASSES } from '../../data/synthetic.js';
import { readListFile, VideoClipDataset } from '../../data/datasets.js';
import { decodeFrames, probeVideo } from '../../data/video.js';
import { denseCentreIndices } from '../../data/sampling.js';
import { centreCrop } from '../../data/augment.js';
import type { ClipSource } from '../../data/types.js';
import { framesToClip } from '../../ops/frames.js';
import { isPreset, PRESETS, imageVit, videoVit, type Preset } from '../../nn/config.js';
import { VisionTransformer } from '../../nn/encoder.js';
import { Teacher, type TeacherKind } from '../../nn/mvd.js';
import { loadWeights, saveWeights } from '../../io/checkpoint.js';
import { loadSafetensors, saveSafetensors } from '../../io/safetensors.js';
import { scaleLr } from '../../optim/schedule.js';
import { BatchSampler, IMAGENET_MEAN, IMAGENET_STD } from '../../methods/batch.js';
import { maeRecipe, videomaeRecipe, mam2Recipe } from '../../methods/pretrain.js';
import { distillRecipe } from '../../methods/distill.js';
import { TeacherCache } from '../../methods/teacher-cache.js';
import { train, type Recipe } from '../../methods/train.js';
import { extractFeatures, linearProbe } from '../../methods/probe.js';
import { meanTokens } from '../../nn/classifier.js';
import { Progress } from '../progress.js';
import { UsageError, type Command, type Options } from '../command.js';

export type Values = Record<string, string | boolean | string[] | undefined>;

export const COMMON: Options = {
  config: { type: 'string' }, model: { type: 'string' }, frames: { type: 'string' }, size: { type: 'string' },
  batch: { type: 'string' }, steps: { type: 'string' }, lr: { type: 'string' }, 'min-lr': { type: 'string' },
  warmup: { type: 'string' }, 'weight-decay': { type: 'string' }, accumulate: { type: 'string' }, seed: { type: 'string' },
  data: { type: 'string' }, list: { type: 'string' }, root: { type: 'string' }, clips: { type: 'string' },
  'on-bad-video': { type: 'string' }, 'mask-ratio': { type: 'string' }, out: { type: 'string' }, resume: { type: 'boolean' },
  'checkpoint-every': { type: 'string' }, json: { type: 'boolean' },
};
export const COMMON_HELP: Record<string, string> = {
  config: 'JSON file of options (flags override it)', model: `preset: ${PRESETS.join('|')} (default tiny)`,
  frames: 'frames per clip (default 16)', size: 'frame size (default 112)', batch: 'clips per micro-batch (default 8)',
  steps: 'optimiser steps (default 100)', lr: 'base lr, scaled by batch/256 (default 1.5e-4)', 'min-lr': 'base min lr (default 1e-5)',
  warmup: 'warmup steps (default steps/10)', 'weight-decay': 'default 0.05', accumulate: 'micro-batches per step (default 1)',
  seed: 'default 0', data: "'synthetic' (default, in memory) or 'list'", list: 'list file (path label per line)', root: 'root of the list paths',
  clips: 'synthetic clips (default 256)', 'on-bad-video': 'skip|fail (default skip)', 'mask-ratio': 'default 0.9 (MAE 0.75)',
  out: 'run folder: config.json, log.jsonl, checkpoints/, final weights', resume: 'continue from the run folder\'s latest checkpoint',
  'checkpoint-every': 'steps between checkpoints (default 50)', json: 'print the summary as JSON',
};

/** Options of the commands that train on a device (pretrain, distill). */
export const DEVICE_OPTION: Options = { device: { type: 'string' } };
export const DEVICE_HELP: Record<string, string> = {
  device: "cpu (default), cuda, cuda:N or auto (the first GPU when one is usable): the model, optimizer and batches live there",
};

/** Makes --device the default device of every tensor the run creates; a missing GPU is a usage error. */
export function useDevice(get: (k: string, d?: string) => string | undefined): string {
  const asked = get('device', 'cpu')!;
  const device = resolveDevice(asked);
  if (device !== 'cpu') {
    const info = gpuInfo();
    const index = Number(/^cuda:(\d+)$/.exec(device)?.[1] ?? NaN);
    if (!info.devices.some((d) => d.index === index))
      throw new UsageError(`--device ${asked}: no such CUDA device (${info.reason || `${info.devices.length} devices`})`);
  }
  setDefaultDevice(device);
  return device;
}

/** Flags over the JSON config over defaults. */
export function opts(v: Values): (k: string, d?: string) => string | undefined {
  let cfg: Record<string, unknown> = {};
  if (typeof v.config === 'string') {
    if (!existsSync(v.config)) throw new UsageError(`config file ${v.config} not found`);
    cfg = JSON.parse(readFileSync(v.config, 'utf8'));
  }
  return (k, d) => {
    const x = v[k] ?? cfg[k];
    return x === undefined ? d : String(x);
  };
}

export function preset(s: string | undefined): Preset {
  const p = s ?? 'tiny';
  if (!isPreset(p)) throw new UsageError(`unknown model '${p}' (one of ${PRESETS.join(', ')})`);
  return p;
}

/**
 * The training clips. `fixedView` (teacher cache): every load of a video gives the same view, the
 * centre window and centre crop, instead of the random multi-scale crop of SPEC §3.1.
 */
async function dataSource(get: ReturnType<typeof opts>, frames: number, size: number, seed: number, fixedView = false): Promise<ClipSource> {
  if ((get('data') ?? (get('list') ? 'list' : 'synthetic')) === 'synthetic')
    return new SyntheticDataset({ seed, count: Number(get('clips', '256')), frames, size });
  const list = get('list');
  if (!list) throw new UsageError('--data list needs --list FILE');
  const items = await readListFile(list, { root: get('root') });
  const policy = get('on-bad-video', 'skip');
  if (policy !== 'skip' && policy !== 'fail') throw new UsageError('--on-bad-video is skip or fail');
  return new VideoClipDataset({
    items, transform: fixedView ? { kind: 'val', sampling: 'dense', numFrames: frames, stride: 4, size } : { kind: 'pretrain', numFrames: frames, stride: 4, size }, onBadVideo: policy,
    onBad: (r) => process.stderr.write(`bad video skipped: ${r.file}: ${r.reason}\n`),
  });
}

async function runRecipe(name: string, recipe: Recipe, get: ReturnType<typeof opts>, v: Values, batch: number): Promise<number> {
  const steps = Number(get('steps', '100'));
  const acc = Number(get('accumulate', '1'));
  const total = batch * acc;
  const out = get('out');
  const p = new Progress(!!process.stderr.isTTY, !!v.json);
  const cfg = { command: name, ...Object.fromEntries(Object.entries(v).filter(([k]) => k !== 'json')) };
  const r = await train(recipe, {
    steps, accumulate: acc, lr: scaleLr(Number(get('lr', '1.5e-4')), total), minLr: scaleLr(Number(get('min-lr', '1e-5')), total),
    warmupSteps: Number(get('warmup', String(Math.round(steps / 10)))), weightDecay: Number(get('weight-decay', '0.05')),
    runDir: out, resume: !!v.resume, checkpointEvery: Number(get('checkpoint-every', '50')), config: cfg,
    onStep: (rec) => p.update(name, steps, rec, total),
  });
  p.done();
  if (out) await saveWeights(join(out, 'model.safetensors'), recipe.model, { method: name });
  const last = r.history[r.history.length - 1];
  const summary = { method: name, steps, resumedFrom: r.resumedFrom, startStep: r.startStep, finalLosses: last?.losses ?? null, out: out ?? null };
  console.log(v.json ? JSON.stringify(summary, null, 2) : `${name}: ${steps} steps${r.resumedFrom ? ` (resumed at ${r.startStep})` : ''}, final ${JSON.stringify(last?.losses ?? {})}${out ? `; weights in ${join(out, 'model.safetensors')}` : ''}`);
  recipe.dispose();
  return 0;
}

export const pretrainCommand: Command = {
  name: 'pretrain',
  summary: 'pretrain: --method mae (image teacher, on frames), videomae (video teacher) or mam2 (appearance + motion)',
  usage: 'mvd pretrain --method mae|videomae|mam2 [--model tiny] [--data synthetic | --list FILE --root DIR] [--out RUN] [--resume]',
  options: { method: { type: 'string' }, ...COMMON, ...DEVICE_OPTION },
  help: { method: 'mae, videomae or mam2', ...COMMON_HELP, ...DEVICE_HELP },
  async run(v) {
    const get = opts(v);
    useDevice(get);
    const method = get('method');
    const model = preset(get('model')), frames = Number(get('frames', '16')), size = Number(get('size', '112'));
    const seed = Number(get('seed', '0')), batch = Number(get('batch', '8'));
    const src = await dataSource(get, frames, size, seed);
    const data = new BatchSampler(src, batch, seed);
    if (method === 'mae') return runRecipe('mae', maeRecipe(data, { preset: model, size, maskRatio: Number(get('mask-ratio', '0.75')), seed }), get, v, batch);
    if (method === 'videomae') return runRecipe('videomae', videomaeRecipe(data, { preset: model, frames, size, maskRatio: Number(get('mask-ratio', '0.9')), seed }), get, v, batch);
    if (method === 'mam2') return runRecipe('mam2', mam2Recipe(data, { preset: model, frames, size, maskRatio: Number(get('mask-ratio', '0.9')), seed }), get, v, batch);
    throw new UsageError(`--method must be mae, videomae or mam2 (got '${method ?? ''}')`);
  },
};

async function loadTeacher(kind: TeacherKind, path: string, model: Preset, frames: number, size: number): Promise<Teacher> {
  const cfg = kind === 'img' ? imageVit(model, { size }) : videoVit(model, { frames, size, posEmbed: 'sinusoid1d' });
  const enc = new VisionTransformer(cfg, { finalNorm: true, frameStride: kind === 'img' ? 2 : undefined });
  const rep = await loadWeights(path, enc);
  if (rep.missing.length) throw new UsageError(`${path}: ${rep.missing.length} teacher weights missing (${rep.missing.slice(0, 4).join(', ')}…): is it a ${model} ${kind === 'img' ? 'MAE' : 'VideoMAE'} checkpoint?`);
  return new Teacher(kind, enc);
}

export const distillCommand: Command = {
  name: 'distill',
  summary: 'MVD: distill a tube-masked student from an image teacher, a video teacher, or both',
  usage: 'mvd distill --teachers both --image-teacher IMG.safetensors --video-teacher VID.safetensors [--teacher-model tiny] [--model tiny] [--teacher-cache DIR] [--out RUN]',
  options: {
    teachers: { type: 'string' }, 'image-teacher': { type: 'string' }, 'video-teacher': { type: 'string' }, 'teacher-model': { type: 'string' },
    loss: { type: 'string' }, 'w-img': { type: 'string' }, 'w-vid': { type: 'string' }, 'drop-path': { type: 'string' }, 'teacher-cache': { type: 'string' },
    'no-pack-teachers': { type: 'boolean' }, ...COMMON, ...DEVICE_OPTION,
  },
  help: {
    teachers: 'image|video|both (default both)', 'image-teacher': 'MAE weights (safetensors)', 'video-teacher': 'VideoMAE weights (safetensors)',
    'teacher-model': 'teacher preset (default: --model)', loss: 'smoothl1|l2|l1 (default smoothl1)', 'w-img': 'image loss weight (1)', 'w-vid': 'video loss weight (1)',
    'drop-path': 'student drop path (default 0.1)',
    'teacher-cache': 'DIR: run each teacher once per clip and reuse its features from DIR in later epochs. APPROXIMATION: each clip is seen ' +
      'through one fixed view (video files: centre window, centre crop) instead of random multi-scale crops; masks still change every step',
    'no-pack-teachers': "keep one copy of the teachers' weights: by default each is also packed once for the CPU GEMM (faster teacher " +
      'forwards, a second copy of their weights in memory)',
    ...COMMON_HELP, ...DEVICE_HELP,
  },
  async run(v) {
    const get = opts(v);
    useDevice(get);
    const model = preset(get('model')), tmodel = preset(get('teacher-model') ?? get('model'));
    const frames = Number(get('frames', '16')), size = Number(get('size', '112')), seed = Number(get('seed', '0')), batch = Number(get('batch', '8'));
    const which = get('teachers', 'both');
    if (!['image', 'video', 'both'].includes(which!)) throw new UsageError('--teachers is image, video or both');
    const teachers: Partial<Record<TeacherKind, Teacher>> = {};
    if (which !== 'video') {
      const p = get('image-teacher');
      if (!p) throw new UsageError('--image-teacher WEIGHTS is required with --teachers image|both (make one with `mvd pretrain --method mae --out RUN`)');
      teachers.img = await loadTeacher('img', p, tmodel, frames, size);
    }
    if (which !== 'image') {
      const p = get('video-teacher');
      if (!p) throw new UsageError('--video-teacher WEIGHTS is required with --teachers video|both (make one with `mvd pretrain --method videomae --out RUN`)');
      teachers.vid = await loadTeacher('vid', p, tmodel, frames, size);
    }
    const loss = get('loss', 'smoothl1') as 'smoothl1' | 'l2' | 'l1';
    if (!['smoothl1', 'l2', 'l1'].includes(loss)) throw new UsageError('--loss is smoothl1, l2 or l1');
    const cacheDir = get('teacher-cache');
    const src = await dataSource(get, frames, size, seed, !!cacheDir);
    const data = new BatchSampler(src, batch, seed);
    const teacherCache: Partial<Record<TeacherKind, TeacherCache>> = {};
    if (cacheDir) {
      const clipId = src instanceof VideoClipDataset
        ? (i: number) => `${basename(src.items[i].path)}-${createHash('sha1').update(resolve(src.items[i].path)).digest('hex').slice(0, 10)}`
        : (i: number) => `synth-seed${seed}-${i}`;
      const view = src instanceof VideoClipDataset ? `centre-f${frames}x4-s${size}` : `full-f${frames}-s${size}`;
      for (const [k, t] of Object.entries(teachers) as [TeacherKind, Teacher][]) teacherCache[k] = await TeacherCache.open(cacheDir, t, { clipId, view });
    }
    const r = distillRecipe(data, {
      student: model, frames, size, teachers, loss, wImg: Number(get('w-img', '1')), wVid: Number(get('w-vid', '1')),
      maskRatio: Number(get('mask-ratio', '0.9')), dropPath: Number(get('drop-path', '0.1')), seed, teacherCache,
      packTeachers: !v['no-pack-teachers'],
    });
    const code = await runRecipe('mvd', r, get, v, batch);
    if (cacheDir && !v.json) {
      const c = Object.values(teacherCache);
      console.log(`teacher cache ${cacheDir}: ${c.map((x) => `${x.teacher.kind} ${x.forwards} clips computed, ${x.hits} read`).join('; ')} (fixed views: an approximation of random crops)`);
    }
    for (const t of Object.values(teachers)) t.dispose();
    return code;
  },
};

/** An encoder of the given preset with weights loaded (student, VideoMAE or fine-tuned checkpoints). */
async function loadEncoder(path: string, model: Preset, frames: number, size: number, pos: 'sincos3d' | 'sinusoid1d'): Promise<VisionTransformer> {
  const enc = new VisionTransformer(videoVit(model, { frames, size, posEmbed: pos }), { finalNorm: true });
  const rep = await loadWeights(path, enc);
  const missing = rep.missing.filter((n) => !n.startsWith('norm.'));
  if (missing.length) throw new UsageError(`${path}: ${missing.length} encoder weights missing (${missing.slice(0, 4).join(', ')}…) for model ${model}`);
  return enc;
}

export const extractCommand: Command = {
  name: 'extract',
  summary: 'encoder features of one clip (from a tensor file or a video) to safetensors',
  usage: 'mvd extract --checkpoint W.safetensors --model base (--input clip.safetensors | --video file.mp4) --out feats.safetensors [--layer prenorm|norm]',
  options: {
    checkpoint: { type: 'string' }, model: { type: 'string' }, input: { type: 'string' }, video: { type: 'string' }, out: { type: 'string' },
    layer: { type: 'string' }, frames: { type: 'string' }, size: { type: 'string' }, pos: { type: 'string' }, json: { type: 'boolean' },
  },
  help: {
    checkpoint: 'weights (MVD student, VideoMAE or fine-tuned; reference key names)', model: 'preset', input: 'float32 [3,T,H,W] already normalised, key "clip" (or the only tensor)',
    video: 'a video file: T frames at stride 4 from the middle, short side to size, centre crop, ImageNet normalisation', out: 'output safetensors (keys "features" [N,D] and "pooled" [D])',
    layer: 'prenorm (last block) or norm (after the final norm, default)', frames: 'frames (default 16)', size: 'size (default 224)',
    pos: 'positional table: sincos3d (MVD, default) or sinusoid1d (VideoMAE)', json: 'print JSON',
  },
  async run(v) {
    const ck = v.checkpoint, out = v.out;
    if (typeof ck !== 'string' || typeof out !== 'string') throw new UsageError('--checkpoint and --out are required');
    const model = preset(v.model as string | undefined);
    let clip: Tensor;
    if (typeof v.input === 'string') {
      const { tensors } = await loadSafetensors(v.input);
      const t = tensors.get('clip') ?? (tensors.size === 1 ? [...tensors.values()][0] : undefined);
      if (!t) throw new UsageError(`${v.input}: expected a tensor named "clip" (or exactly one tensor)`);
      if (t.ndim !== 4 || t.shape[0] !== 3 || t.dtype !== 'f32') throw new UsageError(`${v.input}: the clip must be float32 [3,T,H,W], got ${t.dtype} [${t.shape}]`);
      clip = t.reshape([1, ...t.shape]);
    } else if (typeof v.video === 'string') {
      const frames = Number(v.frames ?? 16), size = Number(v.size ?? 224);
      const info = await probeVideo(v.video);
      const idx = denseCentreIndices(info.frameCount, frames, 4);
      const { resized, crop } = centreCrop(info.width, info.height, size);
      const dec = await decodeFrames(v.video, idx, { info, resize: resized, crop, outW: size, outH: size });
      using u8 = Tensor.fromArray(dec.data, [1, frames, size, size, 3]);
      clip = framesToClip(u8, IMAGENET_MEAN, IMAGENET_STD);
    } else throw new UsageError('one of --input or --video is required');
    const [, , T, H] = clip.shape;
    using enc = await loadEncoder(ck, model, T, H, v.pos === 'sinusoid1d' ? 'sinusoid1d' : 'sincos3d');
    enc.eval();
    const e = enc.forward(clip);
    const feats = v.layer === 'prenorm' ? e.prenorm : e.out!;
    using pooled = meanTokens(feats);
    using f2 = feats.reshape(feats.shape.slice(1));
    using p1 = pooled.reshape([pooled.shape[1]]);
    await saveSafetensors(out, { features: f2, pooled: p1 }, { model, layer: String(v.layer ?? 'norm'), checkpoint: ck });
    for (const t of [e.prenorm, e.out, clip]) t?.dispose();
    console.log(v.json ? JSON.stringify({ out, tokens: f2.shape[0], dim: f2.shape[1] }) : `wrote ${out}: features [${f2.shape}] and pooled [${p1.shape}]`);
    return 0;
  },
};

export const probeCommand: Command = {
  name: 'probe',
  summary: 'linear probe of a frozen encoder on the synthetic appearance or motion task',
  usage: 'mvd probe --checkpoint W.safetensors [--model tiny] [--label appearance|motion] [--frames 8 --size 64]',
  options: {
    checkpoint: { type: 'string' }, model: { type: 'string' }, label: { type: 'string' }, frames: { type: 'string' }, size: { type: 'string' },
    clips: { type: 'string' }, seed: { type: 'string' }, steps: { type: 'string' }, pos: { type: 'string' }, json: { type: 'boolean' },
  },
  help: {
    checkpoint: 'encoder weights', model: 'preset (default tiny)', label: 'appearance (default) or motion', frames: 'default 16', size: 'default 112',
    clips: 'train clips (default 512; val = half)', seed: 'default 0', steps: 'probe steps (default 300)', pos: 'sincos3d (default) or sinusoid1d', json: 'print JSON',
  },
  async run(v) {
    if (typeof v.checkpoint !== 'string') throw new UsageError('--checkpoint is required');
    const model = preset(v.model as string | undefined), frames = Number(v.frames ?? 16), size = Number(v.size ?? 112), seed = Number(v.seed ?? 0);
    const label = (v.label ?? 'appearance') as 'appearance' | 'motion';
    if (label !== 'appearance' && label !== 'motion') throw new UsageError('--label is appearance or motion');
    const n = Number(v.clips ?? 512);
    using enc = await loadEncoder(v.checkpoint, model, frames, size, v.pos === 'sinusoid1d' ? 'sinusoid1d' : 'sincos3d');
    const tr = await extractFeatures(enc, new SyntheticDataset({ seed, count: n, frames, size }));
    const va = await extractFeatures(enc, new SyntheticDataset({ seed: seed + 100000, count: Math.max(1, n >> 1), frames, size }));
    const classes = label === 'appearance' ? APPEARANCE_CLASSES.length : MOTION_CLASSES.length;
    const r = await linearProbe({ x: tr.features, y: tr.labelSets[label] }, { x: va.features, y: va.labelSets[label] }, classes, { steps: Number(v.steps ?? 300), seed });
    tr.features.dispose();
    va.features.dispose();
    console.log(v.json ? JSON.stringify({ label, ...r }) : `${label}: train top-1 ${(100 * r.trainAcc).toFixed(1)}%, val top-1 ${(100 * r.valAcc).toFixed(1)}% (chance ${(100 / classes).toFixed(0)}%)`);
    return 0;
  },
};
