// Decoders of the pretraining methods: the MVD feature decoder branch (one per teacher, SPEC §3.3),
// the VideoMAE pixel decoder (§7) — both "visible then masked" sequences — and the MAE decoder
// (§8), which unshuffles tokens back to raster order with a cls row.
import { Tensor, tensorScope, tidy, unscoped } from '../tensor.js';
import {
  gatherTokens,
  scatterTokens,
  assembleDecoderInput,
  assembleDecoderInputBackward,
  placeTokens,
  placeTokensBackward,
} from '../ops/tokens.js';
import { addBroadcast } from '../ops/elementwise.js';
import { Module, type Parameter } from './module.js';
import { Block, LayerNorm, Linear, StepRng, forwardBlocks, backwardBlocks } from './layers.js';
import { initTensor, type InitRule } from './init.js';
import { rangeIndex } from './encoder.js';

export interface MaskedDecoderNames {
  /** Projection from the encoder width: 'down_img' (MVD) or 'encoder_to_decoder' (VideoMAE). */
  down: string;
  downBias: boolean;
  downInit: InitRule;
  /** 'mask_token_img' / 'mask_token'. */
  maskToken: string;
  /** Prefix of blocks, norm and head: 'decoder_img' / 'decoder'. */
  decoder: string;
  /** Name under which the frozen table is saved ('pos_embed_img'), or null (VideoMAE: not stored). */
  posName: string | null;
}

export interface MaskedDecoderConfig {
  inDim: number;
  dim: number;
  depth: number;
  heads: number;
  outDim: number;
  mlpRatio?: number;
  qkvBias?: 'qv' | 'qkv';
  dropPath?: number;
  eps?: number;
}

export interface MaskedTrunkNames {
  down: string;
  downBias: boolean;
  downInit: InitRule;
  maskToken: string;
  /** Prefix of the blocks: `${blocks}.blocks.i`. */
  blocks: string;
}

/**
 * The shared trunk of every "visible then masked" decoder: project the encoder's visible tokens,
 * add the table at their positions, append the mask token plus the table at the masked positions
 * (SPEC §3.3, not unshuffled), run the blocks, and return the masked rows [B, Nm, dim]. Used by the
 * MVD and VideoMAE decoders (with a norm and head after it) and by the MAM2 regressor.
 */
export class MaskedTrunk extends Module {
  readonly down: Linear;
  readonly maskToken: Parameter;
  readonly blocks: Block[] = [];
  private nv = 0;

  constructor(
    readonly cfg: Omit<MaskedDecoderConfig, 'outDim'>,
    names: MaskedTrunkNames,
    readonly pos: Tensor,
    seed: number,
  ) {
    super();
    this.down = this.child(names.down, new Linear(cfg.inDim, cfg.dim, { bias: names.downBias }));
    this.maskToken = this.param(names.maskToken, Tensor.empty([1, 1, cfg.dim]));
    const rng = new StepRng(seed * 104729 + 3);
    const rate = cfg.dropPath ?? 0;
    for (let i = 0; i < cfg.depth; i++) {
      const dp = cfg.depth > 1 ? (rate * i) / (cfg.depth - 1) : 0;
      this.blocks.push(
        this.child(
          `${names.blocks}.blocks.${i}`,
          new Block(cfg.dim, cfg.heads, cfg.mlpRatio ?? 4, cfg.qkvBias ?? 'qv', dp, cfg.eps ?? 1e-6, rng),
        ),
      );
    }
    // SPEC §1.4: xavier Linear weights, zero biases; mask token N(0, 0.02) truncated at ±1 std.
    this.down.init(names.downInit, { seed, prefix: `${names.down}.` });
    initTensor(this.maskToken.value, { kind: 'trunc_normal', std: 0.02, a: -0.02, b: 0.02 }, seed, names.maskToken);
    this.blocks.forEach((b, i) => b.init({ kind: 'xavier_uniform' }, { seed, prefix: `${names.blocks}.blocks.${i}.` }));
  }

