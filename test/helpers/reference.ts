// Float64 references and test data shared by the op tests. The loops here are the reference
// implementations tests compare against, never library code.
export function randn(n: number, seed: number): Float32Array {
  // xorshift + Box-Muller: deterministic, never all zeros.
  let s = (seed * 2654435761) >>> 0 || 1;
  const next = () => {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    return (s + 0.5) / 4294967296;
  };
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = Math.sqrt(-2 * Math.log(next())) * Math.cos(2 * Math.PI * next());
  return out;
}

/** max |a - ref| / (1 + |ref|); NaN anywhere gives Infinity. */
export function maxRelErr(a: ArrayLike<number>, ref: ArrayLike<number>): number {
  if (a.length !== ref.length) return Infinity;
  let m = 0;
  for (let i = 0; i < a.length; i++) {
    const e = Math.abs(a[i] - ref[i]) / (1 + Math.abs(ref[i]));
    if (!(e <= m)) m = Number.isNaN(e) ? Infinity : e;
  }
  return m;
}

export function gemmRef(
  A: Float32Array,
  B: Float32Array,
  M: number,
  N: number,
  K: number,
  o: { transA?: boolean; transB?: boolean; alpha?: number; beta?: number; C?: Float32Array; bias?: Float32Array } = {},
): Float64Array {
  const out = new Float64Array(M * N);
  const alpha = o.alpha ?? 1,
    beta = o.beta ?? 0;
  for (let i = 0; i < M; i++)
    for (let j = 0; j < N; j++) {
      let s = 0;
      for (let k = 0; k < K; k++) {
        const a = o.transA ? A[k * M + i] : A[i * K + k];
        const b = o.transB ? B[j * K + k] : B[k * N + j];
        s += a * b;
      }
      out[i * N + j] = alpha * s + (beta && o.C ? beta * o.C[i * N + j] : 0) + (o.bias ? o.bias[j] : 0);
    }
  return out;
}
