// Float64 references for the token, table, target and frame ops: written from the definitions
// (SPEC §1.1, §1.5, §7, §8, our §9 choice) by coordinates, never by the kernels' loop structure.

/** Deterministic bytes 0..255. */
export function randBytes(n: number, seed: number): Uint8Array {
  let s = (seed * 2654435761) >>> 0 || 1;
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    out[i] = s & 255;
  }
  return out;
}

/** Deterministic indices in [0, limit). */
export function randIdx(n: number, limit: number, seed: number): Int32Array {
  const b = randBytes(n * 3, seed);
  const out = new Int32Array(n);
  for (let i = 0; i < n; i++) out[i] = (b[3 * i] | (b[3 * i + 1] << 8) | (b[3 * i + 2] << 16)) % limit;
  return out;
}

/** Per sample a distinct random subset of [0, n) of size k (Fisher-Yates on a seeded stream). */
export function randDistinct(B: number, k: number, n: number, seed: number): Int32Array {
  const out = new Int32Array(B * k);
  const r = randIdx(B * n, 1 << 30, seed);
  for (let b = 0; b < B; b++) {
    const p = Array.from({ length: n }, (_, i) => i);
    for (let i = n - 1; i > 0; i--) {
      const j = r[b * n + i] % (i + 1);
      [p[i], p[j]] = [p[j], p[i]];
    }
    for (let i = 0; i < k; i++) out[b * k + i] = p[i];
  }
  return out;
}

/** Direct Conv3d with stride = kernel, weight [D,C,kt,kh,kw], over frames 0,s,2s,… → [B·ntok, D]. */
export function conv3dRef(
  x: Float32Array,
  [B, C, T, H, W]: number[],
  w: Float32Array,
  D: number,
  bias: Float32Array,
  kt: number,
  kh: number,
  kw: number,
  s = 1,
): Float64Array {
  const Tn = T / (kt * s),
    Nh = H / kh,
    Nw = W / kw;
  const out = new Float64Array(B * Tn * Nh * Nw * D);
  let r = 0;
  for (let b = 0; b < B; b++)
    for (let tt = 0; tt < Tn; tt++)
      for (let hh = 0; hh < Nh; hh++)
        for (let ww = 0; ww < Nw; ww++, r++)
          for (let d = 0; d < D; d++) {
            let acc = bias[d];
            for (let c = 0; c < C; c++)
              for (let dt = 0; dt < kt; dt++)
                for (let dy = 0; dy < kh; dy++)
                  for (let dx = 0; dx < kw; dx++) {
                    const f = (tt * kt + dt) * s;
                    acc +=
                      x[(((b * C + c) * T + f) * H + hh * kh + dy) * W + ww * kw + dx] * w[(((d * C + c) * kt + dt) * kh + dy) * kw + dx];
                  }
            out[r * D + d] = acc;
          }
  return out;
}

export type TargetKind = 'videomae' | 'mae' | 'diff';

/** Pixel targets from [B,C,T,H,W] (T = 1 for 'mae'), straight from the definitions. */
export function pixelTargetRef(
  x: Float32Array,
  [B, C, T, H, W]: number[],
  kind: TargetKind,
  o: { mean: number[]; std: number[]; tubelet: number; patch: number; normalize: boolean },
): Float64Array {
  const p = o.patch,
    tub = o.tubelet,
    nt = kind === 'videomae' ? tub : 1;
  const out: number[] = [];
  const px = (b: number, c: number, t: number, y: number, xx: number) => x[(((b * C + c) * T + t) * H + y) * W + xx] * o.std[c] + o.mean[c];
  for (let b = 0; b < B; b++)
    for (let tt = 0; tt < T / tub; tt++)
      for (let hh = 0; hh < H / p; hh++)
        for (let ww = 0; ww < W / p; ww++) {
          const v: number[] = [];
          for (let dt = 0; dt < nt; dt++)
            for (let py = 0; py < p; py++)
              for (let q = 0; q < p; q++)
                for (let c = 0; c < C; c++) {
                  const y = hh * p + py,
                    xx = ww * p + q;
                  v.push(
                    kind === 'diff' ? px(b, c, tt * tub + tub - 1, y, xx) - px(b, c, tt * tub, y, xx) : px(b, c, tt * tub + dt, y, xx),
                  );
                }
          if (o.normalize && kind === 'videomae') {
            const n = v.length / C;
            for (let c = 0; c < C; c++) {
              let m = 0,
                s = 0;
              for (let i = 0; i < n; i++) m += v[i * C + c];
              m /= n;
              for (let i = 0; i < n; i++) s += (v[i * C + c] - m) ** 2;
              const sd = Math.sqrt(s / (n - 1));
              for (let i = 0; i < n; i++) v[i * C + c] = (v[i * C + c] - m) / (sd + 1e-6);
            }
          } else if (o.normalize) {
            const m = v.reduce((a, e) => a + e, 0) / v.length;
            const sd = Math.sqrt(v.reduce((a, e) => a + (e - m) ** 2, 0) / (v.length - 1) + 1e-6);
            for (let i = 0; i < v.length; i++) v[i] = (v[i] - m) / sd;
          }
          out.push(...v);
        }
  return Float64Array.from(out);
}

/** Unrounded bilinear value (half-pixel centres, clamped to the crop) of frames u8 [T,H,W,C]. */
export function resizeCropRef(
  f: Uint8Array,
  [T, H, W, C]: number[],
  crop: { x: number; y: number; w: number; h: number },
  oh: number,
  ow: number,
): Float64Array {
  const tap = (o: number, nIn: number, nOut: number): [number, number, number] => {
    const s = Math.max(0, ((o + 0.5) * nIn) / nOut - 0.5);
    const i0 = Math.min(Math.floor(s), nIn - 1);
    return [i0, Math.min(i0 + 1, nIn - 1), s - i0];
  };
  const out = new Float64Array(T * oh * ow * C);
  for (let t = 0; t < T; t++)
    for (let y = 0; y < oh; y++) {
      const [y0, y1, fy] = tap(y, crop.h, oh);
      for (let x = 0; x < ow; x++) {
        const [x0, x1, fx] = tap(x, crop.w, ow);
        for (let c = 0; c < C; c++) {
          const at = (yy: number, xx: number) => f[((t * H + crop.y + yy) * W + crop.x + xx) * C + c];
          out[((t * oh + y) * ow + x) * C + c] =
            (1 - fy) * ((1 - fx) * at(y0, x0) + fx * at(y0, x1)) + fy * ((1 - fx) * at(y1, x0) + fx * at(y1, x1));
        }
      }
    }
  return out;
}

export function dot(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i] * b[i];
  return s;
}
