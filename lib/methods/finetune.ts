// Fine-tuning recipe (SPEC §4): the VideoClassifier from a pretrained encoder (or random init),
// trained by the shared loop (lib/methods/train.ts) with layer-wise lr decay, drop path, label
// smoothing, Mixup/CutMix through the soft-target cross-entropy op, and repeated augmentation.
//
// Pixel work, and what is approximate:
// - RandAugment, random erasing and the Mixup/CutMix blend are the native ops of lib/ops/augment.ts;
//   their parameters are drawn here from the seeded RNG (lib/data/augment.ts).
// - In-memory synthetic clips carry no augmentation of their own: each repeated view gets a
//   random-resized crop (SPEC §4.4 parameters) and, when allowed, a flip, by the native frame ops
//   (resizeCrop, flipFrames). Video files get theirs from ffmpeg (the dataset's 'finetune' transform).
import { Tensor, tensorScope, tidy } from '../tensor.js';
import { ShapeError, ValueError } from '../errors.js';
import { crossEntropy } from '../ops/xent.js';
import { flipFrames, framesToClip, resizeCrop } from '../ops/frames.js';
import { mixBatch, randAugmentFrames } from '../ops/augment.js';
import { VideoClassifier, type ClassifierOptions } from '../nn/classifier.js';
import { videoVit, type Preset, type VitConfig } from '../nn/config.js';
import { loadWeights, type LoadReport } from '../io/checkpoint.js';
import { Rng } from '../data/rng.js';
import {
  applyErasing,
  flipFlag,
  mixTargets,
  mixupCutmix,
  randAugment,
  randAugmentSteps,
  randomErasing,
  randomResizedCrop,
  type ErasingBox,
  type MixParams,
  type RandAugmentOp,
} from '../data/augment.js';
import { type BatchSampler, IMAGENET_MEAN, IMAGENET_STD, type SkipReport } from './batch.js';
import { applyLossScale } from './loss-scale.js';
import type { Recipe } from './train.js';

/** Batch-level Mixup/CutMix settings (timm Mixup, mode 'batch'); unset fields take FINETUNE_DEFAULTS.mix. */
export interface MixOptions {
  mixupAlpha?: number;
  cutmixAlpha?: number;
  /** Probability that a batch is mixed at all (SPEC: 1.0). */
  prob?: number;
  /** Probability of CutMix rather than Mixup when both are on (SPEC: 0.5). */
  switchProb?: number;
}

/**
 * Options of the fine-tuning recipe (SPEC §4); unset fields take FINETUNE_DEFAULTS. The crop, flip,
 * RandAugment and erasing fields apply to in-memory clips; video files get theirs from the dataset transform.
 */
export interface FinetuneOptions {
  preset: Preset;
  frames: number;
  size: number;
  numClasses: number;
  /** Videos per micro-batch; the model sees videos × repeated clips. */
  batchSize: number;
  /** Which label of a multi-label sample to learn ('appearance' | 'motion' on the synthetic set); default `sample.label`. */
  label?: string;
  /** Repeated augmentation: clips per video (SPEC num_sample = 2). */
  repeated?: number;
  dropPath?: number;
  fcDropout?: number;
  labelSmoothing?: number;
  /** Mixup/CutMix (SPEC α 0.8 / 1.0, prob 1, switch 0.5); false turns both off. */
  mix?: MixOptions | false;
  /** Flip probability for in-memory clips (0.5; use 0 when left/right is the label, as on SSv2 or the motion task). */
  flip?: number;
  /** Random-resized-crop area range for in-memory clips (SPEC [0.08, 1]). */
  cropScale?: [number, number];
  /** RandAugment m7-n4 on in-memory clips (default on; applied only when the addon has the op). */
  randAugment?: boolean;
  /** Random-erasing probability for in-memory clips (SPEC 0.25; applied only when the addon has the op). */
  erasing?: number;
  /** Positional table of the backbone (sincos3d for MVD students; sinusoid1d for VideoMAE encoders). */
  posEmbed?: VitConfig['posEmbed'];
  seed: number;
}

/** SPEC §4.3/§4.4/§4.7 defaults for the small models. */
export const FINETUNE_DEFAULTS = {
  repeated: 2,
  dropPath: 0.1,
  fcDropout: 0,
  labelSmoothing: 0.1,
  layerDecay: 0.75,
  beta2: 0.999,
  weightDecay: 0.05,
  baseLr: 5e-4,
  baseMinLr: 1e-6,
  flip: 0.5,
  cropScale: [0.08, 1] as [number, number],
  erasing: 0.25,
  mix: { mixupAlpha: 0.8, cutmixAlpha: 1.0, prob: 1.0, switchProb: 0.5 } as MixOptions,
};

