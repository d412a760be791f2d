// A typed tensor over native memory. The JS object is a small descriptor (handle, offset, shape,
// dtype, device); the elements live in native storage and are only touched by native ops.
// Ops are queued on the tensor's device, so calls return at once; reading values back
// (toArray(), item()) is the synchronisation point.
import { addon, type NativeStorageHandle, type NativeTensorDesc } from './native.js';
import { DisposedError, DTypeError, ShapeError, ValueError } from './errors.js';

/** Element types: float32, bfloat16 (stored as uint16 bits), uint8 (pixels), int32 (indices, labels). */
export type DType = 'f32' | 'bf16' | 'u8' | 'i32';
/** Where a tensor lives: host memory, or CUDA device N. */
export type Device = 'cpu' | `cuda:${number}`;
export type ArrayFor<D extends DType> = D extends 'f32'
  ? Float32Array
  : D extends 'bf16'
    ? Uint16Array
    : D extends 'u8'
      ? Uint8Array
      : Int32Array;
export type TypedArray = Float32Array | Uint16Array | Uint8Array | Int32Array;

const ARRAY_CTOR = { f32: Float32Array, bf16: Uint16Array, u8: Uint8Array, i32: Int32Array } as const;

function dtypeOf(data: TypedArray): DType {
  if (data instanceof Float32Array) return 'f32';
  if (data instanceof Uint8Array) return 'u8';
  if (data instanceof Int32Array) return 'i32';
  if (data instanceof Uint16Array) return 'bf16';
  throw new ValueError('fromArray: data must be a Float32Array, Uint16Array (bf16), Uint8Array or Int32Array');
}