  forward(enc: Tensor, visIdx: Tensor<'i32'>, maskIdx: Tensor<'i32'>): Tensor {
    using scope = tensorScope();
    const b = enc.shape[0];
    this.nv = visIdx.shape[1];
    const nm = maskIdx.shape[1];
    // The projection is freed before the blocks run (its own scope), not when forward() returns.
    const input = tidy(() =>
      assembleDecoderInput(this.down.forward(enc), visIdx, maskIdx, this.maskToken.value.reshape([this.cfg.dim]), this.pos),
    );
    const x = forwardBlocks(this.blocks, input);
    return scope.keep(gatherTokens(x, rangeIndex(b, nm, this.nv)));
  }

  /** From the gradient of the masked rows to the gradient of the encoder output. */
  backward(dMasked: Tensor): Tensor {
    using scope = tensorScope();
    const b = dMasked.shape[0],
      nm = dMasked.shape[1];
    const dx = backwardBlocks(this.blocks, scatterTokens(dMasked, rangeIndex(b, nm, this.nv), this.nv + nm));
    const g = assembleDecoderInputBackward(dx, this.nv);
    this.maskToken.accumulate(g.dMaskToken.reshape([1, 1, this.cfg.dim]));
    return scope.keep(this.down.backward(g.dVis)!);
  }
}

/** MVD feature decoder / VideoMAE pixel decoder: the trunk, then a norm and head on the masked rows. */
export class MaskedDecoder extends Module {
  readonly trunk: MaskedTrunk;
  readonly norm: LayerNorm;
  readonly head: Linear;

  constructor(
    readonly cfg: MaskedDecoderConfig,
    readonly names: MaskedDecoderNames,
    readonly pos: Tensor,
    seed: number,
  ) {
    super();
    this.trunk = this.child(
      '',
      new MaskedTrunk(
        cfg,
        { down: names.down, downBias: names.downBias, downInit: names.downInit, maskToken: names.maskToken, blocks: names.decoder },
        pos,
        seed,
      ),
    );
    if (names.posName) this.param(names.posName, pos.reshape([1, ...pos.shape]), false);
    this.norm = this.child(`${names.decoder}.norm`, new LayerNorm(cfg.dim, cfg.eps ?? 1e-6));
    this.head = this.child(`${names.decoder}.head`, new Linear(cfg.dim, cfg.outDim));
    this.norm.init({ seed, prefix: `${names.decoder}.norm.` });
    this.head.init({ kind: 'xavier_uniform' }, { seed, prefix: `${names.decoder}.head.` });
  }

  forward(enc: Tensor, visIdx: Tensor<'i32'>, maskIdx: Tensor<'i32'>): Tensor {
    using scope = tensorScope();
    const masked = this.trunk.forward(enc, visIdx, maskIdx);
    return scope.keep(this.head.forward(this.norm.forward(masked)));
  }

  /** Returns the gradient with respect to the encoder output. */
  backward(dPred: Tensor): Tensor {
    using scope = tensorScope();
    const dh = this.head.backward(dPred)!;
    return scope.keep(this.trunk.backward(this.norm.backward(dh)));
  }

  override dispose(): void {
    super.dispose();
    this.pos.dispose();
  }
}

export interface MaeDecoderConfig {
  inDim: number;
  dim: number;
  depth: number;
  heads: number;
  outDim: number;
  eps?: number;
}

/**
 * MAE decoder (SPEC §8): decoder_embed, mask tokens unshuffled back into raster order behind the
 * cls row, 2D table with cls, timm blocks (full qkv bias), decoder_norm, decoder_pred; returns the
 * predictions at the masked positions [B, Nm, outDim].
 */
export class MaeDecoder extends Module {
  readonly embed: Linear;
  readonly maskToken: Parameter;
  readonly blocks: Block[] = [];
  readonly norm: LayerNorm;
  readonly pred: Linear;
  private placeIdx: Tensor<'i32'> | null = null;
  private maskRows: Tensor<'i32'> | null = null;
  private n = 0;