/** The classification model of SPEC §4.1 for a preset. */
export function makeClassifier(
  o: Pick<FinetuneOptions, 'preset' | 'frames' | 'size' | 'numClasses' | 'dropPath' | 'fcDropout' | 'posEmbed' | 'seed'> &
    Pick<ClassifierOptions, 'encoderInit'>,
): VideoClassifier {
  const cfg = videoVit(o.preset, { frames: o.frames, size: o.size, ...(o.posEmbed ? { posEmbed: o.posEmbed } : {}) });
  return new VideoClassifier(cfg, {
    numClasses: o.numClasses,
    dropPath: o.dropPath ?? FINETUNE_DEFAULTS.dropPath,
    fcDropout: o.fcDropout ?? 0,
    seed: o.seed,
    encoderInit: o.encoderInit,
  });
}

/** 'student' (MVD, sincos3d at the root), 'videomae' (encoder.* keys, 1D table), 'image' (MAE: cls token), from the key names. */
export function checkpointKind(keys: Iterable<string>): 'student' | 'videomae' | 'image' {
  const ks = [...keys];
  if (ks.includes('cls_token') || ks.includes('encoder.cls_token')) return 'image';
  if (ks.some((k) => k.startsWith('encoder.blocks.'))) return 'videomae';
  return 'student';
}

/**
 * Loads an encoder checkpoint into a classifier as SPEC §4.2: reference keys mapped, `head.*` of
 * another shape dropped, non-strict. Throws a ValueError naming the file when the backbone is not
 * there (missing encoder weights) and a ShapeError when backbone shapes differ (other preset, size
 * or an image checkpoint), before any weight changes. The classifier's own initialisation stays
 * for `head.*` and `fc_norm.*` when the file has none that fit.
 */
export async function loadBackbone(model: VideoClassifier, path: string): Promise<LoadReport> {
  // loadWeights refuses any other missing or mismatched weight before assigning one, naming both
  // shapes, and makes the file's tensors the parameters themselves (no copy).
  const rep = await loadWeights(path, model, { mayStayFresh: ['head.', 'fc_norm.'] });
  // A new head may have another class count; fc_norm is [D] like every backbone width, so a file
  // whose fc_norm alone differs is broken, not a checkpoint of another model.
  const wrongNorm = rep.mismatched.filter((m) => m.name.startsWith('fc_norm.'));
  if (wrongNorm.length)
    throw new ShapeError(
      `${path}: ${wrongNorm.map((m) => `${m.name}: [${m.got}] vs [${m.expected}]${`${m.got}` === `${m.expected}` ? ' (another dtype)' : ''}`).join('; ')} (file vs model) ` +
        'while every other backbone weight fits: a damaged checkpoint?',
      { op: 'loadBackbone' },
    );
  return rep;
}

/**
 * Mixup or CutMix of clips [N, C, T, H, W] with the batch reversed: Mixup = λx + (1 − λ)x_rev;
 * CutMix pastes x_rev inside the box on every frame. Returns a new tensor (a copy for 'none').
 */
export function mixClips(video: Tensor, p: MixParams): Tensor {
  if (p.mode === 'none') return video.clone();
  return mixBatch(video, p.lambda, p.mode === 'cutmix' ? p.box : null);
}

/** One u8 view [T, size, size, 3] of an un-augmented clip: random-resized crop + optional flip. */
function augmentView(frames: Tensor<'u8'>, size: number, rng: Rng, flipP: number, cropScale: [number, number]): Tensor<'u8'> {
  const [, h, w] = frames.shape;
  const box = randomResizedCrop(w, h, rng, cropScale);
  const flip = flipFlag(rng, flipP);
  const c = resizeCrop(frames, box, size, size);
  return flip ? flipFrames(c) : c;
}

export interface FinetuneBatch extends Disposable {
  video: Tensor;
  labels: Int32Array;
}

/**
 * Micro-batch `i`: batchSize videos in the sampler's order, each giving `repeated` clips
 * ([v0a, v0b, v1a, …], the reference collate's order). Samples that already carry augmented views
 * (video files) are used as they are; single un-augmented views (synthetic) get crop, flip and
 * drawn RandAugment/erasing here; RandAugment runs on u8 frames, erasing on the normalised clip.
 */
