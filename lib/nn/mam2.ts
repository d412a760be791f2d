// MAM2-style model (SPEC §9: encoder → regressor → two decoders, appearance and motion). The paper
// body was not available, so the regressor and decoder designs are our choices, documented here
// and made configurable:
// - regressor: the encoder's visible tokens projected to the regressor width, mask tokens with the
//   3D table at masked positions ("visible then masked", as MVD), then `regressorDepth` blocks
//   over the whole sequence; it completes the masked tokens' latents so the encoder only encodes.
// - each decoder: blocks over the regressor's masked rows, LayerNorm, linear head.
// - appearance target: per-patch normalised pixels of the first frame of each tubelet (the paper
//   predicts VQGAN codes; no tokenizer can be loaded here); motion target: the RGB difference
//   across the tubelet (lib/ops/targets.ts rgbDiffTarget).
import { type Tensor, tensorScope } from '../tensor.js';
import { add } from '../ops/elementwise.js';
import { Module } from './module.js';
import { Block, LayerNorm, Linear, forwardBlocks, backwardBlocks } from './layers.js';
import { VisionTransformer, positionalTable } from './encoder.js';
import { MaskedTrunk } from './decoders.js';
import type { VitConfig } from './config.js';

export interface Mam2Config {
  regressorDim: number;
  regressorDepth: number;
  decoderDepth: number;
  heads: number;
}

/** Blocks + norm + head over a token sequence (one MAM2 decoder). */
class DecoderHead extends Module {
  readonly blocks: Block[] = [];
  readonly norm: LayerNorm;
  readonly head: Linear;
  constructor(dim: number, depth: number, heads: number, out: number, eps: number, seed: number, prefix: string) {
    super();
    for (let i = 0; i < depth; i++) this.blocks.push(this.child(`blocks.${i}`, new Block(dim, heads, 4, 'qv', 0, eps)));
    this.norm = this.child('norm', new LayerNorm(dim, eps));
    this.head = this.child('head', new Linear(dim, out));
    this.blocks.forEach((b, i) => b.init({ kind: 'xavier_uniform' }, { seed, prefix: `${prefix}blocks.${i}.` }));
    this.norm.init({ seed, prefix: `${prefix}norm.` });
    this.head.init({ kind: 'xavier_uniform' }, { seed, prefix: `${prefix}head.` });
  }
  forward(x: Tensor): Tensor {
    using scope = tensorScope();
    return scope.keep(this.head.forward(this.norm.forward(forwardBlocks(this.blocks, x))));
  }
  backward(dy: Tensor): Tensor {
    using scope = tensorScope();
    return scope.keep(backwardBlocks(this.blocks, this.norm.backward(this.head.backward(dy)!)));
  }
}

export class Mam2Model extends Module {
  readonly encoder: VisionTransformer;
  readonly regressor: MaskedTrunk;
  readonly appearance: DecoderHead;
  readonly motion: DecoderHead;

  constructor(
    readonly config: VitConfig,
    readonly mam2: Mam2Config,
    seed: number,
  ) {
    super();
    const c = config,
      r = mam2.regressorDim;
    this.encoder = this.child('encoder', new VisionTransformer(c, { finalNorm: true, seed }));
    this.regressor = this.child(
      '',
      new MaskedTrunk(
        { inDim: c.dim, dim: r, depth: mam2.regressorDepth, heads: mam2.heads, eps: c.eps },
        {
          down: 'regressor.down',
          downBias: true,
          downInit: { kind: 'xavier_uniform' },
          maskToken: 'regressor.mask_token',
          blocks: 'regressor',
        },
        positionalTable(c, r),
        seed,
      ),
    );
    const p2 = c.patch * c.patch * 3;
    this.appearance = this.child('decoder_app', new DecoderHead(r, mam2.decoderDepth, mam2.heads, p2, c.eps, seed + 1, 'decoder_app.'));
    this.motion = this.child('decoder_mot', new DecoderHead(r, mam2.decoderDepth, mam2.heads, p2, c.eps, seed + 2, 'decoder_mot.'));
  }

  /** Predictions at the masked tokens: appearance and motion, each [B, Nm, p²·3]. */
  forward(video: Tensor, visIdx: Tensor<'i32'>, maskIdx: Tensor<'i32'>): { app: Tensor; mot: Tensor } {
    using scope = tensorScope();
    const { out } = this.encoder.forward(video, visIdx);
    const masked = this.regressor.forward(out!, visIdx, maskIdx);
    return { app: scope.keep(this.appearance.forward(masked)), mot: scope.keep(this.motion.forward(masked)) };
  }

  backward(dApp: Tensor, dMot: Tensor): void {
    using _scope = tensorScope();
    const dm = add(this.appearance.backward(dApp), this.motion.backward(dMot));
    this.encoder.backward(this.regressor.backward(dm));
  }

  override dispose(): void {
    super.dispose();
    this.regressor.pos.dispose();
  }
}
