// The demo's evaluation protocol (the papers' own: fine-tuning). A pretrained encoder's weights go
// into a video classifier, which is trained end to end on one task's labels and scored on the
// held-out clips; the same encoder, frozen, is also linear-probed. Every row gets the same data,
// steps and schedule, so the rows differ only in where their weights came from.
import { Tensor } from '../tensor.js';
import { ShapeError, ValueError } from '../errors.js';
import { VideoClassifier } from '../nn/classifier.js';
import type { VisionTransformer } from '../nn/encoder.js';
import type { VitConfig } from '../nn/config.js';
import { loadStateDict, stateDict } from '../io/checkpoint.js';
import type { ClipSource } from '../data/types.js';
import { BatchSampler } from './batch.js';
import { finetuneRecipe } from './finetune.js';
import { evaluate } from './eval.js';
import { addInPlace, scale } from '../ops/elementwise.js';
import { extractFeatures, linearProbe, type ExtractedFeatures } from './probe.js';
import { train, type StepRecord } from './train.js';

export type DemoTask = 'appearance' | 'motion';
export const DEMO_TASKS: readonly DemoTask[] = ['appearance', 'motion'];

/**
 * An image (MAE) encoder's weights in a video encoder's names, exactly where the architectures
 * agree: the patch embedding is inflated over the tubelet (each frame's kernel divided by the
 * tubelet length, so a still clip gives the image encoder's tokens), and the qkv bias is split into
 * q and v biases. Dropping the k bias is exact: it adds the same q·b_k to every key of a query,
 * which softmax cancels. The cls token and the 2D table have no counterpart and stay behind.
 */
export async function inflateImageWeights(image: VisionTransformer, video: VitConfig): Promise<Map<string, Tensor>> {
  const out = new Map<string, Tensor>();
  const d = video.dim;
  for (const [name, t] of stateDict(image)) {
    if (name === 'patch_embed.proj.weight') {
      const [o, c, p, q] = t.shape;
      if (p !== video.patch || q !== video.patch || o !== d)
        throw new ShapeError(
          `inflateImageWeights: image patch embedding [${t.shape}] does not fit a video encoder of dim ${d}, patch ${video.patch}`,
          { op: 'inflateImageWeights' },
        );
      const src = (await t.toArray()) as Float32Array;
      const k = video.tubelet,
        plane = p * q;
      const dst = new Float32Array(o * c * k * plane);
      for (let oc = 0; oc < o * c; oc++)
        for (let f = 0; f < k; f++) for (let j = 0; j < plane; j++) dst[(oc * k + f) * plane + j] = src[oc * plane + j] / k;
      out.set(name, Tensor.fromArray(dst, [o, c, k, p, q]));
    } else if (name.endsWith('.attn.qkv.bias')) {
      const b = (await t.toArray()) as Float32Array;
      if (b.length !== 3 * d)
        throw new ShapeError(`inflateImageWeights: ${name} has ${b.length} values, expected 3 × ${d}`, { op: 'inflateImageWeights' });
      const stem = name.slice(0, -'qkv.bias'.length);
      out.set(`${stem}q_bias`, Tensor.fromArray(b.slice(0, d), [d]));
      out.set(`${stem}v_bias`, Tensor.fromArray(b.slice(2 * d), [d]));
    } else if (name.startsWith('blocks.') || name === 'patch_embed.proj.bias') out.set(name, t.clone());
  }
  return out;
}

export interface FinetuneSetting {
  steps: number;
  batch: number;
  lr: number;
  /**
   * Scale of the head's initial weights. SPEC's 0.001 leaves the encoder without gradient until the
   * head has grown, a large part of a few-hundred-step budget; 1 is the from-scratch default.
   */
  headInitScale: number;
  /**
   * Layer-wise lr decay (SPEC §4.3: block k gets decay^(depth − k) of the lr, the embeddings the
   * least): a pretrained encoder's lower blocks move less while the fresh head catches up. null: none.
   */
  layerDecay: number | null;
  /**
   * Shrink-and-perturb of a pretrained start: each encoder weight (blocks, patch embedding) starts
   * as shrink × pretrained + perturb × the classifier's own fresh initialisation, which is the
   * random-init row's encoder (same seed), so the pair differs only by the pretrained part.
   * null: the pretrained weights as they are. Ignored for random init.
   */
  shrinkPerturb: { shrink: number; perturb: number } | null;
  seed: number;
}