export function numelOf(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

/** The most bytes one tensor may hold (2^46, as native/binding/args.h): far above any machine's memory. */
export const MAX_TENSOR_BYTES = 2 ** 46;
const DTYPE_BYTES: Record<DType, number> = { f32: 4, bf16: 2, u8: 1, i32: 4 };

/**
 * Checks a shape given to a constructor before it reaches native code: an array of non-negative
 * safe integers whose byte size stays under MAX_TENSOR_BYTES. A wrapped element count used to
 * allocate a 0-byte buffer that a later op wrote past.
 */
export function checkShape(op: string, shape: unknown, dtype: DType): readonly number[] {
  if (!Array.isArray(shape)) throw new ValueError(`${op}: shape must be an array of dimensions, got ${String(shape)}`, { op });
  const bad = shape.findIndex((d) => typeof d !== 'number' || !Number.isSafeInteger(d) || d < 0);
  if (bad >= 0)
    throw new ShapeError(`${op}: shape [${shape.join(',')}] dimension ${bad} is ${String(shape[bad])}, not a non-negative integer`, {
      op,
      shapes: `[${shape.join(',')}]`,
    });
  const bytes = numelOf(shape) * DTYPE_BYTES[dtype];
  if (bytes > MAX_TENSOR_BYTES)
    throw new ShapeError(`${op}: shape [${shape.join(',')}] of ${dtype} needs ${bytes} bytes, more than the 2^46 a tensor may hold`, {
      op,
      shapes: `[${shape.join(',')}]`,
    });
  return shape as number[];
}

let defaultDevice: Device = 'cpu';

/**
 * The device tensors are created on when a call names none (initially 'cpu'). Setting it to a CUDA
 * device runs models, optimizers and recipes there unchanged: every tensor they create without an
 * explicit device (parameters, activations, index lists, batches) lands on it.
 */
export function setDefaultDevice(device: string): Device {
  defaultDevice = normalizeDevice(device);
  return defaultDevice;
}

/** The device tensors are created on when none is given (setDefaultDevice changes it). */
export function getDefaultDevice(): Device {
  return defaultDevice;
}

export function normalizeDevice(device: string | undefined): Device {
  if (device === undefined) return defaultDevice;
  if (device === 'cpu') return 'cpu';
  if (device === 'cuda') return 'cuda:0';
  if (/^cuda:\d+$/.test(device)) return device as Device;
  throw new ValueError(`unknown device '${device}' (use 'cpu', 'cuda' or 'cuda:N')`);
}

/**
 * A tensor: a descriptor (shape, dtype, device, element offset) over native storage that views
 * share. Ops on it are queued on its device and return at once; toArray() waits for them.
 * dispose() (or `using`) frees the storage as soon as no queued op needs it.
 */
export class Tensor<D extends DType = DType> implements Disposable {
  /** Native storage handle; shared by views. Read by the addon. */
  readonly handle: NativeStorageHandle;
  /** Offset into the storage, in elements. */
  readonly offset: number;
  readonly shape: readonly number[];
  readonly dtype: D;
  readonly device: Device;
  /** The tensor scope that frees this tensor when it closes, or null (see tensorScope). */
  scope: TensorScope | null = null;

  private constructor(desc: NativeTensorDesc) {
    this.handle = desc.handle;
    this.offset = desc.offset;
    this.shape = Object.freeze([...desc.shape]);
    this.dtype = desc.dtype as D;
    this.device = desc.device as Device;
    // The only cost when no scope is open: one length check per tensor.
    if (openScopes.length > 0) openScopes[openScopes.length - 1].adopt(this);
  }

  /** Wraps what a native op returned. */
  static fromNative<D extends DType = 'f32'>(desc: NativeTensorDesc): Tensor<D> {
    return new Tensor<D>(desc);
  }

  /** Copies a typed array into a new tensor; the dtype follows the array type (Uint16Array = bf16). */
  static fromArray<A extends TypedArray>(
    data: A,
    shape: readonly number[],
    opts: { device?: string } = {},
  ): Tensor<A extends Float32Array ? 'f32' : A extends Uint8Array ? 'u8' : A extends Int32Array ? 'i32' : 'bf16'> {
    const dtype = dtypeOf(data);
    return new Tensor(addon().fromBuffer(data, [...checkShape('fromArray', shape, dtype)], dtype, normalizeDevice(opts.device))) as never;
  }

  /** A new tensor with unspecified contents (for outputs an op overwrites). */
  static empty<D extends DType = 'f32'>(shape: readonly number[], opts: { dtype?: D; device?: string } = {}): Tensor<D> {
    const dtype = opts.dtype ?? 'f32';
    if (!(dtype in DTYPE_BYTES)) throw new DTypeError(`empty: unknown dtype '${String(dtype)}' (f32, bf16, u8, i32)`, { op: 'empty' });
    return new Tensor<D>(addon().empty([...checkShape('empty', shape, dtype)], dtype, normalizeDevice(opts.device)));
  }

  /** A new tensor filled with zeros (f32: filled natively on the queue, no JS-side buffer). */
  static zeros<D extends DType = 'f32'>(shape: readonly number[], opts: { dtype?: D; device?: string } = {}): Tensor<D> {
    if ((opts.dtype ?? 'f32') === 'f32') {
      const t = Tensor.empty<D>(shape, opts);
      addon().fill(t, 0);
      return t;
    }
    const dtype = opts.dtype ?? 'f32';
    if (!(dtype in ARRAY_CTOR)) throw new DTypeError(`zeros: unknown dtype '${String(dtype)}' (f32, bf16, u8, i32)`, { op: 'zeros' });
    const Ctor = ARRAY_CTOR[dtype];
    return Tensor.fromArray(new Ctor(numelOf(checkShape('zeros', shape, dtype))), shape, opts) as unknown as Tensor<D>;
  }

  get numel(): number {
    return numelOf(this.shape);
  }
  get ndim(): number {
    return this.shape.length;
  }
  get disposed(): boolean {
    return this.handle.disposed;
  }

  private live(op: string): void {
    if (this.handle.disposed)
      throw new DisposedError(`${op}: tensor ${fmtShape(this.shape)} was used after dispose()`, {
        op,
        shapes: fmtShape(this.shape),
        device: this.device,
      });
  }

  /** A view with another shape over the same elements (no copy). One dimension may be -1. */
  reshape(shape: readonly number[]): Tensor<D> {
    this.live('reshape');
    if (!Array.isArray(shape))
      throw new ValueError(`reshape: shape must be an array of dimensions, got ${String(shape)}`, { op: 'reshape' });
    const s = [...shape];
    const free = s.indexOf(-1);
    if (free >= 0) {
      const rest = numelOf(s.filter((_, i) => i !== free));
      s[free] = rest === 0 ? 0 : this.numel / rest;
    }
    if (numelOf(s) !== this.numel || s.some((d) => !Number.isSafeInteger(d) || d < 0))
      throw new ShapeError(`reshape: cannot view ${fmtShape(this.shape)} as ${fmtShape(shape)}`, {
        op: 'reshape',
        shapes: `${fmtShape(this.shape)} -> ${fmtShape(shape)}`,
        device: this.device,
      });
    return this.view(this.offset, s);
  }

  /**
   * Another reference to the same storage (a view with the same shape): the storage lives until
   * both this tensor and the new one are disposed. For a holder that must outlive the caller's
   * reference (a cache saving an input for backward).
   */
  retain(): Tensor<D> {
    this.live('retain');
    return this.view(this.offset, [...this.shape]);
  }

  /** A view of rows [start, end) along the first dimension (no copy). */
  slice(start: number, end: number = this.shape[0]): Tensor<D> {
    this.live('slice');
    if (this.ndim === 0 || !(0 <= start && start <= end && end <= this.shape[0]) || !Number.isInteger(start) || !Number.isInteger(end))
      throw new ShapeError(`slice: [${start}, ${end}) is outside dimension 0 of ${fmtShape(this.shape)}`, {
        op: 'slice',
        shapes: fmtShape(this.shape),
        device: this.device,
      });
    const row = this.numel / (this.shape[0] || 1);
    return this.view(this.offset + start * row, [end - start, ...this.shape.slice(1)]);
  }

  private view(offset: number, shape: number[]): Tensor<D> {
    return new Tensor<D>({ handle: this.handle.share(), offset, shape, dtype: this.dtype, device: this.device });
  }

  /** A contiguous copy (queued after earlier writes). */
  clone(): Tensor<D> {
    this.live('clone');
    return new Tensor<D>(addon().copy(this));
  }

  /**
   * A copy on `device` ('cpu', 'cuda', 'cuda:N'); always a new tensor, even on the same device.
   * Between devices it waits for this tensor's pending work (a synchronisation point).
   */
  to(device: string): Tensor<D> {
    this.live('to');
    return new Tensor<D>(addon().copy(this, normalizeDevice(device)));
  }

  /**
   * Copies `src`'s elements into this tensor (same dtype and element count; queued on one device,
   * immediate after both queues drain when the devices differ). Returns this.
   */
  assign(src: Tensor<D>): this {
    this.live('assign');
    addon().assign(this, src);
    return this;
  }

  /** Waits for queued work and copies the elements out. */
  async toArray(): Promise<ArrayFor<D>> {
    this.live('toArray');
    const out = new ARRAY_CTOR[this.dtype](this.numel) as ArrayFor<D>;
    return addon().read(this, out);
  }

  /** Like toArray(), but blocks the JS thread until the device queue is idle. For tests and scripts. */
  toArraySync(): ArrayFor<D> {
    this.live('toArraySync');
    const out = new ARRAY_CTOR[this.dtype](this.numel) as ArrayFor<D>;
    return addon().readSync(this, out);
  }

  /** The single element of a one-element tensor. */
  async item(): Promise<number> {
    if (this.numel !== 1) throw new ShapeError(`item: tensor ${fmtShape(this.shape)} has ${this.numel} elements, not 1`, { op: 'item' });
    return (await this.toArray())[0];
  }

  /** Releases this handle's reference to the storage now. Views keep their own reference. */
  dispose(): void {
    this.handle.dispose();
  }
  [Symbol.dispose](): void {
    this.dispose();
  }

  toString(): string {
    return `Tensor(${fmtShape(this.shape)}, ${this.dtype}, ${this.device}${this.disposed ? ', disposed' : ''})`;
  }
}

/** Scopes open now, innermost last; the Tensor constructor registers into the last one. */
const openScopes: TensorScope[] = [];

/**
 * The temporaries of one synchronous forward or backward body: every tensor created while this is
 * the innermost open scope is registered in it, and closing it ([Symbol.dispose], i.e. `using`)
 * frees those still alive, on success or exception alike, except the ones passed to keep(). That
 * lets forward/backward code read as a list of ops without a dispose() per intermediate.
 *
 * Scopes are for synchronous code only: a scope still open when the current job yields (an
 * `await` inside it) is detected on the next microtask and taken off the stack, so later tensors
 * do not land in it; closing it then frees nothing (code that ran between the yield and that
 * microtask, such as the caller's, may have registered its own tensors) and throws a ValueError.
 */
export class TensorScope implements Disposable {
  private readonly items: Tensor[] = [];
  private readonly parent: TensorScope | null;
  private open = true;
  private heldAcrossAwait = false;

  constructor() {
    this.parent = openScopes.length > 0 ? openScopes[openScopes.length - 1] : null;
    openScopes.push(this);
    queueMicrotask(() => {
      if (this.open && !this.heldAcrossAwait) TensorScope.dropFrom(this);
    });
  }

  /** Takes `scope` and every scope opened inside it off the stack once the job that opened them ended. */
  private static dropFrom(scope: TensorScope): void {
    const at = openScopes.indexOf(scope);
    if (at >= 0) for (const s of openScopes.splice(at)) s.heldAcrossAwait = true;
  }

  /** Registers `t` here (called by the Tensor constructor). */
  adopt(t: Tensor): void {
    t.scope = this;
    this.items.push(t);
  }

  /**
   * Exempts `t` (created in this scope) from this scope's cleanup and hands it to the enclosing
   * scope, or to no scope when this is the outermost: what a body returns. A tensor this scope does
   * not hold (a caller's input, one already kept) is returned unchanged. Returns `t`.
   */
  keep<T extends Tensor | null | undefined>(t: T): T {
    if (t && t.scope === this) {
      t.scope = null;
      this.parent?.adopt(t);
    }
    return t;
  }

  /** Number of tensors this scope still frees when it closes. */
  get size(): number {
    let n = 0;
    for (const t of this.items) if (t.scope === this && !t.disposed) n++;
    return n;
  }

  [Symbol.dispose](): void {
    if (!this.open) return;
    this.open = false;
    const at = openScopes.lastIndexOf(this);
    const inner = at < 0 ? 0 : openScopes.length - 1 - at;
    if (at >= 0) openScopes.splice(at, 1);
    for (const t of this.items) {
      if (t.scope !== this) continue;
      t.scope = null;
      // After a yield, the caller's code that ran before the next microtask may have registered its
      // own tensors here: freeing them would break that caller, so the collector gets them all.
      if (!t.disposed && !this.heldAcrossAwait) t.dispose();
    }
    this.items.length = 0;
    if (inner > 0)
      throw new ValueError(`tensor scope closed out of order: ${inner} scope(s) opened inside it are still open, expected none`, {
        op: 'tensorScope',
      });
    if (this.heldAcrossAwait)
      throw new ValueError(
        'a tensor scope was held across an await (its tensors were left to the garbage collector): scopes are for synchronous forward/backward bodies only',
        {
          op: 'tensorScope',
        },
      );
  }
}

/** Opens a scope for a synchronous body's temporaries: `using scope = tensorScope();` (see TensorScope). */
export function tensorScope(): TensorScope {
  return new TensorScope();
}

/** What a tidy() body may return: its tensors go to the caller. */
export type TidyResult = Tensor | readonly (Tensor | null | undefined)[] | Record<string, Tensor | null | undefined>;

/**
 * Runs `fn` in a new scope: every tensor it creates is freed when it returns or throws, except
 * the tensors in its result (a tensor, an array or a record of tensors), which go to the caller.
 */
export function tidy<R extends TidyResult>(fn: () => R): R;
export function tidy(fn: () => void): void;
export function tidy(fn: () => unknown): unknown {
  using scope = tensorScope();
  const r = fn();
  if (r instanceof Tensor) scope.keep(r);
  else if (r && typeof r === 'object') for (const t of Object.values(r)) if (t instanceof Tensor) scope.keep(t);
  return r;
}

/**
 * Takes `t` out of every scope: a long-lived owner (a parameter, a module's cache, a module field)
 * now frees it. Returns `t`.
 */
export function unscoped<T extends Tensor | null | undefined>(t: T): T {
  if (t) t.scope = null;
  return t;
}

export function fmtShape(shape: readonly number[]): string {
  return `[${shape.join(',')}]`;
}

/** Resolves when all work queued so far on `device` has run. */
export function sync(device?: string): Promise<void> {
  return addon().sync(normalizeDevice(device));
}

/** Disposes every tensor in a list or record (e.g. the outputs of a step). */
export function disposeAll(...items: (Tensor | undefined | null | Iterable<Tensor | undefined | null>)[]): void {
  for (const it of items) {
    if (!it) continue;
    if (it instanceof Tensor) it.dispose();
    else for (const t of it) t?.dispose();
  }
}
