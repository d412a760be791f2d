// The ViT building blocks (SPEC §1.2–1.3), each with forward and backward.
import { Tensor, tensorScope, unscoped } from '../tensor.js';
import { gemm, gemmPacked, gemmPackWeights, type PackedWeights } from '../ops/gemm.js';
import { sumRows, geluBackward, add, rowScale } from '../ops/elementwise.js';
import { layerNormForward, layerNormBackward, addLayerNormForward } from '../ops/norm.js';
import { attentionForward, attentionBackward } from '../ops/attention.js';
import { Module, type Parameter, Cache, as2d, type PackOptions } from './module.js';
import { initTensor, type InitRule } from './init.js';
import { ValueError } from '../errors.js';

export interface InitContext {
  seed: number;
  /** Full state-dict name prefix of the module being initialised. */
  prefix: string;
}

/** Fully connected layer over the last dim; weight [out, in] as in PyTorch, so state dicts load as is. */
export class Linear extends Module {
  readonly weight: Parameter;
  readonly bias: Parameter | null;
  private cache = new Cache();
  private input: Tensor | null = null;
  /** The weight packed for inference forwards (Module.packWeights), or null. */
  private packed: PackedWeights | null = null;

  constructor(
    readonly inFeatures: number,
    readonly outFeatures: number,
    opts: { bias?: boolean } = {},
  ) {
    super();
    this.weight = this.param('weight', Tensor.empty([outFeatures, inFeatures]));
    this.bias = opts.bias === false ? null : this.param('bias', Tensor.empty([outFeatures]));
  }

  init(rule: InitRule, ctx: InitContext): this {
    initTensor(this.weight.value, rule, ctx.seed, `${ctx.prefix}weight`);
    if (this.bias) {
      if (rule.kind === 'torch_default') initTensor(this.bias.value, rule, ctx.seed, `${ctx.prefix}bias`, this.inFeatures);
      else initTensor(this.bias.value, { kind: 'zeros' }, ctx.seed, `${ctx.prefix}bias`);
    }
    return this;
  }

  /** y = x Wᵀ + b over the last dim; `bias` overrides the own bias (attention's q/v bias). */
  forward(x: Tensor, bias?: Tensor): Tensor {
    const packed = this.inferencePack();
    if (packed) return gemmPacked(x, packed, { bias: bias ?? this.bias?.value });
    if (this.training) this.input = this.cache.keep(x.retain());
    return gemm(x, this.weight.value, { transB: true, bias: bias ?? this.bias?.value });
  }

  protected override packOwnWeights(opts: PackOptions): boolean {
    // Released weights live on in their pack only: asking for the same pack again keeps it.
    if (this.weight.released && this.packed?.precision === (opts.precision ?? 'fp32')) return true;
    this.unpackOwnWeights();
    this.packed = gemmPackWeights(this.weight.value, { transB: true, precision: opts.precision });
    if (this.packed && opts.release)
      this.weight.release(
        `this Linear's weight [${this.outFeatures}, ${this.inFeatures}] was freed when it was packed for inference in ${opts.precision ?? 'fp32'} (packWeights with release)`,
      );
    return this.packed !== null;
  }

  protected override unpackOwnWeights(): void {
    this.packed?.dispose();
    this.packed = null;
  }

  /** The packed weight, for inference forwards only (training may change the weight next step). */
  private inferencePack(): PackedWeights | undefined {
    return this.training ? undefined : (this.packed ?? undefined);
  }

  /**
   * gelu(x Wᵀ + b) in one GEMM with a fused epilogue: returns the pre-activation (what GELU's
   * backward needs) and the activation, both written while the output tile is in cache.
   */
  forwardGelu(x: Tensor): { pre: Tensor; act: Tensor } {
    const packed = this.inferencePack();
    if (this.training) this.input = this.cache.keep(x.retain());
    const r = packed
      ? gemmPacked(x, packed, { bias: this.bias?.value, gelu: true })
      : gemm(x, this.weight.value, { transB: true, bias: this.bias?.value, gelu: true });
    return { pre: r.out, act: r.gelu };
  }

