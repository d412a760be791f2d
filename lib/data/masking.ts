// Token masks for masked video modelling (SPEC §3.2). A mask is returned as two sorted index
// lists over the t-major raster token order, because the student gathers visible tokens and the
// decoders' targets are gathered at masked positions, and both need fixed-size lists per sample.
// Drawing a mask is index sampling over at most a few thousand positions, done on the loader's
// CPU side exactly like the reference's data-loader workers; no tensor data is touched.
import { Rng } from './rng.js';

/** Token grid a mask covers; a position is the t-major raster index (t·h + y)·w + x. */
export interface TokenGrid {
  /** Temporal token slices (frames / tubelet size; 8 for 16 frames with tubelet 2). */
  t: number;
  /** Spatial token rows and columns (14 × 14 for 224 px and 16 px patches). */
  h: number;
  w: number;
}

/** One sample's mask: visible and masked positions, disjoint, together every token of the grid. */
export interface Mask {
  /** Visible token positions, ascending raster order, [Nv]. */
  visible: Int32Array;
  /** Masked token positions, ascending raster order, [Nm]. */
  masked: Int32Array;
}

/**
 * 'tube': the same spatial mask in every time slice (MVD/VideoMAE, SPEC §3.2), so a token cannot be
 * read off its neighbour in time; 'random': i.i.d. over the clip (MAE-style).
 */
export type MaskType = 'tube' | 'random';

function checkGrid(g: TokenGrid, ratio: number): void {
  for (const k of ['t', 'h', 'w'] as const)
    if (!Number.isInteger(g[k]) || g[k] <= 0) throw new RangeError(`mask grid ${k} must be a positive integer, got ${g[k]}`);
  if (!(ratio >= 0 && ratio < 1)) throw new RangeError(`mask ratio must be in [0, 1), got ${ratio}`);
}

/** The grid for a clip: frames / tubelet × (size / patch)². */
export function tokenGrid(frames = 16, size = 224, patch = 16, tubelet = 2): TokenGrid {
  if (frames % tubelet || size % patch)
    throw new RangeError(`frames ${frames} / tubelet ${tubelet} or size ${size} / patch ${patch} is not whole`);
  return { t: frames / tubelet, h: size / patch, w: size / patch };
}

/** How many tokens each mask type hides: tube floors per slice, random floors over the whole clip. */
export function maskCounts(type: MaskType, grid: TokenGrid, ratio: number): { visible: number; masked: number } {
  checkGrid(grid, ratio);
  const hw = grid.h * grid.w,
    n = grid.t * hw;
  const masked = type === 'tube' ? grid.t * Math.floor(ratio * hw) : Math.floor(ratio * n);
  return { visible: n - masked, masked };
}

function split(isMasked: Uint8Array, nMasked: number): Mask {
  const visible = new Int32Array(isMasked.length - nMasked),
    masked = new Int32Array(nMasked);
  let v = 0,
    m = 0;
  for (let i = 0; i < isMasked.length; i++) {
    if (isMasked[i]) masked[m++] = i;
    else visible[v++] = i;
  }
  return { visible, masked };
}

/**
 * Tube masking (TubeMaskingGenerator): one random spatial pattern of floor(ratio·h·w) masked
 * positions, repeated over all t slices. For 8×14×14 at 0.9: 176 per slice, 160 visible, 1408 masked.
 */
export function tubeMask(grid: TokenGrid, ratio: number, rng: Rng): Mask {
  checkGrid(grid, ratio);
  const hw = grid.h * grid.w,
    perSlice = Math.floor(ratio * hw);
  const pattern = new Uint8Array(hw);
  pattern.fill(1, hw - perSlice);
  rng.shuffle(pattern);
  const all = new Uint8Array(grid.t * hw);
  for (let t = 0; t < grid.t; t++) all.set(pattern, t * hw);
  return split(all, grid.t * perSlice);
}

/** Random masking (RandomMaskingGenerator, MAE-style): floor(ratio·N) positions i.i.d. over the clip. */
export function randomMask(grid: TokenGrid, ratio: number, rng: Rng): Mask {
  checkGrid(grid, ratio);
  const n = grid.t * grid.h * grid.w,
    k = Math.floor(ratio * n);
  const all = new Uint8Array(n);
  all.fill(1, n - k);
  rng.shuffle(all);
  return split(all, k);
}

/** One mask of the given type (tubeMask or randomMask); a RangeError for an unknown type string. */
export function drawMask(type: MaskType, grid: TokenGrid, ratio: number, rng: Rng): Mask {
  if (type === 'tube') return tubeMask(grid, ratio, rng);
  if (type === 'random') return randomMask(grid, ratio, rng);
  throw new RangeError(`unknown mask type '${type as string}' (use 'tube' or 'random')`);
}

/** Masks of a batch packed row by row, every row the same length, ready for i32 index tensors. */
export interface BatchMask {
  /** [B, Nv] visible positions per sample, row-major. */
  visible: Int32Array;
  /** [B, Nm] masked positions per sample, row-major. */
  masked: Int32Array;
  batch: number;
  numVisible: number;
  numMasked: number;
}

/**
 * Masks for a batch, sample b drawn from Rng(seed, b) so a sample's mask does not depend on the
 * batch size it was drawn in. Every row has the same count, so the result packs into [B, N].
 */
export function batchMasks(type: MaskType, grid: TokenGrid, ratio: number, batch: number, seed: number): BatchMask {
  return rowMasks(
    type,
    grid,
    ratio,
    Array.from({ length: batch }, (_, b) => new Rng(seed, b)),
  );
}

/** One mask per row, each from its own generator (the loader keys them by seed, epoch, clip, view). */
export function rowMasks(type: MaskType, grid: TokenGrid, ratio: number, rngs: readonly Rng[]): BatchMask {
  const { visible: nv, masked: nm } = maskCounts(type, grid, ratio);
  const batch = rngs.length;
  const visible = new Int32Array(batch * nv),
    masked = new Int32Array(batch * nm);
  rngs.forEach((rng, b) => {
    const m = drawMask(type, grid, ratio, rng);
    visible.set(m.visible, b * nv);
    masked.set(m.masked, b * nm);
  });
  return { visible, masked, batch, numVisible: nv, numMasked: nm };
}

/**
 * Masks keyed per clip: row b·views + v from Rng(seed, epoch, keys[b], v), so clips of one batch
 * differ and a clip's mask depends neither on its batch nor on which worker loaded it.
 */
export function clipMasks(
  type: MaskType,
  grid: TokenGrid,
  ratio: number,
  seed: number,
  epoch: number,
  keys: ArrayLike<number>,
  views = 1,
): BatchMask {
  const rngs: Rng[] = [];
  for (let b = 0; b < keys.length; b++) for (let v = 0; v < views; v++) rngs.push(new Rng(seed, epoch, keys[b], v, 0x3a5c));
  return rowMasks(type, grid, ratio, rngs);
}
