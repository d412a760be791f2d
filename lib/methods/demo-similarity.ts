// Cross-frame similarity (the paper's Figure 3 statistic): how much an encoder's pooled features
// differ between the temporal slots of a clip. The demo reports it per encoder and lib/plot draws
// it, so it lives here, below both.
import { Tensor } from '../tensor.js';
import { ShapeError } from '../errors.js';
import { gemm } from '../ops/gemm.js';
import { rowScale } from '../ops/elementwise.js';
import { meanTokens } from '../nn/classifier.js';
import type { ClipSource } from '../data/types.js';
import { stackClips } from './batch.js';

/**
 * Cosine similarity between the mean-pooled features of each temporal slot: features [1, S·P, D]
 * (slot-major, P tokens per slot) → S×S. Pooling, Gram matrix and row normalisation are native.
 */
export async function frameSimilarity(features: Tensor, slots: number): Promise<number[][]> {
  const [b, n, d] = features.shape;
  if (b !== 1 || n % slots)
    throw new ShapeError(`frameSimilarity: features [${features.shape}] do not split into ${slots} slots of one clip`, {
      op: 'frameSimilarity',
    });
  using f3 = features.reshape([slots, n / slots, d]);
  using pooled = meanTokens(f3);
  using gram = gemm(pooled, pooled, { transB: true });
  const g = await gram.toArray();
  using inv = Tensor.fromArray(
    Float32Array.from({ length: slots }, (_, i) => 1 / Math.sqrt(Math.max(g[i * slots + i], 1e-30))),
    [slots],
  );
  using unit = rowScale(pooled, inv);
  using cos = gemm(unit, unit, { transB: true });
  const c = await cos.toArray();
  return Array.from({ length: slots }, (_, i) => Array.from(c.slice(i * slots, (i + 1) * slots)));
}

/** Mean of the off-diagonal entries: lower = more temporal difference between slots. */
export function meanOffDiagonal(m: number[][]): number {
  let s = 0,
    k = 0;
  m.forEach((row, i) =>
    row.forEach((v, j) => {
      if (i !== j) {
        s += v;
        k++;
      }
    }),
  );
  return k ? s / k : 1;
}

/**
 * Mean off-diagonal slot similarity of `features` (pre-norm, [B, slots·P, D]) over the first
 * `clips` clips of `source`: one forward for all of them, then frameSimilarity clip by clip.
 */
export async function meanFrameSimilarity(
  features: (video: Tensor) => Tensor,
  slots: number,
  source: ClipSource,
  clips: number,
): Promise<number> {
  const n = Math.min(clips, source.length);
  const b = stackClips(await Promise.all(Array.from({ length: n }, (_, i) => source.get(i, 0))));
  using f = features(b.video);
  b.video.dispose();
  let sum = 0;
  for (let i = 0; i < n; i++) {
    using one = f.slice(i, i + 1);
    sum += meanOffDiagonal(await frameSimilarity(one, slots));
  }
  return sum / n;
}