  /** Accumulates weight/bias gradients; returns dx unless `inputGrad` is false. */
  backward(dy: Tensor, opts: { inputGrad?: boolean; biasGrad?: boolean } = {}): Tensor | null {
    const x = this.input;
    if (!x) throw new Error('Linear.backward without a training forward');
    using scope = tensorScope();
    const dy2 = as2d(dy),
      x2 = as2d(x);
    if (this.weight.trainable) gemm(dy2, x2, this.weight.gemmInto({ transA: true }));
    if (this.bias && opts.biasGrad !== false) this.bias.accumulate(sumRows(dy2));
    const dx = opts.inputGrad === false ? null : scope.keep(gemm(dy, this.weight.value));
    this.releaseCache();
    return dx;
  }

  protected override releaseCache(): void {
    this.cache.release();
    this.input = null;
  }
}

/** Layer norm over the last dim (eps 1e-6 as in the reference ViTs); affine=false has no weight or bias. */
export class LayerNorm extends Module {
  readonly weight: Parameter | null;
  readonly bias: Parameter | null;
  private cache = new Cache();
  private saved: { x: Tensor; mean: Tensor; rstd: Tensor } | null = null;

  constructor(
    readonly dim: number,
    readonly eps = 1e-6,
    affine = true,
  ) {
    super();
    this.weight = affine ? this.param('weight', Tensor.empty([dim])) : null;
    this.bias = affine ? this.param('bias', Tensor.empty([dim])) : null;
  }

  init(ctx: InitContext): this {
    if (this.weight) initTensor(this.weight.value, { kind: 'ones' }, ctx.seed, `${ctx.prefix}weight`);
    if (this.bias) initTensor(this.bias.value, { kind: 'zeros' }, ctx.seed, `${ctx.prefix}bias`);
    return this;
  }

  forward(x: Tensor): Tensor {
    using scope = tensorScope();
    const r = layerNormForward(x, this.weight?.value ?? null, this.bias?.value ?? null, this.eps);
    this.save(x, r);
    return scope.keep(r.y);
  }

  /**
   * sum = x + residual and y = this norm of sum, in one pass (a pre-norm block's residual add and
   * the norm after it). The caller owns both; backward's dResidual is then the gradient that
   * reaches sum by the skip connection.
   */
  forwardAdd(x: Tensor, residual: Tensor): { sum: Tensor; y: Tensor } {
    using scope = tensorScope();
    const r = addLayerNormForward(x, residual, this.weight?.value ?? null, this.bias?.value ?? null, this.eps);
    this.save(r.sum, r);
    return { sum: scope.keep(r.sum), y: scope.keep(r.y) };
  }

  /** Saves what backward needs when training; the caller's scope frees the statistics otherwise. */
  private save(x: Tensor, r: { mean: Tensor; rstd: Tensor }): void {
    if (this.training) this.saved = { x: this.cache.keep(x.retain()), mean: this.cache.keep(r.mean), rstd: this.cache.keep(r.rstd) };
  }

  /** dx, plus dResidual when given (in the same pass; see forwardAdd). */
  backward(dy: Tensor, dResidual?: Tensor): Tensor {
    const s = this.saved;
    if (!s) throw new Error('LayerNorm.backward without a training forward');
    const g = layerNormBackward(dy, s.x, s.mean, s.rstd, this.weight?.value ?? null, dResidual);
    if (g.dWeight) this.weight!.accumulate(g.dWeight);
    if (g.dBias) this.bias!.accumulate(g.dBias);
    this.releaseCache();
    return g.dx;
  }

  protected override releaseCache(): void {
    this.cache.release();
    this.saved = null;
  }
}

/** The transformer block's feed-forward: fc1 → GELU → fc2, dim → hidden → dim (timm key names). */
export class Mlp extends Module {
  readonly fc1: Linear;
  readonly fc2: Linear;
  private cache = new Cache();
  private hidden: Tensor | null = null;

  constructor(dim: number, hidden: number) {
    super();
    this.fc1 = this.child('fc1', new Linear(dim, hidden));
    this.fc2 = this.child('fc2', new Linear(hidden, dim));
  }

