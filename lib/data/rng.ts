// The one random number generator of the data pipeline: xoshiro128** seeded through splitmix32,
// on 32-bit integer math only (Math.imul, >>> 0), so a seed gives the same stream on every
// platform and Node version. Every random choice in lib/data takes an Rng, never Math.random,
// and per-sample streams are derived from (seed, epoch, index) so results do not depend on which
// worker handled a sample or when.

function splitmix32(state: { s: number }): number {
  state.s = (state.s + 0x9e3779b9) >>> 0;
  let z = state.s;
  z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
  z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
  return (z ^ (z >>> 16)) >>> 0;
}

/** Folds a list of non-negative integers (seed, epoch, index, ...) into one 32-bit seed. */
export function deriveSeed(...keys: number[]): number {
  const st = { s: 0x243f6a88 };
  let h = splitmix32(st);
  for (const k of keys) {
    if (!Number.isFinite(k)) throw new RangeError(`deriveSeed: key ${k} is not a finite number`);
    // Keys above 2^32 (e.g. a 64-bit-ish seed typed by a user) contribute both halves.
    const lo = k >>> 0,
      hi = Math.floor(Math.abs(k) / 4294967296) >>> 0;
    st.s = (h ^ lo) >>> 0;
    h = splitmix32(st);
    st.s = (h ^ hi ^ (k < 0 ? 0x80000000 : 0)) >>> 0;
    h = splitmix32(st);
  }
  return h;
}

const rotl = (x: number, k: number) => ((x << k) | (x >>> (32 - k))) >>> 0;

/**
 * Seedable xoshiro128** generator; `new Rng(seed, epoch, index)` gives a per-sample stream that is the
 * same on every platform, whichever worker draws it.
 */
export class Rng {
  private s0 = 0;
  private s1 = 0;
  private s2 = 0;
  private s3 = 0;
  private spareNormal: number | null = null;

  constructor(seed: number = 0, ...keys: number[]) {
    const st = { s: deriveSeed(seed, ...keys) };
    this.s0 = splitmix32(st);
    this.s1 = splitmix32(st);
    this.s2 = splitmix32(st);
    this.s3 = splitmix32(st);
    // xoshiro's all-zero state is a fixed point; splitmix never yields four zeros in a row,
    // but guard anyway so a hand-made state cannot get stuck.
    if ((this.s0 | this.s1 | this.s2 | this.s3) === 0) this.s0 = 1;
  }

  /** The generator state, to store in a checkpoint. */
  getState(): number[] {
    return [this.s0, this.s1, this.s2, this.s3];
  }
  static fromState(state: readonly number[]): Rng {
    if (state.length !== 4 || state.every((x) => x >>> 0 === 0)) throw new RangeError('Rng.fromState: need 4 words, not all zero');
    const r = new Rng(0);
    [r.s0, r.s1, r.s2, r.s3] = state.map((x) => x >>> 0);
    return r;
  }

  /** A child generator whose stream depends only on this one's seed lineage and the keys. */
  fork(...keys: number[]): Rng {
    return new Rng(this.nextU32(), ...keys);
  }

  nextU32(): number {
    const result = Math.imul(rotl(Math.imul(this.s1, 5) >>> 0, 7), 9) >>> 0;
    const t = (this.s1 << 9) >>> 0;
    this.s2 = (this.s2 ^ this.s0) >>> 0;
    this.s3 = (this.s3 ^ this.s1) >>> 0;
    this.s1 = (this.s1 ^ this.s2) >>> 0;
    this.s0 = (this.s0 ^ this.s3) >>> 0;
    this.s2 = (this.s2 ^ t) >>> 0;
    this.s3 = rotl(this.s3, 11);
    return result;
  }

  /** Uniform in [0, 1) with 53 random bits. */
  float(): number {
    const hi = this.nextU32() >>> 5,
      lo = this.nextU32() >>> 6;
    return (hi * 67108864 + lo) / 9007199254740992;
  }

  /** Uniform integer in [0, n). */
  int(n: number): number {
    if (!(n >= 1) || !Number.isInteger(n)) throw new RangeError(`Rng.int: n must be a positive integer, got ${n}`);
    return Math.floor(this.float() * n);
  }

  /** Uniform integer in [lo, hi], both ends included (Python's random.randint). */
  randint(lo: number, hi: number): number {
    if (hi < lo) throw new RangeError(`Rng.randint: empty range [${lo}, ${hi}]`);
    return lo + this.int(hi - lo + 1);
  }

  uniform(a: number, b: number): number {
    return a + (b - a) * this.float();
  }

  bernoulli(p: number): boolean {
    return this.float() < p;
  }

  normal(mean = 0, std = 1): number {
    if (this.spareNormal !== null) {
      const z = this.spareNormal;
      this.spareNormal = null;
      return mean + std * z;
    }
    let u = 0;
    while (u === 0) u = this.float();
    const v = this.float();
    const r = Math.sqrt(-2 * Math.log(u));
    this.spareNormal = r * Math.sin(2 * Math.PI * v);
    return mean + std * r * Math.cos(2 * Math.PI * v);
  }

  /** Gamma(shape, 1) by Marsaglia and Tsang; shapes below 1 use the Gamma(a+1)·U^(1/a) boost. */
  gamma(shape: number): number {
    if (!(shape > 0)) throw new RangeError(`Rng.gamma: shape must be positive, got ${shape}`);
    if (shape < 1) {
      let u = 0;
      while (u === 0) u = this.float();
      return this.gamma(shape + 1) * u ** (1 / shape);
    }
    const d = shape - 1 / 3,
      c = 1 / Math.sqrt(9 * d);
    for (;;) {
      let x: number, v: number;
      do {
        x = this.normal();
        v = 1 + c * x;
      } while (v <= 0);
      v = v * v * v;
      const u = this.float();
      if (u < 1 - 0.0331 * x * x * x * x) return d * v;
      if (Math.log(u) < 0.5 * x * x + d * (1 - v + Math.log(v))) return d * v;
    }
  }

  beta(a: number, b: number): number {
    const x = this.gamma(a),
      y = this.gamma(b);
    return x / (x + y);
  }

  choice<T>(items: readonly T[]): T {
    if (items.length === 0) throw new RangeError('Rng.choice: empty list');
    return items[this.int(items.length)];
  }

  /** Fisher–Yates, in place; returns its argument. */
  shuffle<T extends { length: number; [i: number]: unknown }>(a: T): T {
    for (let i = a.length - 1; i > 0; i--) {
      const j = this.int(i + 1);
      const t = a[i];
      a[i] = a[j];
      a[j] = t;
    }
    return a;
  }

  /** A random permutation of 0..n-1. */
  permutation(n: number): Int32Array {
    const p = new Int32Array(n);
    for (let i = 0; i < n; i++) p[i] = i;
    return this.shuffle(p);
  }
}