/**
 * `weights` with each encoder weight (blocks, patch embedding) mixed as shrink × weight + perturb ×
 * `model`'s current value; the other entries as given. dispose() frees the mixed tensors.
 */
export function shrinkAndPerturb(model: VideoClassifier, weights: Map<string, Tensor>, sp: { shrink: number; perturb: number }) {
  const fresh = stateDict(model);
  const out = new Map(weights);
  const made: Tensor[] = [];
  for (const [k, w] of weights) {
    const f = fresh.get(k);
    if (!f || !(k.startsWith('blocks.') || k.startsWith('patch_embed.'))) continue;
    if (f.shape.join() !== w.shape.join())
      throw new ShapeError(`shrinkAndPerturb: ${k} is [${w.shape}] in the weights, [${f.shape}] in the classifier`, {
        op: 'shrinkAndPerturb',
      });
    const m = addInPlace(scale(w, sp.shrink), f, sp.perturb);
    made.push(m);
    out.set(k, m);
  }
  return { weights: out, dispose: () => made.forEach((t) => t.dispose()) };
}

/**
 * Fine-tunes a classifier of `config` whose encoder starts from `weights` (random init when null)
 * on `task`, then scores it on `val`. No augmentation: at these budgets every training clip is
 * fresh (the pool is larger than steps × batch), and flips would change the motion label.
 */
export async function finetuneAndScore(
  config: VitConfig,
  weights: Map<string, Tensor> | null,
  task: DemoTask,
  trainSet: ClipSource,
  val: ClipSource,
  s: FinetuneSetting,
  onStep?: (rec: StepRecord) => void,
): Promise<number> {
  const model = new VideoClassifier(config, { numClasses: 4, seed: s.seed, initScale: s.headInitScale });
  try {
    if (weights) {
      const mixed = s.shrinkPerturb ? shrinkAndPerturb(model, weights, s.shrinkPerturb) : null;
      const rep = loadStateDict(model, mixed?.weights ?? weights, { mayStayFresh: ['head.', 'fc_norm.'] });
      mixed?.dispose();
      if (!rep.loaded.some((n) => n.startsWith('blocks.')))
        throw new ValueError(
          `finetuneAndScore: no encoder block was loaded from the ${weights.size} given weights (keys like '${[...weights.keys()][0]}'), expected blocks.*`,
        );
    }
    const data = new BatchSampler(trainSet, s.batch, s.seed + (task === 'motion' ? 1 : 0));
    const recipe = finetuneRecipe(
      data,
      {
        preset: 'tiny',
        frames: config.frames,
        size: config.size,
        numClasses: 4,
        batchSize: s.batch,
        label: task,
        seed: s.seed,
        repeated: 1,
        mix: false,
        randAugment: false,
        erasing: 0,
        flip: 0,
        labelSmoothing: 0,
        cropScale: [1, 1],
      },
      model,
    );
    await train(recipe, {
      steps: s.steps,
      lr: s.lr,
      minLr: s.lr / 100,
      warmupSteps: Math.max(1, Math.round(s.steps / 10)),
      weightDecay: 0.05,
      beta2: 0.999,
      onStep,
      ...(s.layerDecay === null ? {} : { layerDecay: { decay: s.layerDecay, depth: config.depth } }),
    });
    await data.close();
    const r = await evaluate(model, val, { classes: 4, label: task, batchVideos: 64 });
    return r.top1;
  } finally {
    model.dispose();
  }
}

/** Features of an encoder for the probes: extracted once, probed on both tasks. */
export async function probeBothTasks(
  encoder: VisionTransformer,
  probeTrain: ClipSource,
  val: ClipSource,
  o: { steps: number; seed: number; weightDecays: number[] },
): Promise<Record<DemoTask, number>> {
  const tr: ExtractedFeatures = await extractFeatures(encoder, probeTrain);
  const va: ExtractedFeatures = await extractFeatures(encoder, val);
  try {
    const acc = {} as Record<DemoTask, number>;
    for (const task of DEMO_TASKS) {
      const r = await linearProbe({ x: tr.features, y: tr.labelSets[task] }, { x: va.features, y: va.labelSets[task] }, 4, {
        steps: o.steps,
        seed: o.seed,
        weightDecay: o.weightDecays,
      });
      acc[task] = r.valAcc;
    }
    return acc;
  } finally {
    tr.features.dispose();
    va.features.dispose();
  }
}
