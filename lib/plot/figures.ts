// The numbers behind `mvd plot`: loss/lr curves from a run's log.jsonl, the cross-frame feature
// similarity of an encoder (the paper's Figure 3), and MAE/VideoMAE reconstruction strips. Model
// outputs, pooling, similarities and patch statistics are native ops; this file only arranges
// them and hands pixels to the chart layouts.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Tensor } from '../tensor.js';
import { ValueError } from '../errors.js';
import { gemm } from '../ops/gemm.js';
import { rowScale } from '../ops/elementwise.js';
import { maePixelTarget, videomaePixelTarget } from '../ops/targets.js';
import { gatherTokens } from '../ops/tokens.js';
import { VisionTransformer } from '../nn/encoder.js';
import { Teacher } from '../nn/mvd.js';
import { imageVit, videoVit, gridOf, isPreset, PRESETS, type Preset } from '../nn/config.js';
import { loadAllWeights, loadStateDict } from '../io/checkpoint.js';
import { loadSafetensors, readSafetensorsHeader } from '../io/safetensors.js';
import { SyntheticDataset } from '../data/synthetic.js';
import { batchMasks } from '../data/masking.js';
import { BatchSampler, IMAGENET_MEAN, IMAGENET_STD, stackClips } from '../methods/batch.js';
import { PRETRAIN_METHODS } from '../methods/pretrain-methods.js';
import { checkpointKind } from '../methods/finetune.js';
import { linePanels, heatmap, imageRows, type Panel } from './charts.js';
import type { Canvas } from './canvas.js';

// ---- curves ---------------------------------------------------------------------------------

export interface RunLog {
  steps: number[];
  lr: number[];
  losses: Record<string, number[]>;
}

export function readRunLog(runDir: string): RunLog {
  if (!existsSync(runDir)) throw new ValueError(`run folder ${runDir} not found`);
  const path = join(runDir, 'log.jsonl');
  if (!existsSync(path)) throw new ValueError(`${runDir} has no log.jsonl: is it a run folder (written by --out RUN)?`);
  const log: RunLog = { steps: [], lr: [], losses: {} };
  readFileSync(path, 'utf8')
    .split('\n')
    .forEach((line, n) => {
      if (!line.trim()) return;
      let r: { kind?: string; step: number; lr: number; losses: Record<string, number> };
      try {
        r = JSON.parse(line);
      } catch {
        throw new ValueError(`${path}:${n + 1}: not JSON`);
      }
      if (r.kind !== 'step') return;
      // A resumed run appends steps it may already have logged: the later record wins.
      const at = log.steps.indexOf(r.step);
      if (at >= 0) {
        log.steps.splice(at);
        log.lr.splice(at);
        for (const k of Object.keys(log.losses)) log.losses[k].splice(at);
      }
      log.steps.push(r.step);
      log.lr.push(r.lr);
      for (const [k, v] of Object.entries(r.losses)) (log.losses[k] ??= []).push(v);
    });
  if (log.steps.length === 0) throw new ValueError(`${path} has no step records yet`);
  return log;
}

export function curvesFigure(log: RunLog, opts: { width?: number; title?: string } = {}): Canvas {
  const panels: Panel[] = [
    {
      title: `${opts.title ? `${opts.title}: ` : ''}loss`,
      series: Object.entries(log.losses).map(([name, y]) => ({ name, x: log.steps.slice(0, y.length), y })),
    },
    { title: 'learning rate', series: [{ name: 'lr', x: log.steps, y: log.lr }] },
  ];
  return linePanels(panels, opts.width ?? 800);
}

// ---- cross-frame similarity ----------------------------------------------------------------------

// frameSimilarity and meanOffDiagonal live in lib/methods (the demo, a layer below, uses them too).
export { frameSimilarity, meanOffDiagonal } from '../methods/demo-similarity.js';

const DIMS: Record<number, Preset> = { 128: 'tiny', 384: 'small', 768: 'base', 1024: 'large', 1280: 'huge' };