export async function finetuneBatch(data: BatchSampler, i: number, o: FinetuneOptions): Promise<FinetuneBatch> {
  const R = o.repeated ?? FINETUNE_DEFAULTS.repeated;
  const lb = await data.loaderBatch(i);
  // The rest is synchronous: one scope frees the per-row views and the intermediate clips.
  using scope = tensorScope();
  const V = lb.views,
    [, t, h, w] = lb.shape;
  const perView = t * h * w * 3;
  const [tf, sz] = [o.frames, o.size];
  const videos = lb.indices.length,
    n = videos * R;
  let u8 = Tensor.empty<'u8'>([n, tf, sz, sz, 3], { dtype: 'u8' });
  const labels = new Int32Array(n);
  const pendingRa: RandAugmentOp[][] = Array.from({ length: n }, () => []);
  const erasing: (ErasingBox | null)[] = new Array(n).fill(null);
  for (let b = 0; b < videos; b++) {
    const y = o.label !== undefined ? (lb.labelSets?.[o.label]?.[b] ?? lb.labels[b * V]) : lb.labels[b * V];
    const augmented = lb.meta?.[b * V] !== undefined && V >= R;
    for (let r = 0; r < R; r++) {
      const row = b * R + r;
      const v = augmented ? r : r % V;
      const at = (b * V + v) * perView;
      using raw = Tensor.fromArray(lb.frames.subarray(at, at + perView), [t, h, w, 3]);
      let view: Tensor<'u8'>;
      if (augmented) {
        if (t !== tf || h !== sz || w !== sz)
          throw new ShapeError(`finetune: sample ${lb.indices[b]} has views [${t},${h},${w}], expected [${tf},${sz},${sz}]`, {
            op: 'finetuneBatch',
          });
        const m = lb.meta![b * V + v]!;
        if (m.randAugment && !m.randAugmentApplied) pendingRa[row] = m.randAugment;
        erasing[row] = m.erasing ?? null;
        view = raw as Tensor<'u8'>;
      } else {
        if (t !== tf) throw new ShapeError(`finetune: sample ${lb.indices[b]} has ${t} frames, expected ${tf}`, { op: 'finetuneBatch' });
        // Keyed by the clip, not its place in the batch: clips differ, and a resumed run redraws the same.
        const rng = new Rng(o.seed, 0xf1, lb.epoch, lb.requested[b], r);
        view = augmentView(raw as Tensor<'u8'>, sz, rng, o.flip ?? FINETUNE_DEFAULTS.flip, o.cropScale ?? FINETUNE_DEFAULTS.cropScale);
        if (o.randAugment !== false) pendingRa[row] = randAugment(rng);
        erasing[row] = randomErasing(sz, sz, rng, { p: o.erasing ?? FINETUNE_DEFAULTS.erasing });
      }
      using dst = u8.slice(row, row + 1);
      using src = view.reshape(dst.shape);
      dst.assign(src);
      labels[row] = y;
    }
  }
  if (pendingRa.some((l) => l.length)) u8 = randAugmentFrames(u8, pendingRa.map(randAugmentSteps));
  let video = framesToClip(u8, IMAGENET_MEAN, IMAGENET_STD);
  if (erasing.some((e) => e)) video = applyErasing(video, erasing);
  scope.keep(video);
  return { video, labels, [Symbol.dispose]: () => video.dispose() };
}

function checkLabels(labels: Int32Array, classes: number): void {
  for (const y of labels)
    if (!(y >= 0 && y < classes)) throw new ValueError(`finetune: label ${y} is outside [0, ${classes}) (set the number of classes)`);
}

/** The fine-tuning recipe for train(): forward, (mixed) soft-target cross-entropy, backward. */
export function finetuneRecipe(
  data: BatchSampler,
  o: FinetuneOptions,
  model: VideoClassifier = makeClassifier(o),
): Recipe & SkipReport & { model: VideoClassifier } {
  const eps = o.labelSmoothing ?? FINETUNE_DEFAULTS.labelSmoothing;
  const mix = o.mix === false ? null : { ...FINETUNE_DEFAULTS.mix, ...(o.mix ?? {}) };
  return {
    name: 'finetune',
    model,
    rowsPerSample: o.repeated ?? FINETUNE_DEFAULTS.repeated,
    async step(i, lossScale = 1) {
      using b = await finetuneBatch(data, i, o);
      checkLabels(b.labels, o.numClasses);
      const n = b.labels.length;
      const params: MixParams = mix ? mixupCutmix(o.size, o.size, new Rng(o.seed, 0x313, i), mix) : { mode: 'none', lambda: 1 };
      using loss = tidy(() => {
        const logits = model.forward(mixClips(b.video, params));
        const target =
          params.mode === 'none'
            ? Tensor.fromArray(b.labels, [n])
            : Tensor.fromArray(mixTargets(b.labels, o.numClasses, params.lambda, eps), [n, o.numClasses]);
        const r = crossEntropy(logits, target, { labelSmoothing: params.mode === 'none' ? eps : 0 });
        applyLossScale(lossScale, r.dLogits);
        model.backward(r.dLogits);
        return r.loss;
      });
      return { loss: await loss.item() };
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