  constructor(
    readonly cfg: MaeDecoderConfig,
    readonly pos: Tensor /* [1+N, dim] with the cls row */,
    seed: number,
  ) {
    super();
    this.embed = this.child('decoder_embed', new Linear(cfg.inDim, cfg.dim));
    this.maskToken = this.param('mask_token', Tensor.empty([1, 1, cfg.dim]));
    for (let i = 0; i < cfg.depth; i++)
      this.blocks.push(this.child(`decoder_blocks.${i}`, new Block(cfg.dim, cfg.heads, 4, 'qkv', 0, cfg.eps ?? 1e-6)));
    this.norm = this.child('decoder_norm', new LayerNorm(cfg.dim, cfg.eps ?? 1e-6));
    this.pred = this.child('decoder_pred', new Linear(cfg.dim, cfg.outDim));
    this.embed.init({ kind: 'xavier_uniform' }, { seed, prefix: 'decoder_embed.' });
    initTensor(this.maskToken.value, { kind: 'trunc_normal', std: 0.02, a: -0.04, b: 0.04 }, seed, 'mask_token');
    this.blocks.forEach((b, i) => b.init({ kind: 'xavier_uniform' }, { seed, prefix: `decoder_blocks.${i}.` }));
    this.norm.init({ seed, prefix: 'decoder_norm.' });
    this.pred.init({ kind: 'xavier_uniform' }, { seed, prefix: 'decoder_pred.' });
  }

  /** enc: [B, 1+Nv, D] (cls first); visIdx/maskIdx: i32 [B, Nv] / [B, Nm] in raster order. */
  forward(enc: Tensor, visIdx: Tensor<'i32'>, maskIdx: Tensor<'i32'>): Tensor {
    this.n = visIdx.shape[1] + maskIdx.shape[1];
    const b = enc.shape[0];
    // Row 0 (cls) keeps its place; visible token j goes to row 1 + visIdx[j].
    const vis = visIdx.toArraySync();
    const nv = visIdx.shape[1];
    const place = new Int32Array(b * (nv + 1));
    for (let r = 0; r < b; r++) {
      place[r * (nv + 1)] = 0;
      for (let j = 0; j < nv; j++) place[r * (nv + 1) + 1 + j] = 1 + vis[r * nv + j];
    }
    const mi = maskIdx.toArraySync();
    const rows = new Int32Array(mi.length);
    for (let i = 0; i < mi.length; i++) rows[i] = mi[i] + 1;
    this.placeIdx?.dispose();
    this.maskRows?.dispose();
    // Held until the next forward (backward reads them), outside any scope the caller opened.
    this.placeIdx = unscoped(Tensor.fromArray(place, [b, nv + 1]));
    this.maskRows = unscoped(Tensor.fromArray(rows, maskIdx.shape));
    using scope = tensorScope();
    const placeIdx = this.placeIdx;
    // The embedding and the placed rows are freed before the blocks run (their own scope).
    const input = tidy(() =>
      addBroadcast(placeTokens(this.embed.forward(enc), placeIdx, this.maskToken.value.reshape([this.cfg.dim]), this.n + 1), this.pos),
    );
    const x = forwardBlocks(this.blocks, input);
    const p = this.pred.forward(this.norm.forward(x));
    return scope.keep(gatherTokens(p, this.maskRows));
  }

  backward(dOut: Tensor): Tensor {
    using scope = tensorScope();
    const dh = this.pred.backward(scatterTokens(dOut, this.maskRows!, this.n + 1))!;
    const dx = backwardBlocks(this.blocks, this.norm.backward(dh));
    const g = placeTokensBackward(dx, this.placeIdx!);
    this.maskToken.accumulate(g.dMaskToken.reshape([1, 1, this.cfg.dim]));
    return scope.keep(this.embed.backward(g.dVis)!);
  }

  override dispose(): void {
    super.dispose();
    this.pos.dispose();
    this.placeIdx?.dispose();
    this.maskRows?.dispose();
  }
}
