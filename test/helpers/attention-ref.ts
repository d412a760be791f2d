// Reference attention (SPEC §1.2) over the fused qkv layout, for the op tests. `round` decides the
// precision: the identity gives float64, Math.fround gives a naive float32 implementation (every
// intermediate rounded), which sets the error budget the kernel is held to.
export interface AttnShape {
  B: number;
  N: number;
  heads: number;
  hd: number;
}

type Round = (x: number) => number;
export const f64: Round = (x) => x;
export const f32: Round = Math.fround;

function idx(s: AttnShape) {
  const D = s.heads * s.hd;
  return {
    D,
    at: (b: number, n: number, which: number, h: number, d: number) => (b * s.N + n) * 3 * D + which * D + h * s.hd + d,
    o: (b: number, n: number, h: number, d: number) => (b * s.N + n) * D + h * s.hd + d,
  };
}

/** Probabilities of one (b, h) as an N×N row-major matrix. */
function probs(qkv: ArrayLike<number>, s: AttnShape, b: number, h: number, R: Round): { P: Float64Array; lse: Float64Array } {
  const { at } = idx(s);
  const { N, hd } = s;
  const scale = R(1 / Math.sqrt(hd));
  const P = new Float64Array(N * N),
    lse = new Float64Array(N);
  for (let i = 0; i < N; i++) {
    let mx = -Infinity;
    for (let j = 0; j < N; j++) {
      let dot = 0;
      for (let d = 0; d < hd; d++) dot = R(dot + R(qkv[at(b, i, 0, h, d)] * qkv[at(b, j, 1, h, d)]));
      P[i * N + j] = R(dot * scale);
      mx = Math.max(mx, P[i * N + j]);
    }
    let sum = 0;
    for (let j = 0; j < N; j++) {
      P[i * N + j] = R(Math.exp(P[i * N + j] - mx));
      sum = R(sum + P[i * N + j]);
    }
    for (let j = 0; j < N; j++) P[i * N + j] = R(P[i * N + j] / sum);
    lse[i] = R(mx + R(Math.log(sum)));
  }
  return { P, lse };
}

export function attentionRef(qkv: ArrayLike<number>, s: AttnShape, R: Round = f64): { out: Float64Array; lse: Float64Array } {
  const { D, at, o } = idx(s);
  const out = new Float64Array(s.B * s.N * D),
    lse = new Float64Array(s.B * s.heads * s.N);
  for (let b = 0; b < s.B; b++)
    for (let h = 0; h < s.heads; h++) {
      const { P, lse: l } = probs(qkv, s, b, h, R);
      lse.set(l, (b * s.heads + h) * s.N);
      for (let i = 0; i < s.N; i++)
        for (let d = 0; d < s.hd; d++) {
          let acc = 0;
          for (let j = 0; j < s.N; j++) acc = R(acc + R(P[i * s.N + j] * qkv[at(b, j, 2, h, d)]));
          out[o(b, i, h, d)] = acc;
        }
    }
  return { out, lse };
}

/** d(Σ dout ∘ out)/d(qkv) in the qkv layout, from the textbook softmax backward. */
export function attentionBackwardRef(qkv: ArrayLike<number>, dout: ArrayLike<number>, s: AttnShape, R: Round = f64): Float64Array {
  const { at, o } = idx(s);
  const { N, hd } = s;
  const scale = R(1 / Math.sqrt(hd));
  const g = new Float64Array(qkv.length);
  const dS = new Float64Array(N * N);
  for (let b = 0; b < s.B; b++)
    for (let h = 0; h < s.heads; h++) {
      const { P } = probs(qkv, s, b, h, R);
      for (let i = 0; i < N; i++) {
        let rowdot = 0;
        for (let j = 0; j < N; j++) {
          let dp = 0;
          for (let d = 0; d < hd; d++) dp = R(dp + R(dout[o(b, i, h, d)] * qkv[at(b, j, 2, h, d)]));
          dS[i * N + j] = dp;
          rowdot = R(rowdot + R(P[i * N + j] * dp));
        }
        for (let j = 0; j < N; j++) dS[i * N + j] = R(P[i * N + j] * R(dS[i * N + j] - rowdot));
      }
      for (let i = 0; i < N; i++)
        for (let d = 0; d < hd; d++) {
          let dq = 0,
            dk = 0,
            dv = 0;
          for (let j = 0; j < N; j++) {
            dq = R(dq + R(dS[i * N + j] * qkv[at(b, j, 1, h, d)]));
            dk = R(dk + R(dS[j * N + i] * qkv[at(b, j, 0, h, d)]));
            dv = R(dv + R(P[j * N + i] * dout[o(b, j, h, d)]));
          }
          g[at(b, i, 0, h, d)] = R(dq * scale);
          g[at(b, i, 1, h, d)] = R(dk * scale);
          g[at(b, i, 2, h, d)] = dv;
        }
    }
  return g;
}
