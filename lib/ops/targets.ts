// Pixel reconstruction targets, computed from the normalised clip the model sees: each undoes the
// input normalisation with the given mean/std first (back to [0,1] pixels). Tokens come out in
// raster order for all positions; select the masked ones afterwards with gatherTokens.
import { addon, type NativePixelTargetOptions } from '../native.js';
import { Tensor } from '../tensor.js';

/** Options of the pixel-target ops: the input's normalisation (undone first) and the token geometry. */
export interface PixelTargetOptions {
  /** Per-channel mean and std the input was normalised with (e.g. ImageNet's). */
  mean: number[];
  std: number[];
  /** Frames per tubelet (default 2). */
  tubelet?: number;
  /** Patch side in pixels (default 16). */
  patch?: number;
  /** Per-token normalisation (default true). */
  normalize?: boolean;
}

/** The binding's options for the two video targets, with their defaults filled in. */
function pixelOptions(opts: PixelTargetOptions, normalize: boolean): NativePixelTargetOptions {
  return { mean: opts.mean, std: opts.std, tubelet: opts.tubelet ?? 2, patch: opts.patch ?? 16, normalize: opts.normalize ?? normalize };
}

/**
 * VideoMAE target (SPEC §7): video [B,C,T,H,W] → [B, N, tubelet·p·p·C], values ordered
 * (t_in_tubelet, py, px, c) with the channel fastest; with normalize each channel of each token is
 * (x − mean) / (sqrt(unbiased var) + 1e-6).
 */
export function videomaePixelTarget(video: Tensor, opts: PixelTargetOptions): Tensor<'f32'> {
  return Tensor.fromNative(addon().videomaePixelTarget(video, pixelOptions(opts, true)));
}

/**
 * MAE target (SPEC §8): images [B,C,H,W] → [B, (H/p)(W/p), p·p·C], values (py, px, c); with
 * normalize each patch is jointly (x − mean) / sqrt(unbiased var + 1e-6).
 * Note: MAE itself patchifies the *normalised* images; pass mean [0,0,0] and std [1,1,1] to get
 * exactly that, or the real mean/std for targets in [0,1] pixel units.
 */
export function maePixelTarget(images: Tensor, opts: { mean: number[]; std: number[]; patch: number; normalize?: boolean }): Tensor<'f32'> {
  return Tensor.fromNative(
    addon().maePixelTarget(images, { mean: opts.mean, std: opts.std, patch: opts.patch, normalize: opts.normalize ?? true }),
  );
}

/**
 * Motion target, OUR definition: MAM2's exact RGB-difference target is unpublished (SPEC §9,
 * UNVERIFIED). Per tubelet, the last frame minus the first frame in [0,1] pixel units, giving
 * video [B,C,T,H,W] → [B, N, p·p·C] with values (py, px, c), the same token grid as the
 * appearance targets. normalize (default false) applies MAE-style joint per-patch normalisation;
 * it is off by default because a static patch has near-zero variance and would be amplified ~1000×.
 */
export function rgbDiffTarget(video: Tensor, opts: PixelTargetOptions): Tensor<'f32'> {
  return Tensor.fromNative(addon().rgbDiffTarget(video, pixelOptions(opts, false)));
}
