// Pretraining recipes: image MAE on video frames (SPEC §8), VideoMAE (SPEC §7), MAM2-style (SPEC §9).
import { gatherTokens, patchify } from '../ops/tokens.js';
import { layerNormForward } from '../ops/norm.js';
import { type Tensor, tidy } from '../tensor.js';
import { applyLossScale } from './loss-scale.js';
import { Mam2Model, type Mam2Config } from '../nn/mam2.js';
import { maePixelTarget, videomaePixelTarget, rgbDiffTarget } from '../ops/targets.js';
import { mseLoss } from '../ops/loss.js';
import { Module } from '../nn/module.js';
import { VisionTransformer, positionalTable } from '../nn/encoder.js';
import { MaeDecoder, MaskedDecoder } from '../nn/decoders.js';
import { imageVit, videoVit, videomaeDecoderFor, gridOf, type Preset, type VitConfig } from '../nn/config.js';
import type { MaskType } from '../data/masking.js';
import { IMAGENET_MEAN, IMAGENET_STD, maskedBatch, type BatchSampler, type SkipReport } from './batch.js';
import type { Recipe } from './train.js';

/**
 * The tail shared by the pixel-reconstruction recipes: decode the masked tokens from the encoder
 * output, MSE against the target at the masked positions, backward through decoder and encoder.
 * Synchronous: run it inside the step's tensor scope, which frees its temporaries; returns the loss.
 */
function reconstruct(
  model: {
    encoder: VisionTransformer;
    decoder: { forward(e: Tensor, v: Tensor<'i32'>, m: Tensor<'i32'>): Tensor; backward(d: Tensor): Tensor };
  },
  encOut: Tensor,
  vis: Tensor<'i32'>,
  msk: Tensor<'i32'>,
  fullTarget: Tensor,
  lossScale: number,
): Tensor {
  const pred = model.decoder.forward(encOut, vis, msk);
  const l = mseLoss(pred, gatherTokens(fullTarget, msk));
  applyLossScale(lossScale, l.dPred);
  model.encoder.backward(model.decoder.backward(l.dPred));
  return l.loss;
}

/** MAE model: encoder keys at the root, decoder_* beside them (the MAE repository's layout). */
export class MaeModel extends Module {
  readonly encoder: VisionTransformer;
  readonly decoder: MaeDecoder;
  constructor(
    readonly config: VitConfig,
    dec: { dim: number; depth: number; heads: number },
    seed: number,
  ) {
    super();
    this.encoder = this.child('', new VisionTransformer(config, { finalNorm: true, seed }));
    const decCfg = { ...config, dim: dec.dim };
    this.decoder = this.child(
      '',
      new MaeDecoder(
        { inDim: config.dim, dim: dec.dim, depth: dec.depth, heads: dec.heads, outDim: config.patch * config.patch * 3, eps: config.eps },
        positionalTable(decCfg, dec.dim),
        seed + 1,
      ),
    );
  }
}

export interface MaeOptions {
  preset: Preset;
  size: number;
  patch?: number;
  maskRatio?: number;
  decoder?: { dim: number; depth: number; heads: number };
  /** Per-patch normalised pixel target (norm_pix_loss). */
  normPix?: boolean;
  seed: number;
  override?: Partial<VitConfig>;
}

/**
 * Image MAE pretraining on video frames (SPEC §8): one frame per clip, 75% random masking, per-patch
 * normalised pixel target by default. The recipe owns `data` and closes it on dispose.
 */