  init(rule: InitRule, ctx: InitContext): this {
    this.fc1.init(rule, { ...ctx, prefix: `${ctx.prefix}fc1.` });
    this.fc2.init(rule, { ...ctx, prefix: `${ctx.prefix}fc2.` });
    return this;
  }

  forward(x: Tensor): Tensor {
    using scope = tensorScope();
    const { pre: h, act: a } = this.fc1.forwardGelu(x);
    // Inference caches nothing: the 4×-wide pre-activation goes before fc2 runs (peak memory).
    if (this.training) this.hidden = this.cache.keep(h);
    else h.dispose();
    return scope.keep(this.fc2.forward(a));
  }

  backward(dy: Tensor): Tensor {
    using scope = tensorScope();
    const da = this.fc2.backward(dy)!;
    const dh = geluBackward(da, this.hidden!);
    this.releaseCache();
    return scope.keep(this.fc1.backward(dh)!);
  }

  protected override releaseCache(): void {
    this.cache.release();
    this.hidden = null;
  }
}

/**
 * Multi-head self-attention. `qkvBias: 'qv'` is VideoMAE/MVD (learned q_bias and v_bias, k has no
 * bias); `'qkv'` is MAE/timm (one full qkv.bias, k included). SPEC §1.2.
 */
export class Attention extends Module {
  readonly qkv: Linear;
  readonly proj: Linear;
  readonly qBias: Parameter | null = null;
  readonly vBias: Parameter | null = null;
  /** [q_bias, 0, v_bias] rebuilt before each forward for the GEMM epilogue. */
  private fullBias: Tensor | null = null;
  private cache = new Cache();
  private saved: { qkv: Tensor; out: Tensor; lse: Tensor } | null = null;

  constructor(
    readonly dim: number,
    readonly heads: number,
    readonly biasStyle: 'qv' | 'qkv',
  ) {
    super();
    this.qkv = this.child('qkv', new Linear(dim, 3 * dim, { bias: biasStyle === 'qkv' }));
    if (biasStyle === 'qv') {
      this.qBias = this.param('q_bias', Tensor.empty([dim]));
      this.vBias = this.param('v_bias', Tensor.empty([dim]));
      this.fullBias = Tensor.zeros([3 * dim]);
    }
    this.proj = this.child('proj', new Linear(dim, dim));
  }

  init(rule: InitRule, ctx: InitContext): this {
    this.qkv.init(rule, { ...ctx, prefix: `${ctx.prefix}qkv.` });
    this.proj.init(rule, { ...ctx, prefix: `${ctx.prefix}proj.` });
    if (this.qBias) initTensor(this.qBias.value, { kind: 'zeros' }, ctx.seed, `${ctx.prefix}q_bias`);
    if (this.vBias) initTensor(this.vBias.value, { kind: 'zeros' }, ctx.seed, `${ctx.prefix}v_bias`);
    return this;
  }

  forward(x: Tensor): Tensor {
    using scope = tensorScope();
    let bias: Tensor | undefined;
    if (this.fullBias) {
      const d = this.dim;
      this.fullBias.slice(0, d).assign(this.qBias!.value);
      this.fullBias.slice(2 * d, 3 * d).assign(this.vBias!.value);
      bias = this.fullBias;
    }
    const qkv = this.qkv.forward(x, bias);
    const { out, lse } = attentionForward(qkv, this.heads);
    if (this.training) this.saved = { qkv: this.cache.keep(qkv), out: this.cache.keep(out.retain()), lse: this.cache.keep(lse) };
    // Inference: the 3×-wide qkv goes before proj runs (peak memory).
    else qkv.dispose();
    return scope.keep(this.proj.forward(out));
  }

  backward(dy: Tensor): Tensor {
    using scope = tensorScope();
    const s = this.saved!;
    const dOut = this.proj.backward(dy)!;
    const dQkv = attentionBackward(dOut, s.qkv, s.out, s.lse, this.heads);
    this.releaseCache();
    if (this.qBias && this.vBias) {
      const db = sumRows(as2d(dQkv));
      this.qBias.accumulate(db.slice(0, this.dim));
      this.vBias.accumulate(db.slice(2 * this.dim, 3 * this.dim));
    }
    return scope.keep(this.qkv.backward(dQkv)!);
  }

