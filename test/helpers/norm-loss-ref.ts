// Float64 references for the norm, elementwise, loss and optimiser op tests. Reference loops only.

/** erf in float64: Taylor series below 2.5, continued fraction of erfc above; ~1e-15 relative. */
export function erf64(x: number): number {
  const s = Math.sign(x),
    a = Math.abs(x);
  if (a > 6) return s;
  // Series for small |x|, continued fraction of erfc for larger: both converge to double precision.
  if (a < 2.5) {
    let term = a,
      sum = a;
    for (let n = 1; n < 200; n++) {
      term *= (-a * a) / n;
      const add = term / (2 * n + 1);
      sum += add;
      if (Math.abs(add) < 1e-17 * Math.abs(sum)) break;
    }
    return (s * 2 * sum) / Math.sqrt(Math.PI);
  }
  let f = 0;
  for (let n = 60; n >= 1; n--) f = n / 2 / (a + f);
  const erfc = Math.exp(-a * a) / Math.sqrt(Math.PI) / (a + f);
  return s * (1 - erfc);
}

export function gelu64(x: number): number {
  return 0.5 * x * (1 + erf64(x / Math.SQRT2));
}

export function dgelu64(x: number): number {
  return 0.5 * (1 + erf64(x / Math.SQRT2)) + (x * Math.exp(-0.5 * x * x)) / Math.sqrt(2 * Math.PI);
}

export function layerNormRef(
  x: Float32Array,
  dy: Float32Array,
  w: Float32Array | null,
  b: Float32Array | null,
  rows: number,
  D: number,
  eps: number,
) {
  const y = new Float64Array(rows * D),
    dx = new Float64Array(rows * D);
  const mean = new Float64Array(rows),
    rstd = new Float64Array(rows);
  const dw = new Float64Array(D),
    db = new Float64Array(D);
  for (let i = 0; i < rows; i++) {
    let s = 0,
      ss = 0;
    for (let j = 0; j < D; j++) s += x[i * D + j];
    const mu = s / D;
    for (let j = 0; j < D; j++) ss += (x[i * D + j] - mu) ** 2;
    const rs = 1 / Math.sqrt(ss / D + eps);
    mean[i] = mu;
    rstd[i] = rs;
    let a = 0,
      c = 0;
    for (let j = 0; j < D; j++) {
      const xh = (x[i * D + j] - mu) * rs,
        wj = w ? w[j] : 1;
      y[i * D + j] = xh * wj + (b ? b[j] : 0);
      a += dy[i * D + j] * wj;
      c += dy[i * D + j] * wj * xh;
      dw[j] += dy[i * D + j] * xh;
      db[j] += dy[i * D + j];
    }
    a /= D;
    c /= D;
    for (let j = 0; j < D; j++) {
      const xh = (x[i * D + j] - mu) * rs,
        wj = w ? w[j] : 1;
      dx[i * D + j] = rs * (dy[i * D + j] * wj - a - xh * c);
    }
  }
  return { y, mean, rstd, dx, dw, db };
}

export type LossKind = 'smoothl1' | 'l2' | 'l1';

/** Mean loss of one pair and d(weight·mean)/dpred. */
export function lossRef(pred: Float32Array, target: Float32Array, kind: LossKind, weight: number, beta = 1) {
  const n = pred.length,
    grad = new Float64Array(n);
  let s = 0;
  for (let i = 0; i < n; i++) {
    const d = pred[i] - target[i],
      ad = Math.abs(d);
    if (kind === 'l2') {
      s += d * d;
      grad[i] = 2 * d;
    } else if (kind === 'l1' || beta === 0) {
      s += ad;
      grad[i] = Math.sign(d);
    } else if (ad < beta) {
      s += (0.5 * d * d) / beta;
      grad[i] = d / beta;
    } else {
      s += ad - 0.5 * beta;
      grad[i] = Math.sign(d);
    }
    grad[i] *= weight / n;
  }
  return { mean: s / n, grad };
}

/** One torch.optim.AdamW step in float64, in place on the Float64Array state. */
export function adamwRef(
  p: Float64Array,
  g: Float32Array,
  m: Float64Array,
  v: Float64Array,
  o: { lr: number; wd: number; beta1: number; beta2: number; eps: number; step: number; gradScale: number },
): void {
  const bc1 = 1 - o.beta1 ** o.step,
    bc2 = 1 - o.beta2 ** o.step;
  for (let i = 0; i < p.length; i++) {
    const gi = g[i] * o.gradScale;
    p[i] *= 1 - o.lr * o.wd;
    m[i] = o.beta1 * m[i] + (1 - o.beta1) * gi;
    v[i] = o.beta2 * v[i] + (1 - o.beta2) * gi * gi;
    p[i] -= ((o.lr / bc1) * m[i]) / (Math.sqrt(v[i]) / Math.sqrt(bc2) + o.eps);
  }
}