export function maeRecipe(data: BatchSampler, o: MaeOptions): Recipe & SkipReport & { model: MaeModel } {
  const cfg = imageVit(o.preset, { size: o.size, ...(o.patch ? { patch: o.patch } : {}), ...o.override });
  const dec = o.decoder ?? (o.preset === 'tiny' ? { dim: 64, depth: 1, heads: 1 } : { dim: 512, depth: 8, heads: 16 });
  const model = new MaeModel(cfg, dec, o.seed);
  const grid = gridOf(cfg);
  return {
    name: 'mae',
    model,
    async step(i, lossScale = 1) {
      using b = await maskedBatch(
        data,
        i,
        { type: 'random', grid: { t: 1, h: grid.h, w: grid.w }, ratio: o.maskRatio ?? 0.75, seed: o.seed },
        'one',
      );
      const { vis, msk } = b;
      const B = b.video.shape[0];
      using loss = tidy(() => {
        const enc = model.encoder.forward(b.video, vis);
        // MAE's target is built from the network input itself: no un-normalisation (mean 0, std 1).
        const images = b.video.reshape([B, 3, cfg.size, cfg.size]);
        const full = maePixelTarget(images, { mean: [0, 0, 0], std: [1, 1, 1], patch: cfg.patch, normalize: o.normPix ?? true });
        return reconstruct(model, enc.out!, vis, msk, full, lossScale);
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

/** VideoMAE model: `encoder.*`, `encoder_to_decoder`, `mask_token`, `decoder.*` (SPEC §5.3). */
export class VideoMaeModel extends Module {
  readonly encoder: VisionTransformer;
  readonly decoder: MaskedDecoder;
  constructor(
    readonly config: VitConfig,
    dec: { dim: number; depth: number; heads: number },
    seed: number,
    dropPath = 0,
  ) {
    super();
    this.encoder = this.child('encoder', new VisionTransformer(config, { finalNorm: true, seed, dropPath }));
    const pos = positionalTable({ ...config, posEmbed: 'sinusoid1d' }, dec.dim);
    this.decoder = this.child(
      '',
      new MaskedDecoder(
        {
          inDim: config.dim,
          dim: dec.dim,
          depth: dec.depth,
          heads: dec.heads,
          outDim: config.tubelet * config.patch * config.patch * 3,
          mlpRatio: config.mlpRatio,
          dropPath,
          eps: config.eps,
        },
        // SPEC §1.4: VideoMAE's encoder_to_decoder keeps PyTorch's default Linear init and has no bias.
        {
          down: 'encoder_to_decoder',
          downBias: false,
          downInit: { kind: 'torch_default' },
          maskToken: 'mask_token',
          decoder: 'decoder',
          posName: null,
        },
        pos,
        seed + 1,
      ),
    );
  }
}

export interface VideoMaeOptions {
  preset: Preset;
  frames: number;
  size: number;
  maskType?: MaskType;
  maskRatio?: number;
  decoder?: { dim: number; depth: number; heads: number };
  normTarget?: boolean;
  seed: number;
  override?: Partial<VitConfig>;
}

/**
 * VideoMAE pretraining (SPEC §7): 90% tube masking by default, targets the tubelet-patch pixels
 * normalised per patch, 1D sinusoid table. The recipe owns `data` and closes it on dispose.
 */
export function videomaeRecipe(data: BatchSampler, o: VideoMaeOptions): Recipe & SkipReport & { model: VideoMaeModel } {
  const cfg = videoVit(o.preset, { frames: o.frames, size: o.size, posEmbed: 'sinusoid1d', ...o.override });
  const model = new VideoMaeModel(cfg, o.decoder ?? videomaeDecoderFor(o.preset), o.seed);
  const grid = gridOf(cfg);
  return {
    name: 'videomae',
    model,
    async step(i, lossScale = 1) {
      using b = await maskedBatch(data, i, { type: o.maskType ?? 'tube', grid, ratio: o.maskRatio ?? 0.9, seed: o.seed });
      const { vis, msk } = b;
      using loss = tidy(() => {
        const enc = model.encoder.forward(b.video, vis);
        const full = videomaePixelTarget(b.video, {
          mean: IMAGENET_MEAN,
          std: IMAGENET_STD,
          tubelet: cfg.tubelet,
          patch: cfg.patch,
          normalize: o.normTarget ?? true,
        });
        return reconstruct(model, enc.out!, vis, msk, full, lossScale);
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

export interface Mam2Options {
  preset: Preset;
  frames: number;
  size: number;
  maskRatio?: number;
  mam2?: Mam2Config;
  /** Loss weights of the appearance and motion targets (ours: 1 and 1; SPEC §9 gives none). */
  wApp?: number;
  wMot?: number;
  seed: number;
  override?: Partial<VitConfig>;
}

/**
 * MAM2-style pretraining (SPEC §9; the choices it leaves open are ours, written at the top of
 * lib/nn/mam2.ts): 90% tube masking, a regressor and two decoders predicting the per-patch
 * normalised first frame of each tubelet (appearance) and the RGB difference (motion). The recipe
 * owns `data` and closes it on dispose.
 */
export function mam2Recipe(data: BatchSampler, o: Mam2Options): Recipe & SkipReport & { model: Mam2Model } {
  const cfg = videoVit(o.preset, { frames: o.frames, size: o.size, ...o.override });
  const d = videomaeDecoderFor(o.preset);
  const model = new Mam2Model(
    cfg,
    o.mam2 ?? { regressorDim: d.dim, regressorDepth: Math.max(1, d.depth >> 1), decoderDepth: Math.max(1, d.depth >> 1), heads: d.heads },
    o.seed,
  );
  const grid = gridOf(cfg);
  return {
    name: 'mam2',
    model,
    async step(i, lossScale = 1) {
      using b = await maskedBatch(data, i, { type: 'tube', grid, ratio: o.maskRatio ?? 0.9, seed: o.seed });
      const { vis, msk } = b;
      const B = b.video.shape[0];
      const losses = tidy(() => {
        // Appearance: the first frame of each tubelet, per-patch normalised (LayerNorm without affine:
        // biased variance, eps 1e-6 — our choice, SPEC §9 is silent).
        const first = patchify(b.video, 1, cfg.patch, cfg.patch, { frameStride: cfg.tubelet });
        const appAll = layerNormForward(first, null, null, 1e-6).y.reshape([B, grid.tokens, -1]);
        const appT = gatherTokens(appAll, msk);
        const motAll = rgbDiffTarget(b.video, { mean: IMAGENET_MEAN, std: IMAGENET_STD, tubelet: cfg.tubelet, patch: cfg.patch });
        const motT = gatherTokens(motAll, msk);
        const p = model.forward(b.video, vis, msk);
        const la = mseLoss(p.app, appT),
          lm = mseLoss(p.mot, motT);
        applyLossScale((o.wApp ?? 1) * lossScale, la.dPred);
        applyLossScale((o.wMot ?? 1) * lossScale, lm.dPred);
        model.backward(la.dPred, lm.dPred);
        return [la.loss, lm.loss];
      });
      using appLoss = losses[0],
        motLoss = losses[1];
      const [app, mot] = [await appLoss.item(), await motLoss.item()];
      return { loss: (o.wApp ?? 1) * app + (o.wMot ?? 1) * mot, appearance: app, motion: mot };
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
