// Typed errors. Native code creates these very classes (registered in native.ts), so a failing op
// throws e.g. a ShapeError whose `op`, `shapes` and `device` say exactly what went wrong.
/**
 * Base of every error the library throws; `op`, `shapes` and `device` are '' where they do not apply.
 * Catch this to tell library failures from others.
 */
export class MvdError extends Error {
  op = '';
  shapes = '';
  device = '';
  constructor(message: string, details: { op?: string; shapes?: string; device?: string } = {}) {
    super(message);
    this.name = new.target.name;
    Object.assign(this, details);
  }
}
/** A shape that does not fit the op (wrong rank, mismatched dimensions, out-of-range view). */
export class ShapeError extends MvdError {}
/** A tensor of the wrong element type for the op. */
export class DTypeError extends MvdError {}
/** Tensors on different devices, or a device this build or machine cannot use. */
export class DeviceError extends MvdError {}
/** A bad argument value (not a tensor, a negative size, an unknown option). */
export class ValueError extends MvdError {}
/** A tensor used after dispose(). */
export class DisposedError extends MvdError {}
/** A failure inside a native kernel or library (oneDNN, CUDA). */
export class NativeError extends MvdError {}
/** Work stopped on request (an AbortSignal); whatever could be saved was saved first. */
export class AbortedError extends MvdError {}
/** The native addon could not be loaded. */
export class AddonLoadError extends MvdError {}

/**
 * The classes the native addon throws by name (handed to it at load, native.ts), so kernel errors are
 * instances of these exact classes.
 */
export const errorClasses = { ShapeError, DTypeError, DeviceError, ValueError, DisposedError, NativeError };
