// The three fixed positional tables of SPEC §1.5, evaluated in double and stored f32, on the CPU
// unless `device` says otherwise ('cuda' or 'cuda:N': built there directly, no host copy).
import { addon } from '../native.js';
import { Tensor, normalizeDevice } from '../tensor.js';

/** Options of the positional-table ops: the device the table is made on. */
export interface TableOptions {
  device?: string;
}

/**
 * MVD 3D sin-cos [t·h·w, d] (d % 16 == 0), tokens t-major raster: per token the first d/4
 * channels encode t, then 3d/8 the column w, then 3d/8 the row h; each block sines then cosines.
 */
export function sincos3dTable(d: number, t: number, h: number, w: number, opts: TableOptions = {}): Tensor<'f32'> {
  return Tensor.fromNative(addon().sincos3dTable({ d, t, h, w, device: normalizeDevice(opts.device) }));
}

/** VideoMAE 1D table [n, d]: angle p / 10000^(2⌊j/2⌋/d), sin on even channels, cos on odd. */
export function sinusoid1dTable(n: number, d: number, opts: TableOptions = {}): Tensor<'f32'> {
  return Tensor.fromNative(addon().sinusoid1dTable(n, d, normalizeDevice(opts.device)));
}

/**
 * MAE 2D sin-cos [(cls ? 1 : 0) + g·g, d] (d % 4 == 0): first d/2 channels encode the column,
 * the rest the row; with cls a zero row comes first.
 */
export function sincos2dTable(d: number, g: number, opts: TableOptions & { cls?: boolean } = {}): Tensor<'f32'> {
  return Tensor.fromNative(addon().sincos2dTable(d, g, !!opts.cls, normalizeDevice(opts.device)));
}
