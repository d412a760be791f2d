// Seeded initialisation (SPEC §1.4). Every parameter draws from its own stream, derived from its
// state-dict name, so the same seed gives the same weights whatever the construction order, the
// thread count or the machine.
import { randomFill } from '../ops/random.js';
import { fill } from '../ops/elementwise.js';
import type { Tensor } from '../tensor.js';

/** FNV-1a of the name: a stable 32-bit stream id. */
export function streamOf(name: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < name.length; i++) {
    h ^= name.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h;
}

export type InitRule =
  | { kind: 'xavier_uniform' }
  | { kind: 'torch_default' } // kaiming_uniform(a=√5) weights and U(±1/√fan_in) bias: PyTorch's Linear/Conv default
  | { kind: 'trunc_normal'; std: number; a: number; b: number; scale?: number }
  | { kind: 'zeros' }
  | { kind: 'ones' };

/** Initialises a weight of shape [out, in...] (fan_in = product of the trailing dims). */
export function initTensor(t: Tensor, rule: InitRule, seed: number, name: string, fanIn?: number, fanOut?: number): void {
  const stream = streamOf(name);
  const fi = fanIn ?? (t.ndim > 1 ? t.numel / t.shape[0] : t.numel);
  const fo = fanOut ?? (t.ndim > 1 ? t.shape[0] : t.numel);
  switch (rule.kind) {
    case 'xavier_uniform': {
      const b = Math.sqrt(6 / (fi + fo));
      randomFill(t, { dist: 'uniform', a: -b, b }, seed, stream);
      break;
    }
    case 'torch_default': {
      const b = 1 / Math.sqrt(fi);
      randomFill(t, { dist: 'uniform', a: -b, b }, seed, stream);
      break;
    }
    case 'trunc_normal': {
      const s = rule.scale ?? 1;
      // The scale multiplies after truncation (the fine-tuning head's init_scale, SPEC §1.4).
      randomFill(t, { dist: 'truncnormal', mean: 0, std: rule.std * s, a: rule.a * s, b: rule.b * s }, seed, stream);
      break;
    }
    case 'zeros':
      fill(t, 0);
      break;
    case 'ones':
      fill(t, 1);
      break;
  }
}
