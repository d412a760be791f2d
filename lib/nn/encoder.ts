// The ViT encoder shared by the MVD student, the VideoMAE encoder/teacher, the MAE image encoder
// and the fine-tuning backbone (SPEC §1, §3.3, §3.5, §8). Forward over all tokens or only the
// visible ones; returns the last block's output before and after the final norm.
import { Tensor, tensorScope } from '../tensor.js';
import { gemm } from '../ops/gemm.js';
import { patchify, gatherTokens, placeTokens, placeTokensBackward } from '../ops/tokens.js';
import { sincos3dTable, sinusoid1dTable, sincos2dTable } from '../ops/tables.js';
import { add, addBroadcast, sumRows } from '../ops/elementwise.js';
import { ValueError } from '../errors.js';
import { Module, type Parameter, Cache, as2d } from './module.js';
import { Block, LayerNorm, StepRng, forwardBlocks, backwardBlocks } from './layers.js';
import { gridOf, patchDim, type VitConfig } from './config.js';
import { initTensor } from './init.js';

/** How a VisionTransformer is built for its role (student, teacher, image teacher on video, backbone). */
export interface EncoderOptions {
  /** Final LayerNorm (pretraining encoders and teachers; the fine-tuning backbone has none). */
  finalNorm?: boolean;
  /** Stochastic depth: block i drops with linspace(0, rate, depth)[i]. */
  dropPath?: number;
  /** Image encoders on a video: use frames 0, s, 2s, … as separate images (SPEC §3.5, s = 2). */
  frameStride?: number;
  /** Store the positional table as the frozen parameter `pos_embed` (MVD student; SPEC §1.5a). */
  savePosEmbed?: boolean;
  seed?: number;
  /** 'xavier' for pretraining from scratch (SPEC §1.4); 'none' leaves the parameters unset for a
   *  load that overwrites every one of them (loadEncoder checks that it does). */
  init?: 'xavier' | 'none';
}

/** Token features f32 [B, N, D] (N = visible or all tokens, +1 with a cls token); the caller disposes both. */
export interface EncoderOutput {
  /** Last block output before the final norm (teacher targets). */
  prenorm: Tensor;
  /** After the final norm (null without one). */
  out: Tensor | null;
}

/** Positional table of a config as a tensor [tokens(+1 with cls), D]. */
export function positionalTable(c: VitConfig, dim = c.dim): Tensor {
  const g = gridOf(c);
  if (c.posEmbed === 'sincos3d') return sincos3dTable(dim, g.t, g.h, g.w);
  if (c.posEmbed === 'sinusoid1d') return sinusoid1dTable(g.tokens, dim);
  if (g.h !== g.w) throw new ValueError('the 2D sin-cos table needs a square grid');
  return sincos2dTable(dim, g.h, { cls: c.clsToken });
}

/** i32 [rows, n] filled with start..start+n-1 on every row (index metadata, not tensor data). */
export function rangeIndex(rows: number, n: number, start = 0): Tensor<'i32'> {
  const a = new Int32Array(rows * n);
  for (let r = 0; r < rows; r++) for (let i = 0; i < n; i++) a[r * n + i] = start + i;
  return Tensor.fromArray(a, [rows, n]);
}

/**
 * ViT encoder: tubelet patch embedding, fixed positional table, pre-norm blocks, optional final norm.
 * Parameter names match the reference checkpoints (patch_embed.proj, blocks.i, norm), SPEC §5.
 */
export class VisionTransformer extends Module {
  readonly projWeight: Parameter;
  readonly projBias: Parameter;
  readonly clsToken: Parameter | null = null;
  readonly posEmbed: Tensor;
  readonly blocks: Block[] = [];
  readonly norm: LayerNorm | null;
  readonly rng: StepRng;
  readonly grid: { t: number; h: number; w: number; tokens: number };
  private cache = new Cache();
  private savedPatches: Tensor | null = null;
  private savedCls = false;

  constructor(
    readonly config: VitConfig,
    readonly opts: EncoderOptions = {},
  ) {
    super();
    const c = config;
    this.grid = gridOf(c);
    this.rng = new StepRng((opts.seed ?? 0) * 7919 + 17);
    // Conv weight [D, C, kt, p, p] stored as such (checkpoint shape); used as [D, C·kt·p·p].
    const kShape = c.tubelet > 1 ? [c.dim, c.inChans, c.tubelet, c.patch, c.patch] : [c.dim, c.inChans, c.patch, c.patch];
    this.projWeight = this.param('patch_embed.proj.weight', Tensor.empty(kShape));
    this.projBias = this.param('patch_embed.proj.bias', Tensor.empty([c.dim]));
    if (c.clsToken) this.clsToken = this.param('cls_token', Tensor.empty([1, 1, c.dim]));
    this.posEmbed = positionalTable(c);
    if (opts.savePosEmbed) this.param('pos_embed', this.posEmbed.reshape([1, ...this.posEmbed.shape]), false);
    const rate = opts.dropPath ?? 0;
    for (let i = 0; i < c.depth; i++) {
      const dp = c.depth > 1 ? (rate * i) / (c.depth - 1) : 0;
      this.blocks.push(this.child(`blocks.${i}`, new Block(c.dim, c.heads, c.mlpRatio, c.qkvBias, dp, c.eps, this.rng)));
    }
    this.norm = opts.finalNorm === false ? null : this.child('norm', new LayerNorm(c.dim, c.eps));
    if (opts.init !== 'none') this.initialise(opts.seed ?? 0);
  }