export interface FeatureEncoder extends Disposable {
  kind: 'student' | 'videomae' | 'image';
  preset: Preset;
  /** Temporal slots of a clip of the given frames (tubelets, or the image teacher's frames 0, 2, …). */
  slots: number;
  /** Pre-final-norm features [1, slots·P, D] of a clip [1, 3, T, H, W]. */
  features(video: Tensor): Tensor;
}

/**
 * Any of our encoder checkpoints for feature maps: MVD student or fine-tuned (3D table), VideoMAE
 * (encoder.*, 1D table) or MAE image teacher (cls token; run on frames 0, 2, … like in distillation).
 * The preset follows from the embedding width unless given.
 */
export async function loadFeatureEncoder(path: string, o: { frames: number; size: number; preset?: Preset }): Promise<FeatureEncoder> {
  if (!existsSync(path)) throw new ValueError(`checkpoint ${path} not found`);
  const h = await readSafetensorsHeader(path);
  const kind = checkpointKind(h.tensors.keys());
  const pe = h.tensors.get('patch_embed.proj.weight') ?? h.tensors.get('encoder.patch_embed.proj.weight');
  if (!pe) throw new ValueError(`${path} has no patch_embed.proj.weight: not an encoder checkpoint`);
  const preset = o.preset ?? DIMS[pe.shape[0]];
  if (!preset || !isPreset(preset))
    throw new ValueError(`${path}: embedding width ${pe.shape[0]} matches no preset (${PRESETS.join(', ')}); pass --model`);
  const cfg =
    kind === 'image'
      ? imageVit(preset, { size: o.size })
      : videoVit(preset, { frames: o.frames, size: o.size, posEmbed: kind === 'videomae' ? 'sinusoid1d' : 'sincos3d' });
  // The features are taken before the final norm, so the encoder has none: every parameter it has
  // then comes from the file (a fine-tuned checkpoint has no `norm.*`), and a random
  // initialisation would only be overwritten.
  const enc = await loadAllWeights(
    path,
    new VisionTransformer(cfg, { finalNorm: false, frameStride: kind === 'image' ? 2 : undefined, init: 'none' }),
  );
  // Teacher gives both views: frozen, pre-norm, the image kind on frames 0, 2, … without cls.
  const view = new Teacher(kind === 'image' ? 'img' : 'vid', enc);
  return {
    kind,
    preset,
    slots: kind === 'image' ? Math.ceil(o.frames / 2) : gridOf(cfg).t,
    features: (video) => view.features(video),
    [Symbol.dispose]: () => enc.dispose(),
  };
}

export function similarityFigure(m: number[][], title: string): Canvas {
  return heatmap(m, { title, cell: m.length <= 12 ? 44 : 24, hi: 1 });
}

// ---- reconstruction strips --------------------------------------------------------------------

/** A run's options: config.json (flags as given) over its --config file, with the CLI's defaults. */
export function runOptions(runDir: string): Record<string, string> {
  if (!existsSync(runDir)) throw new ValueError(`run folder ${runDir} not found`);
  const p = join(runDir, 'config.json');
  if (!existsSync(p)) throw new ValueError(`${runDir} has no config.json: is it a run folder (written by --out RUN)?`);
  const cfg = JSON.parse(readFileSync(p, 'utf8')) as Record<string, unknown>;
  const file = typeof cfg.config === 'string' && existsSync(cfg.config) ? JSON.parse(readFileSync(cfg.config, 'utf8')) : {};
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries({ ...file, ...cfg })) if (v !== undefined && v !== null) out[k] = String(v);
  return out;
}

/** The run's final weights, else its newest checkpoint. */
export function runWeights(runDir: string): string {
  const final = join(runDir, 'model.safetensors');
  if (existsSync(final)) return final;
  const latest = join(runDir, 'checkpoints', 'latest.json');
  if (existsSync(latest)) return join(runDir, 'checkpoints', JSON.parse(readFileSync(latest, 'utf8')).checkpoint, 'model.safetensors');
  throw new ValueError(`${runDir} has neither model.safetensors nor checkpoints/latest.json`);
}

