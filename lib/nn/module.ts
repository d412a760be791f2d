// Parameters and modules. A module owns named parameters and child modules (dotted names match
// the reference repositories' state-dict keys, SPEC §5); forward() caches what backward() needs
// and backward() consumes the cache. Gradients accumulate into Parameter.grad until zeroGrad().
import { Tensor, unscoped } from '../tensor.js';
import type { GemmOptions } from '../ops/gemm.js';
import type { WeightPrecision } from '../ops/gemm.js';
import { addInPlace } from '../ops/elementwise.js';
import { ValueError } from '../errors.js';

/** A named weight of a Module: its value, and the gradient that backward passes accumulate into it. */
export class Parameter {
  grad: Tensor | null = null;
  /** False after zeroGrad(): the next accumulation overwrites instead of adding (no memset). */
  private gradLive = false;
  /** Why the value is gone (release()), or null while it is held. */
  private releasedBecause: string | null = null;
  constructor(
    private current: Tensor,
    /** Frozen parameters (positional tables, teachers) get no gradient and are not optimised. */
    public readonly trainable = true,
  ) {
    unscoped(current);
  }

  /** The weight; a ValueError after release() (until a new value is assigned). */
  get value(): Tensor {
    if (this.releasedBecause !== null) throw new ValueError(this.releasedBecause);
    return this.current;
  }

  set value(t: Tensor) {
    this.current = unscoped(t);
    this.releasedBecause = null;
  }

  /** True after release(), until a new value is assigned. */
  get released(): boolean {
    return this.releasedBecause !== null;
  }

  /**
   * Frees the value's memory where a packed copy now serves every use (a frozen layer's weight
   * packed for inference); reading `value` afterwards is a ValueError with `why`, never stale data.
   */
  release(why: string): void {
    if (this.releasedBecause !== null) return;
    this.current.dispose();
    this.releasedBecause = why;
  }

  /** Adds `g` to the gradient and takes ownership of `g`. */
  accumulate(g: Tensor): void {
    if (!this.trainable) return void g.dispose();
    if (!this.gradLive || !this.grad) {
      this.grad?.dispose();
      // A view (e.g. a slice of a bigger gradient) is copied so the parameter owns dense storage.
      this.grad = unscoped(
        g.offset === 0 && g.numel * 4 === g.handle.bytes ? g.reshape(this.value.shape) : g.clone().reshape(this.value.shape),
      );
      if (this.grad !== g) g.dispose();
      this.gradLive = true;
    } else {
      addInPlace(this.grad, g);
      g.dispose();
    }
  }

  /** GEMM options that write op(A)·op(B) into the gradient: overwrite first, then accumulate. */
  gemmInto(opts: GemmOptions = {}): GemmOptions {
    if (!this.grad) this.grad = unscoped(Tensor.empty(this.value.shape));
    const beta = this.gradLive ? 1 : 0;
    this.gradLive = true;
    return { ...opts, out: this.grad, beta };
  }

  get hasGrad(): boolean {
    return this.gradLive && this.grad !== null;
  }

  zeroGrad(): void {
    this.gradLive = false;
  }

  dispose(): void {
    this.current.dispose();
    this.grad?.dispose();
    this.grad = null;
  }
}

/**
 * Base of every layer and model: owns parameters and child modules under their state-dict names
 * (SPEC §5), switches train/eval, and frees its tensors on dispose (native memory, not GC'd).
 */
export abstract class Module implements Disposable {
  private readonly ownParams: [string, Parameter][] = [];
  private readonly children: [string, Module][] = [];
  training = true;

  protected param(name: string, value: Tensor, trainable = true): Parameter {
    const p = new Parameter(value, trainable);
    this.ownParams.push([name, p]);
    return p;
  }

  protected child<M extends Module>(name: string, m: M): M {
    this.children.push([name, m]);
    return m;
  }

  /** All parameters with their state-dict names. */
  namedParameters(prefix = ''): [string, Parameter][] {
    const out: [string, Parameter][] = this.ownParams.map(([n, p]) => [prefix + n, p]);
    // A child mounted at '' shares its parent's namespace (the MVD student's encoder keys are root keys).
    for (const [n, c] of this.children) out.push(...c.namedParameters(n ? `${prefix}${n}.` : prefix));
    return out;
  }

  parameters(): Parameter[] {
    return this.namedParameters().map(([, p]) => p);
  }

  modules(): Module[] {
    return [this, ...this.children.flatMap(([, c]) => c.modules())];
  }

  /**
   * Training mode drops packed weights (packWeights): the weights may change from here on. A
   * module whose weights were released when packed cannot train: a ValueError, nothing changed.
   */
  train(on = true): this {
    if (on) {
      const gone = this.namedParameters().find(([, p]) => p.released);
      if (gone)
        throw new ValueError(
          `${gone[0]} was released when the weights were packed for inference (packWeights with release): load the weights again to train`,
        );
      this.unpackWeights();
    }
    for (const m of this.modules()) m.training = on;
    return this;
  }

  eval(): this {
    return this.train(false);
  }

  zeroGrad(): void {
    for (const p of this.parameters()) p.zeroGrad();
  }

  /** Drops cached activations (e.g. after a forward pass whose backward will not run). */
  clearCache(): void {
    for (const m of this.modules()) m.releaseCache();
  }

  protected releaseCache(): void {}

  /**
   * Packs every Linear weight below this module once for the CPU GEMM (gemmPackWeights), so an
   * inference forward stops repacking them on every call; a training forward never uses them.
   * Only for weights that no longer change (a teacher, a model under evaluation): call it after
   * loading, and again after any change; train() and loading a state dict drop the packed copies.
   * `precision: 'bf16'` rounds the weights to bf16 (half the memory; products round their input
   * to bf16 and accumulate in fp32: a frozen teacher's mode, a DeviceError where the CPU lacks
   * AVX512-BF16). `release` frees each plain weight that a pack now replaces (a teacher's forward
   * reads only the packs): the module can then neither train nor be saved until weights are loaded
   * again. Returns how many were packed (0 where the build cannot, or off the CPU).
   */
  packWeights(opts: PackOptions = {}): number {
    let n = 0;
    for (const m of this.modules()) n += m.packOwnWeights(opts) ? 1 : 0;
    return n;
  }

  /** Drops what packWeights made (released weights stay released: reading them is an error). */
  unpackWeights(): void {
    for (const m of this.modules()) m.unpackOwnWeights();
  }

  protected packOwnWeights(_opts: PackOptions): boolean {
    return false;
  }

  protected unpackOwnWeights(): void {}

  dispose(): void {
    this.unpackWeights();
    this.clearCache();
    for (const p of this.parameters()) p.dispose();
  }

  [Symbol.dispose](): void {
    this.dispose();
  }
}

/** How Module.packWeights packs: the precision of the packed copies, and whether the plain weights are freed. */
export interface PackOptions {
  /** Default 'fp32'. */
  precision?: WeightPrecision;
  /** Free the plain weights the packs replace (default false). */
  release?: boolean;
}

/** Keeps tensors a forward pass saved for backward; released in one call. */
export class Cache {
  private items: Tensor[] = [];
  /** Takes ownership of `t` (out of any tensor scope) until release(). */
  keep<T extends Tensor>(t: T): T {
    this.items.push(unscoped(t));
    return t;
  }
  release(): void {
    for (const t of this.items) t.dispose();
    this.items = [];
  }
  get size(): number {
    return this.items.length;
  }
}

/** Flattens all leading dims: [..., D] -> [rows, D] (a view). */
export function as2d(t: Tensor): Tensor {
  return t.reshape([-1, t.shape[t.ndim - 1]]);
}