  /** SPEC §1.4: xavier Linear weights, zero biases, LN 1/0; the patch embedding keeps PyTorch's default. */
  private initialise(seed: number): void {
    const ctx = (prefix: string) => ({ seed, prefix });
    initTensor(this.projWeight.value, { kind: 'torch_default' }, seed, 'patch_embed.proj.weight');
    initTensor(this.projBias.value, { kind: 'torch_default' }, seed, 'patch_embed.proj.bias', patchDim(this.config));
    if (this.clsToken) initTensor(this.clsToken.value, { kind: 'trunc_normal', std: 0.02, a: -0.02, b: 0.02 }, seed, 'cls_token');
    this.blocks.forEach((b, i) => b.init({ kind: 'xavier_uniform' }, ctx(`blocks.${i}.`)));
    this.norm?.init(ctx('norm.'));
  }

  get dim(): number {
    return this.config.dim;
  }

  /** Recompute block activations in backward (gradient checkpointing). */
  setCheckpointing(on: boolean): void {
    for (const b of this.blocks) b.checkpoint = on;
  }

  /**
   * video: f32 [B, C, T, H, W] (normalised). visIdx: i32 [B', Nv] visible token indices in raster
   * order (B' = B, or B·T/frameStride for an image encoder on video frames); omit for all tokens.
   */
  forward(video: Tensor, visIdx?: Tensor<'i32'>): EncoderOutput {
    using scope = tensorScope();
    const prenorm = scope.keep(forwardBlocks(this.blocks, this.embed(video, visIdx)));
    return { prenorm, out: scope.keep(this.norm ? this.norm.forward(prenorm) : null) };
  }

  /** Patch embedding, positional rows and cls token: the first block's input. */
  private embed(video: Tensor, visIdx?: Tensor<'i32'>): Tensor {
    // Its own scope: the intermediates go before the blocks run, not when forward() returns.
    using scope = tensorScope();
    const c = this.config;
    const stride = this.opts.frameStride;
    const patches = stride ? patchify(video, 1, c.patch, c.patch, { frameStride: stride }) : patchify(video, c.tubelet, c.patch, c.patch);
    const rows = patches.shape[0];
    const tokensIn = visIdx ? gatherTokens(patches, visIdx) : patches;
    if (this.training) this.savedPatches = this.cache.keep(tokensIn.retain());
    let x: Tensor = gemm(tokensIn, this.projWeight.value.reshape([c.dim, -1]), { transB: true, bias: this.projBias.value });
    // Positional rows: the table without its cls row, at the token positions.
    const table = c.clsToken ? this.posEmbed.slice(1) : this.posEmbed;
    if (visIdx) {
      const n = visIdx.shape[1];
      const pos = gatherTokens(table.reshape([1, ...table.shape]), visIdx.reshape([1, rows * n]));
      x = add(x, pos.reshape([rows, n, c.dim]));
    } else x = addBroadcast(x, table);
    if (this.clsToken) {
      // Prepend the cls token (its positional row is zero): place tokens at rows 1..n.
      const n = x.shape[1];
      x = placeTokens(x, rangeIndex(rows, n, 1), this.clsToken.value.reshape([c.dim]), n + 1);
      this.savedCls = this.training;
    }
    return scope.keep(x);
  }

  /** Backward from the gradient of `out` (or of `prenorm` without a final norm). Parameter grads only. */
  backward(dOut: Tensor): void {
    using _scope = tensorScope();
    let dx = backwardBlocks(this.blocks, this.norm ? this.norm.backward(dOut) : dOut);
    if (this.savedCls && this.clsToken) {
      const g = placeTokensBackward(dx, rangeIndex(dx.shape[0], dx.shape[1] - 1, 1));
      this.clsToken.accumulate(g.dMaskToken.reshape([1, 1, this.dim]));
      dx = g.dVis;
    }
    const d2 = as2d(dx);
    const w = gemm(d2, as2d(this.savedPatches!), { transA: true });
    this.projWeight.accumulate(w.reshape(this.projWeight.value.shape));
    this.projBias.accumulate(sumRows(d2));
    this.releaseCache();
  }

  protected override releaseCache(): void {
    this.cache.release();
    this.savedPatches = null;
    this.savedCls = false;
  }

  override dispose(): void {
    super.dispose();
    this.posEmbed.dispose();
  }
}