export interface ReconStrips {
  method: 'mae' | 'videomae';
  width: number;
  height: number;
  rows: { label: string; images: Uint8Array[] }[];
  /** MSE of the prediction against the model's own target at the masked tokens. */
  maskedMse: number;
}

/**
 * Masked input / reconstruction / target for synthetic clip `index` of a MAE or VideoMAE run
 * (same data seed, mask type and ratio as the run). Predictions of a per-patch normalised target
 * are shown de-normalised with the true patch's statistics, as the reference visualisations do.
 */
export async function reconstructionStrips(runDir: string, o: { index?: number } = {}): Promise<ReconStrips> {
  const cfg = runOptions(runDir);
  const method = cfg.method;
  if (method !== 'mae' && method !== 'videomae')
    throw new ValueError(
      `${runDir} is a '${cfg.command ?? '?'}${method ? ` --method ${method}` : ''}' run: reconstruction strips need a MAE or VideoMAE pretraining run`,
    );
  const model = (cfg.model ?? 'tiny') as Preset;
  if (!isPreset(model)) throw new ValueError(`${runDir}: unknown model '${model}'`);
  const frames = Number(cfg.frames ?? 16),
    size = Number(cfg.size ?? 112),
    seed = Number(cfg.seed ?? 0);
  // The run's own recipe and default mask, from the table `mvd pretrain --method` builds runs with.
  const ratio = Number(cfg['mask-ratio'] ?? PRETRAIN_METHODS[method].maskRatio);
  const index = o.index ?? 0;
  const ds = new SyntheticDataset({ seed, count: index + 1, frames, size });
  const dummy = new BatchSampler(ds, 1, seed);
  const recipe = PRETRAIN_METHODS[method].recipe(dummy, { preset: model, frames, size, maskRatio: ratio, seed });
  try {
    const weights = runWeights(runDir);
    const { tensors } = await loadSafetensors(weights);
    try {
      loadStateDict(recipe.model, tensors, { strict: true, mapKeys: false });
    } finally {
      for (const t of tensors.values()) t.dispose();
    }
    recipe.model.eval();
    const sample = await ds.get(index);
    const c = recipe.model.encoder.config;
    const g = gridOf(c);
    const shown = method === 'mae' ? 1 : frames;
    const one = method === 'mae' ? { ...sample, frames: sample.frames.subarray(0, size * size * 3), shape: [1, 1, size, size, 3] } : sample;
    const b = stackClips([one]);
    using video = b.video;
    const m = batchMasks(method === 'mae' ? 'random' : 'tube', method === 'mae' ? { t: 1, h: g.h, w: g.w } : g, ratio, 1, seed * 7 + index);
    using vis = Tensor.fromArray(m.visible, [1, m.numVisible]);
    using msk = Tensor.fromArray(m.masked, [1, m.numMasked]);
    const enc = recipe.model.encoder.forward(video, vis);
    enc.prenorm.dispose();
    using pred = recipe.model.decoder.forward(enc.out!, vis, msk);
    enc.out!.dispose();
    // Raw patches in the units the target was made from: MAE patchifies the normalised image,
    // VideoMAE un-normalises to [0,1] first (lib/ops/targets.ts).
    using images = method === 'mae' ? video.reshape([1, 3, size, size]) : null;
    using raw =
      method === 'mae'
        ? maePixelTarget(images!, { mean: [0, 0, 0], std: [1, 1, 1], patch: c.patch, normalize: false })
        : videomaePixelTarget(video, { mean: IMAGENET_MEAN, std: IMAGENET_STD, tubelet: c.tubelet, patch: c.patch, normalize: false });
    using target =
      method === 'mae'
        ? maePixelTarget(images!, { mean: [0, 0, 0], std: [1, 1, 1], patch: c.patch, normalize: true })
        : videomaePixelTarget(video, { mean: IMAGENET_MEAN, std: IMAGENET_STD, tubelet: c.tubelet, patch: c.patch, normalize: true });
    using rawMasked = gatherTokens(raw, msk);
    using tgtMasked = gatherTokens(target, msk);
    const groups = method === 'mae' ? 1 : 3;
    const stats = await patchStats(rawMasked, groups);
    const [rawA, predA, tgtA] = [await raw.toArray(), await pred.toArray(), await tgtMasked.toArray()];
    let se = 0;
    for (let i = 0; i < predA.length; i++) se += (predA[i] - tgtA[i]) ** 2;
    const L = raw.shape[2];
    const tub = method === 'mae' ? 1 : c.tubelet,
      p = c.patch;
    // Value → display pixel: VideoMAE patches are [0,1]; MAE patches are ImageNet-normalised.
    const toU8 = (v: number, ch: number) =>
      Math.round(255 * Math.min(1, Math.max(0, method === 'mae' ? v * IMAGENET_STD[ch] + IMAGENET_MEAN[ch] : v)));
    const blank = () => Array.from({ length: shown }, () => new Uint8Array(size * size * 3));
    const [maskedImg, reconImg, targetImg] = [blank(), blank(), blank()];
    const isMasked = new Map<number, number>();
    m.masked.forEach((tok, j) => isMasked.set(tok, j));
    for (let n = 0; n < g.tokens; n++) {
      const tt = Math.floor(n / (g.h * g.w)),
        hh = Math.floor(n / g.w) % g.h,
        ww = n % g.w;
      const j = isMasked.get(n);
      for (let e = 0; e < L; e++) {
        const ch = e % 3,
          px = Math.floor(e / 3) % p,
          py = Math.floor(e / (3 * p)) % p,
          ti = Math.floor(e / (3 * p * p));
        const f = tt * tub + ti;
        const o = ((hh * p + py) * size + (ww * p + px)) * 3 + ch;
        const v = rawA[n * L + e];
        targetImg[f][o] = toU8(v, ch);
        if (j === undefined) {
          maskedImg[f][o] = reconImg[f][o] = toU8(v, ch);
        } else {
          maskedImg[f][o] = 128;
          const gidx = e % groups;
          const mu = stats.mean[j * groups + gidx],
            vr = Math.max(0, stats.varU[j * groups + gidx]);
          const sd = method === 'mae' ? Math.sqrt(vr + 1e-6) : Math.sqrt(vr) + 1e-6;
          reconImg[f][o] = toU8(predA[j * L + e] * sd + mu, ch);
        }
      }
    }
    return {
      method,
      width: size,
      height: size,
      maskedMse: se / predA.length,
      rows: [
        { label: 'masked', images: maskedImg },
        { label: 'recon', images: reconImg },
        { label: 'target', images: targetImg },
      ],
    };
  } finally {
    recipe.dispose();
  }
}

