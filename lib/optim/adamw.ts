// AdamW over parameter groups, with gradient accumulation, optional clipping and loss scaling.
// The update itself is one fused native op over every tensor (lib/ops/optim.ts).
import { Tensor } from '../tensor.js';
import { adamw, gradNorm, allFinite, scaleTensors } from '../ops/optim.js';
import type { Parameter } from '../nn/module.js';
import type { ParamGroup } from './groups.js';

export interface AdamWOptions {
  beta1?: number;
  beta2?: number;
  eps?: number;
  /** Clip the global gradient norm to this value (SPEC: none by default). */
  clipGrad?: number;
}

export interface StepResult {
  /** Global gradient norm before clipping (after unscaling). */
  gradNorm: number;
  /** False when a gradient was not finite: the step was skipped. */
  applied: boolean;
}

/**
 * AdamW over parameter groups (per-group lr scale and weight decay), one fused native update for
 * every tensor, with optional clipping by the global gradient norm; moments are saved in checkpoints.
 */
export class AdamW {
  readonly beta1: number;
  readonly beta2: number;
  readonly eps: number;
  step = 0;
  private readonly m = new Map<Parameter, Tensor>();
  private readonly v = new Map<Parameter, Tensor>();

  constructor(
    readonly groups: ParamGroup[],
    readonly opts: AdamWOptions = {},
  ) {
    this.beta1 = opts.beta1 ?? 0.9;
    this.beta2 = opts.beta2 ?? 0.999;
    this.eps = opts.eps ?? 1e-8;
  }

  private moments(p: Parameter): [Tensor, Tensor] {
    let m = this.m.get(p),
      v = this.v.get(p);
    if (!m) this.m.set(p, (m = Tensor.zeros(p.value.shape)));
    if (!v) this.v.set(p, (v = Tensor.zeros(p.value.shape)));
    return [m, v];
  }

  /**
   * One update with `lr` (the scheduled value; each group multiplies its lrScale). `gradScale`
   * multiplies gradients first (1/lossScale, or 1/accumulation steps). Non-finite gradients skip
   * the step (dynamic loss scaling lowers its scale and retries).
   */
  async update(lr: number, gradScale = 1): Promise<StepResult> {
    const params: Tensor[] = [],
      grads: Tensor[] = [],
      ms: Tensor[] = [],
      vs: Tensor[] = [];
    const lrs: number[] = [],
      wds: number[] = [];
    for (const g of this.groups)
      for (const [, p] of g.params) {
        if (!p.hasGrad) continue;
        const [m, v] = this.moments(p);
        params.push(p.value);
        grads.push(p.grad!);
        ms.push(m);
        vs.push(v);
        lrs.push(lr * g.lrScale);
        wds.push(g.weightDecay);
      }
    if (params.length === 0) return { gradNorm: 0, applied: false };
    if (gradScale !== 1) scaleTensors(grads, gradScale);
    using finite = allFinite(grads);
    using norm = gradNorm(grads);
    const [ok, n] = [(await finite.toArray())[0], (await norm.toArray())[0]];
    if (!ok) return { gradNorm: n, applied: false };
    if (this.opts.clipGrad !== undefined && n > this.opts.clipGrad) scaleTensors(grads, this.opts.clipGrad / (n + 1e-6));
    this.step++;
    adamw(params, grads, ms, vs, { lr: lrs, weightDecay: wds, beta1: this.beta1, beta2: this.beta2, eps: this.eps, step: this.step });
    return { gradNorm: n, applied: true };
  }

  /** Moments by parameter name, for checkpoints. */
  stateTensors(named: [string, Parameter][]): Map<string, Tensor> {
    const out = new Map<string, Tensor>();
    for (const [name, p] of named) {
      const m = this.m.get(p),
        v = this.v.get(p);
      if (m) out.set(`exp_avg.${name}`, m);
      if (v) out.set(`exp_avg_sq.${name}`, v);
    }
    return out;
  }

  /** Whether any moment exists yet (none before the first update of a fresh run). */
  get hasMoments(): boolean {
    return this.m.size > 0;
  }

  /**
   * Both moments of every trainable parameter, created as zeros where missing, in `named` order:
   * what a data-parallel run broadcasts from rank 0 when it resumed (lib/dist/ddp.ts).
   */
  allMoments(named: [string, Parameter][]): Tensor[] {
    return named.filter(([, p]) => p.trainable).flatMap(([, p]) => this.moments(p));
  }

  loadState(named: [string, Parameter][], tensors: Map<string, Tensor>, step: number): void {
    for (const [name, p] of named) {
      const m = tensors.get(`exp_avg.${name}`),
        v = tensors.get(`exp_avg_sq.${name}`);
      if (m) {
        this.m.get(p)?.dispose();
        this.m.set(p, m);
      }
      if (v) {
        this.v.get(p)?.dispose();
        this.v.set(p, v);
      }
    }
    this.step = step;
  }

  dispose(): void {
    for (const t of [...this.m.values(), ...this.v.values()]) t.dispose();
    this.m.clear();
    this.v.clear();
  }
}

/** Dynamic loss scaling for reduced-precision training: halve on overflow, double after a quiet window. */
export class LossScaler {
  constructor(
    public scale = 2 ** 7,
    readonly window = 128,
    private quiet = 0,
  ) {}
  update(applied: boolean): void {
    if (!applied) {
      this.scale = Math.max(1, this.scale / 2);
      this.quiet = 0;
    } else if (++this.quiet >= this.window) {
      this.scale *= 2;
      this.quiet = 0;
    }
  }
}
