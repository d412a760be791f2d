// Native renderer of one synthetic clip (native/ops/synth). Unlike the tensor ops it runs
// synchronously on the calling thread and returns a plain Uint8Array [T,H,W,3]: it is called inside
// data-loader worker threads, whose results must be transferable ArrayBuffers, and a 16×224² clip
// takes about 15 ms. Wrap with Tensor.fromArray(data, [T,H,W,3]) for a u8 tensor.
import { addon } from '../native.js';

export interface SynthClipParams {
  T: number;
  H: number;
  W: number;
  /** Background seed: gradient colours, clutter blobs, static grain. */
  seed: number;
  /** 0 disc, 1 square, 2 triangle, 3 cross. */
  shape: number;
  /** 0 diagonal stripes, 1 checker, 2 dots, 3 rings (in object coordinates, so they move with it). */
  texture: number;
  colorA: [number, number, number];
  colorB: [number, number, number];
  /** Object centre at frame 0 and velocity, pixels and pixels/frame. */
  cx: number;
  cy: number;
  vx: number;
  vy: number;
  radius: number;
  /** Orientation at frame 0 and angular velocity (radians, radians/frame; positive = clockwise on screen). */
  angle: number;
  omega: number;
  /** Texture period in pixels. */
  period: number;
  /** Number of background blobs (0..256). */
  clutter: number;
  /** Static per-pixel grain amplitude in u8 levels. */
  grain?: number;
}

/** Renders [T,H,W,3] u8 RGB; writes into `dest` (exactly T·H·W·3 bytes) when given. */
export function renderSynthClip(params: SynthClipParams, dest?: Uint8Array): Uint8Array {
  return addon().renderSynthClip(params, dest ?? null) as Uint8Array;
}
