// Fine-tuning model (SPEC §4.1): encoder without final norm, mean over tokens, fc_norm, dropout,
// head initialised with truncated normal 0.02 times init_scale.
import { Tensor, tensorScope } from '../tensor.js';
import { gemm } from '../ops/gemm.js';
import { sumRows, dropout, dropoutBackward, scaleInPlace } from '../ops/elementwise.js';
import { Module, Cache } from './module.js';
import { LayerNorm, Linear } from './layers.js';
import { VisionTransformer } from './encoder.js';
import { initTensor } from './init.js';
import type { VitConfig } from './config.js';

export interface ClassifierOptions {
  numClasses: number;
  dropPath?: number;
  fcDropout?: number;
  initScale?: number;
  seed?: number;
  /**
   * 'none' skips the encoder's random initialisation, for a backbone that loading fills next
   * (loadBackbone refuses a file missing any encoder weight, so none is left unset); fc_norm and
   * the head are initialised either way. Default 'random'.
   */
  encoderInit?: 'random' | 'none';
}

/**
 * Fine-tuning model (SPEC §4.1): encoder without final norm, mean over tokens, fc_norm, dropout,
 * head. Input f32 [B, C, T, H, W] normalised; the head's std is 0.02·initScale so logits start near 0.
 */
export class VideoClassifier extends Module {
  readonly encoder: VisionTransformer;
  readonly fcNorm: LayerNorm;
  readonly head: Linear;
  private cache = new Cache();
  private saved: { n: number; mask: Tensor | null } | null = null;
  private dropSeed = 0;
  /**
   * The data-parallel rank (train() sets it): each rank draws its own fc dropout masks. Masks are
   * keyed by the forward's seed and the element's place in this rank's batch, so without it every
   * rank would drop the same features of its own clips.
   */
  dropoutRank = 0;

  constructor(
    readonly config: VitConfig,
    readonly opts: ClassifierOptions,
  ) {
    super();
    const seed = opts.seed ?? 0;
    this.encoder = this.child(
      '',
      new VisionTransformer(config, {
        finalNorm: false,
        dropPath: opts.dropPath ?? 0,
        seed,
        init: opts.encoderInit === 'none' ? 'none' : 'xavier',
      }),
    );
    this.fcNorm = this.child('fc_norm', new LayerNorm(config.dim, config.eps)).init({ seed, prefix: 'fc_norm.' });
    this.head = this.child('head', new Linear(config.dim, opts.numClasses));
    const s = opts.initScale ?? 0.001;
    initTensor(this.head.weight.value, { kind: 'trunc_normal', std: 0.02, a: -2, b: 2, scale: s }, seed, 'head.weight');
    initTensor(this.head.bias!.value, { kind: 'zeros' }, seed, 'head.bias');
    this.dropSeed = seed * 31 + 7;
  }

  /** The pooled, fc-normed features [B, D] (for linear probes and feature extraction). */
  features(video: Tensor): Tensor {
    using scope = tensorScope();
    const { prenorm } = this.encoder.forward(video);
    this.saved = { n: prenorm.shape[1], mask: null };
    return scope.keep(this.fcNorm.forward(meanTokens(prenorm)));
  }

  /** Logits [B, classes]. */
  forward(video: Tensor): Tensor {
    using scope = tensorScope();
    let f = this.features(video);
    const p = this.opts.fcDropout ?? 0;
    if (this.training && p > 0) {
      // 4096 ranks per seed step: distinct (seed, rank) pairs never share a stream.
      const r = dropout(f, p, this.dropSeed++ * 4096 + this.dropoutRank);
      f = r.y;
      this.saved!.mask = this.cache.keep(r.mask);
    }
    return scope.keep(this.head.forward(f));
  }

  backward(dLogits: Tensor): void {
    using _scope = tensorScope();
    let df = this.head.backward(dLogits)!;
    const p = this.opts.fcDropout ?? 0;
    if (this.saved?.mask) df = dropoutBackward(df, this.saved.mask, p);
    const dPooled = this.fcNorm.backward(df);
    this.encoder.backward(meanTokensBackward(dPooled, this.saved!.n));
    this.releaseCache();
  }

  protected override releaseCache(): void {
    this.cache.release();
    this.saved = null;
  }
}

/** [B, N, D] → [B, D]: one column-sum per sample (B native calls, no element loop). */
export function meanTokens(x: Tensor): Tensor {
  const [b, n, d] = x.shape;
  using scope = tensorScope();
  const out = Tensor.empty([b, d]);
  for (let i = 0; i < b; i++) {
    const s = sumRows(x.slice(i, i + 1).reshape([n, d]));
    out
      .slice(i, i + 1)
      .reshape([d])
      .assign(s);
  }
  return scope.keep(scaleInPlace(out, 1 / n));
}

/** dPooled [B, D] → dx [B, N, D] = dPooled / N broadcast over tokens (outer products). */
export function meanTokensBackward(dPooled: Tensor, n: number): Tensor {
  const [b, d] = dPooled.shape;
  const dx = Tensor.empty([b, n, d]);
  using ones = Tensor.fromArray(new Float32Array(n).fill(1), [n, 1]);
  for (let i = 0; i < b; i++) {
    using dpi = dPooled.slice(i, i + 1);
    using dxi = dx.slice(i, i + 1).reshape([n, d]);
    gemm(ones, dpi, { out: dxi, alpha: 1 / n, beta: 0 });
  }
  return dx;
}