  protected override releaseCache(): void {
    this.cache.release();
    this.saved = null;
  }

  override dispose(): void {
    super.dispose();
    this.fullBias?.dispose();
  }
}

/**
 * Where the rows a process trains on sit in the global batch of a data-parallel step: rank `rank`
 * of `worldSize` holds samples rank, rank + worldSize, … of it (the loader's interleaved shard),
 * each sample as `rowsPerSample` consecutive rows (repeated augmentation's views).
 */
export interface RowLayout {
  rank: number;
  worldSize: number;
  rowsPerSample: number;
}

const ALONE: RowLayout = { rank: 0, worldSize: 1, rowsPerSample: 1 };

/**
 * Deterministic randomness for drop path (a few numbers per batch, not per element). A forward's
 * draws are keyed by (this draw's place in the sequence, the row's place in the global batch), so
 * with N ranks each rank's rows get their own numbers, and N ranks × b rows get exactly the draws
 * of 1 rank × N·b rows. The sequence advances once per draw whatever the batch size, so every rank
 * keeps the same state (saved in checkpoints for an exact resume).
 */
export class StepRng {
  private s: number;
  /** Set by the data-parallel training loop; alone, row b is global row b. */
  layout: RowLayout = ALONE;
  constructor(seed: number) {
    this.s = seed >>> 0 || 1;
  }
  next(): number {
    // mulberry32: the state is a counter, the output a hash of it.
    this.s = (this.s + 0x6d2b79f5) >>> 0;
    return mix32(this.s) / 4294967296;
  }
  /** One uniform number in [0, 1) per local row of the next draw. */
  rows(batch: number): Float64Array {
    this.s = (this.s + 0x6d2b79f5) >>> 0;
    const { rank, worldSize: w, rowsPerSample: g } = this.layout;
    if (batch % g) throw new ValueError(`drop path: a batch of ${batch} rows is not whole samples of ${g} rows each`, { op: 'dropPath' });
    const out = new Float64Array(batch);
    for (let b = 0; b < batch; b++) {
      const global = (Math.floor(b / g) * w + rank) * g + (b % g);
      out[b] = mix32((this.s ^ Math.imul(global + 1, 0x9e3779b1)) >>> 0) / 4294967296;
    }
    return out;
  }
  get state(): number {
    return this.s;
  }
  set state(v: number) {
    this.s = v >>> 0;
  }
}

/** mulberry32's output function: a 32-bit integer to a well-mixed one. */
function mix32(x: number): number {
  let t = x;
  t = Math.imul(t ^ (t >>> 15), t | 1);
  t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
  return (t ^ (t >>> 14)) >>> 0;
}

/** Pre-norm transformer block with stochastic depth; optional recomputation (checkpointing). */
export class Block extends Module {
  readonly norm1: LayerNorm;
  readonly attn: Attention;
  readonly norm2: LayerNorm;
  readonly mlp: Mlp;
  /** Recompute activations in backward instead of keeping them (same results, less memory). */
  checkpoint = false;
  private scales: [Tensor | null, Tensor | null] = [null, null];
  private input: Tensor | null = null;

  constructor(
    dim: number,
    heads: number,
    mlpRatio: number,
    biasStyle: 'qv' | 'qkv',
    readonly dropPath = 0,
    eps = 1e-6,
    readonly rng?: StepRng,
  ) {
    super();
    this.norm1 = this.child('norm1', new LayerNorm(dim, eps));
    this.attn = this.child('attn', new Attention(dim, heads, biasStyle));
    this.norm2 = this.child('norm2', new LayerNorm(dim, eps));
    this.mlp = this.child('mlp', new Mlp(dim, dim * mlpRatio));
  }

  init(rule: InitRule, ctx: InitContext): this {
    this.norm1.init({ ...ctx, prefix: `${ctx.prefix}norm1.` });
    this.attn.init(rule, { ...ctx, prefix: `${ctx.prefix}attn.` });
    this.norm2.init({ ...ctx, prefix: `${ctx.prefix}norm2.` });
    this.mlp.init(rule, { ...ctx, prefix: `${ctx.prefix}mlp.` });
    return this;
  }

