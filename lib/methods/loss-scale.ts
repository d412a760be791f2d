// Loss scaling for the recipes: the training loop picks the scale (lib/optim LossScaler); each
// recipe multiplies the gradients its loss op returned before running backward.
import { scaleInPlace } from '../ops/elementwise.js';
import type { Tensor } from '../tensor.js';

/** Multiplies loss gradients by the loss scale in place (nothing to do at 1; null entries are skipped). */
export function applyLossScale(scale: number, ...grads: (Tensor | null | undefined)[]): void {
  if (scale !== 1) for (const g of grads) if (g) scaleInPlace(g, scale);
}
