import { addon } from '../native.js';
import type { Tensor } from '../tensor.js';

/** A distribution for randomFill: uniform [a, b), normal, or normal truncated to [a, b] (timm's trunc_normal_). */
export type RandomInit =
  | { dist: 'uniform'; a: number; b: number }
  | { dist: 'normal'; mean?: number; std: number }
  | { dist: 'truncnormal'; mean?: number; std: number; a: number; b: number };

/**
 * Fills an f32 tensor in place from a counter-based generator: element i depends only on
 * (seed, stream, i), so the same seed gives the same values for any thread count.
 */
export function randomFill(t: Tensor, init: RandomInit, seed: number, stream: number): Tensor {
  addon().randomFill(t, init, seed, stream);
  return t;
}