  /** Per-sample keep scales (0 or 1/(1−p)), drawn once per forward; null when inactive. */
  private drawScales(batch: number): Tensor | null {
    if (!this.training || this.dropPath <= 0 || !this.rng) return null;
    const keep = 1 - this.dropPath;
    const u = this.rng.rows(batch),
      s = new Float32Array(batch);
    for (let b = 0; b < batch; b++) s[b] = u[b] < keep ? 1 / keep : 0;
    // Held by the block until backward (or the next forward), whatever scope the caller opened.
    return unscoped(Tensor.fromArray(s, [batch]));
  }

  /** The branch's output scaled by its drop-path keep scales (a temporary of the caller's scope). */
  private branch(y: Tensor, scale: Tensor | null): Tensor {
    return scale ? rowScale(y, scale) : y;
  }

  private run(x: Tensor): Tensor {
    using scope = tensorScope();
    // Each input is freed once read, so an inference forward (no caches) peaks at today's
    // working set; in training the caches hold their own references.
    const h1 = this.norm1.forward(x);
    const a = this.branch(this.attn.forward(h1), this.scales[0]);
    h1.dispose();
    const { sum: x1, y: h2 } = this.norm2.forwardAdd(x, a);
    a.dispose();
    const m = this.branch(this.mlp.forward(h2), this.scales[1]);
    h2.dispose();
    return scope.keep(add(x1, m));
  }

  forward(x: Tensor): Tensor {
    this.disposeScales();
    this.scales = [this.drawScales(x.shape[0]), this.drawScales(x.shape[0])];
    if (this.training && this.checkpoint) {
      // Keep only the input; the sub-modules run without caching and are re-run in backward.
      this.input = unscoped(x.retain());
      for (const m of this.modules()) if (m !== this) m.training = false;
      const y = this.run(x);
      for (const m of this.modules()) m.training = true;
      return y;
    }
    if (!this.training) this.disposeScales();
    return this.run(x);
  }

  backward(dy: Tensor): Tensor {
    using scope = tensorScope();
    if (this.checkpoint && this.input) {
      this.run(this.input);
      this.input.dispose();
      this.input = null;
    }
    // y = x1 + s2·mlp(norm2(x1)); x1 = x + s1·attn(norm1(x))
    const dm = this.scales[1] ? rowScale(dy, this.scales[1]) : dy;
    const dh2 = this.mlp.backward(dm);
    // Both norms add the skip connection's gradient in their own pass: dx1 = norm2'(dh2) + dy.
    const dx1 = this.norm2.backward(dh2, dy);
    const da = this.scales[0] ? rowScale(dx1, this.scales[0]) : dx1;
    const dh1 = this.attn.backward(da);
    const dx = scope.keep(this.norm1.backward(dh1, dx1));
    this.disposeScales();
    return dx;
  }

  private disposeScales(): void {
    this.scales[0]?.dispose();
    this.scales[1]?.dispose();
    this.scales = [null, null];
  }

  protected override releaseCache(): void {
    this.input?.dispose();
    this.input = null;
    this.disposeScales();
  }
}

/**
 * x through `blocks` in order. Each intermediate is freed as soon as the next block has read it
 * (block inputs an inference forward does not cache would otherwise pile up until the caller's
 * scope closes); `x` stays the caller's. Returns a tensor the caller owns.
 */
export function forwardBlocks(blocks: readonly Block[], x: Tensor): Tensor {
  let h = x.retain();
  for (const b of blocks) {
    const y = b.forward(h);
    h.dispose();
    h = y;
  }
  return h;
}

/** dy back through `blocks` in reverse order, freeing each intermediate gradient as forwardBlocks does. */
export function backwardBlocks(blocks: readonly Block[], dy: Tensor): Tensor {
  let d = dy.retain();
  for (let i = blocks.length - 1; i >= 0; i--) {
    const next = blocks[i].backward(d);
    d.dispose();
    d = next;
  }
  return d;
}
