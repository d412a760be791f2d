// Gradient all-reduce overlapped with backward. Transformer blocks are the unit: once a block's
// backward has been queued, its gradients are final for the step (each block runs backward once
// per micro-batch), so the bucket holding them starts its all-reduce right there in the queue,
// and the rest of backward runs while it is in flight (collectives.ts startAllReduce). Buckets
// are runs of consecutive blocks in backward order (the reverse of module order) up to
// BUCKET_BYTES. Parameters outside blocks (embeddings, heads, final norms) and blocks that did
// not run are reduced after backward, as averageGradients does.
import type { Module, Parameter } from '../nn/module.js';
import { Block } from '../nn/layers.js';
import type { Tensor } from '../tensor.js';
import { ValueError } from '../errors.js';
import { startAllReduce, type PendingReduce } from './collectives.js';
import { averageGradients, BUCKET_BYTES, BYTES } from './ddp.js';

interface BlockBucket {
  blocks: Block[];
  done: Set<Block>;
  pending: PendingReduce | null;
}

export class OverlappedGradients implements Disposable {
  private readonly buckets: BlockBucket[] = [];
  private readonly bucketOf = new Map<Block, BlockBucket>();
  private readonly originals = new Map<Block, Block['backward']>();
  private armed = false;

  constructor(model: Module, bytes = BUCKET_BYTES) {
    const blocks = [...model.modules()].filter((m): m is Block => m instanceof Block && m.parameters().some((p) => p.trainable)).reverse();
    let cur: BlockBucket | null = null,
      size = 0;
    for (const b of blocks) {
      const s = b
        .parameters()
        .filter((p) => p.trainable)
        .reduce((a, p) => a + p.value.numel * BYTES[p.value.dtype], 0);
      if (!cur || (size + s > bytes && cur.blocks.length)) {
        cur = { blocks: [], done: new Set(), pending: null };
        this.buckets.push(cur);
        size = 0;
      }
      cur.blocks.push(b);
      size += s;
      this.bucketOf.set(b, cur);
      const orig = b.backward;
      this.originals.set(b, orig);
      b.backward = (dy: Tensor) => {
        const dx = orig.call(b, dy);
        if (this.armed) this.blockDone(b);
        return dx;
      };
    }
  }

  /** Block buckets formed (for tests and benchmarks). */
  get bucketCount(): number {
    return this.buckets.length;
  }

  /** The next backward is the step's last (the last micro-batch): its blocks start their buckets. */
  arm(): void {
    this.armed = true;
  }

  private blockDone(b: Block): void {
    const k = this.bucketOf.get(b)!;
    if (k.done.has(b))
      throw new ValueError(
        'data-parallel step: a transformer block ran backward twice in one micro-batch after its gradients were sent for averaging; ' +
          'a block used twice per forward cannot overlap its all-reduce (train with overlapAllReduce: false)',
        { op: 'train' },
      );
    k.done.add(b);
    if (k.done.size < k.blocks.length) return;
    const grads = k.blocks.flatMap((x) =>
      x
        .parameters()
        .filter((p) => p.hasGrad)
        .map((p) => p.grad!),
    );
    if (grads.length) k.pending = startAllReduce(grads, 'avg');
  }

  /**
   * Every gradient of `params` averaged over the ranks once the queue reaches the optimiser:
   * the started buckets are finished, everything else is reduced now.
   */
  finish(params: readonly Parameter[]): void {
    const covered = new Set<Parameter>();
    for (const k of this.buckets) {
      if (k.pending) {
        k.pending.finish();
        for (const b of k.blocks) for (const p of b.parameters()) covered.add(p);
      }
      k.pending = null;
      k.done.clear();
    }
    this.armed = false;
    averageGradients(params.filter((p) => !covered.has(p)));
  }

  [Symbol.dispose](): void {
    for (const [b, orig] of this.originals) b.backward = orig;
    this.originals.clear();
  }
}
