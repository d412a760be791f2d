// Preprocessing of decoded frames: u8 RGB [T,H,W,3] as ffmpeg's rgb24 delivers them.
import { addon } from '../native.js';
import { Tensor } from '../tensor.js';

/** A crop window in pixels: left x, top y, width w, height h. */
export interface CropBox {
  x: number;
  y: number;
  w: number;
  h: number;
}

/**
 * Crops every frame to `crop` (which must lie inside the frame) and resizes it to outH×outW with
 * bilinear interpolation, half-pixel centres (align_corners=False) and no antialias, rounding to
 * nearest. u8 [T,H,W,C] → u8 [T,outH,outW,C].
 */
export function resizeCrop(frames: Tensor, crop: CropBox, outH: number, outW: number): Tensor<'u8'> {
  return Tensor.fromNative(addon().resizeCrop(frames, { x: crop.x, y: crop.y, w: crop.w, h: crop.h, outH, outW }));
}

/** Horizontal flip of u8 [T,H,W,C] frames. */
export function flipFrames(frames: Tensor): Tensor<'u8'> {
  return Tensor.fromNative(addon().flipFrames(frames));
}

/**
 * u8 [B,T,H,W,C] (or [T,H,W,C]) → f32 [B,C,T,H,W] (or [C,T,H,W]) as (x/255 − mean[c]) / std[c],
 * layout change in the same pass.
 */
export function framesToClip(frames: Tensor, mean: number[], std: number[]): Tensor<'f32'> {
  return Tensor.fromNative(addon().framesToClip(frames, mean, std));
}