/**
 * Per-token mean and unbiased variance of x [1, M, L] over the L/G values of each group (column
 * index mod G; G = 3 is per channel for channel-fastest patches), by two GEMMs with a selector.
 */
async function patchStats(x: Tensor, groups: number): Promise<{ mean: Float32Array; varU: Float32Array }> {
  const [, m, l] = x.shape;
  const k = l / groups;
  const sel = new Float32Array(l * groups);
  for (let j = 0; j < l; j++) sel[j * groups + (j % groups)] = 1 / k;
  using s = Tensor.fromArray(sel, [l, groups]);
  using x2d = x.reshape([m, l]);
  using mean = gemm(x2d, s);
  using col = x.reshape([m * l, 1]);
  using flat = x.reshape([m * l]);
  using sq = rowScale(col, flat);
  using sq2d = sq.reshape([m, l]);
  using ex2 = gemm(sq2d, s);
  const [mu, e2] = [await mean.toArray(), await ex2.toArray()];
  const varU = Float32Array.from(mu, (u, i) => ((e2[i] - u * u) * k) / Math.max(1, k - 1));
  return { mean: mu, varU };
}

export function reconFigure(r: ReconStrips): Canvas {
  const zoom = r.width <= 64 ? 3 : r.width <= 112 ? 2 : 1;
  return imageRows(r.rows, r.width, r.height, { zoom });
}
