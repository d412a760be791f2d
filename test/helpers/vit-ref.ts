// An independent float64 ViT forward over a checkpoint's own tensors (reference key names, SPEC
// §5), with the three positional tables of SPEC §1.5 written from their definitions. Used to check
// that a checkpoint loaded with no flags computes what its architecture says.
import { gelu64 } from './norm-loss-ref.js';

export interface RefVit {
  dim: number;
  depth: number;
  heads: number;
  patch: number;
  tubelet: number;
  /** 'qv': q_bias + v_bias; 'qkv': one qkv.bias. */
  qkvBias: 'qv' | 'qkv';
  posEmbed: 'sincos3d' | 'sinusoid1d' | 'sincos2d';
  cls: boolean;
  /** Apply `${prefix}norm` at the end. */
  finalNorm: boolean;
  prefix: string;
}

// 1D sin-cos of width d at position p: all sines, then all cosines.
function sincos1d(d: number, p: number, out: Float64Array, at: number): void {
  const half = d / 2;
  for (let k = 0; k < half; k++) {
    const w = 10000 ** (-k / half);
    out[at + k] = Math.sin(p * w);
    out[at + half + k] = Math.cos(p * w);
  }
}

/** The table for a grid of t×h×w tokens (no cls row). */
export function posTableRef(kind: RefVit['posEmbed'], D: number, t: number, h: number, w: number): Float64Array {
  const n = t * h * w;
  const out = new Float64Array(n * D);
  for (let ti = 0; ti < t; ti++)
    for (let hi = 0; hi < h; hi++)
      for (let wi = 0; wi < w; wi++) {
        const r = (ti * h + hi) * w + wi,
          at = r * D;
        if (kind === 'sinusoid1d') {
          for (let j = 0; j < D; j++) {
            const a = r / 10000 ** ((2 * Math.floor(j / 2)) / D);
            out[at + j] = j % 2 === 0 ? Math.sin(a) : Math.cos(a);
          }
        } else if (kind === 'sincos2d') {
          sincos1d(D / 2, wi, out, at);
          sincos1d(D / 2, hi, out, at + D / 2);
        } else {
          const dt = D / 4,
            ds = (3 * D) / 8;
          sincos1d(dt, ti, out, at);
          sincos1d(ds, wi, out, at + dt);
          sincos1d(ds, hi, out, at + dt + ds);
        }
      }
  return out;
}

type Weights = Map<string, Float32Array>;

function linear(x: Float64Array, n: number, din: number, W: Float32Array, dout: number, b: ArrayLike<number> | null): Float64Array {
  const y = new Float64Array(n * dout);
  for (let i = 0; i < n; i++)
    for (let o = 0; o < dout; o++) {
      let s = b ? b[o] : 0;
      for (let k = 0; k < din; k++) s += x[i * din + k] * W[o * din + k];
      y[i * dout + o] = s;
    }
  return y;
}

function layerNorm(x: Float64Array, n: number, d: number, g: Float32Array, b: Float32Array): Float64Array {
  const y = new Float64Array(n * d);
  for (let i = 0; i < n; i++) {
    let m = 0,
      v = 0;
    for (let j = 0; j < d; j++) m += x[i * d + j];
    m /= d;
    for (let j = 0; j < d; j++) v += (x[i * d + j] - m) ** 2;
    const r = 1 / Math.sqrt(v / d + 1e-6);
    for (let j = 0; j < d; j++) y[i * d + j] = (x[i * d + j] - m) * r * g[j] + b[j];
  }
  return y;
}

/**
 * One clip f32 [C, T, H, W] (normalised) → tokens [N(+1), D] after the last block (and the final
 * norm when `finalNorm`). The clip must be what the model sees: T = frames for video encoders.
 */
export function vitForwardRef(c: RefVit, w: Weights, clip: Float32Array, C: number, T: number, H: number, W: number): Float64Array {
  const get = (k: string) => {
    const v = w.get(c.prefix + k);
    if (!v) throw new Error(`reference: no tensor ${c.prefix + k}`);
    return v;
  };
  const D = c.dim,
    p = c.patch,
    kt = c.tubelet;
  const gt = T / kt,
    gh = H / p,
    gw = W / p,
    n = gt * gh * gw,
    K = C * kt * p * p;
  const patches = new Float64Array(n * K);
  for (let ti = 0; ti < gt; ti++)
    for (let hi = 0; hi < gh; hi++)
      for (let wi = 0; wi < gw; wi++) {
        const r = (ti * gh + hi) * gw + wi;
        let k = 0;
        for (let ch = 0; ch < C; ch++)
          for (let dt = 0; dt < kt; dt++)
            for (let dy = 0; dy < p; dy++)
              for (let dx = 0; dx < p; dx++) patches[r * K + k++] = clip[((ch * T + ti * kt + dt) * H + hi * p + dy) * W + wi * p + dx];
      }
  const emb = linear(patches, n, K, get('patch_embed.proj.weight'), D, get('patch_embed.proj.bias'));
  const pos = posTableRef(c.posEmbed, D, gt, gh, gw);
  for (let i = 0; i < n * D; i++) emb[i] += pos[i];
  const rows = n + (c.cls ? 1 : 0);
  let x: Float64Array = new Float64Array(rows * D);
  if (c.cls) {
    x.set(Array.from(get('cls_token')), 0);
    x.set(emb, D);
  } else x.set(emb);
  const hd = D / c.heads;
  for (let bi = 0; bi < c.depth; bi++) {
    const bk = (s: string) => get(`blocks.${bi}.${s}`);
    const h1 = layerNorm(x, rows, D, bk('norm1.weight'), bk('norm1.bias'));
    let bias: Float64Array;
    if (c.qkvBias === 'qv') {
      bias = new Float64Array(3 * D);
      bias.set(Array.from(bk('attn.q_bias')), 0);
      bias.set(Array.from(bk('attn.v_bias')), 2 * D);
    } else bias = Float64Array.from(bk('attn.qkv.bias'));
    const qkv = linear(h1, rows, D, bk('attn.qkv.weight'), 3 * D, bias);
    const att = new Float64Array(rows * D);
    const s = new Float64Array(rows);
    for (let hh = 0; hh < c.heads; hh++)
      for (let i = 0; i < rows; i++) {
        let mx = -Infinity;
        for (let j = 0; j < rows; j++) {
          let d = 0;
          for (let e = 0; e < hd; e++) d += qkv[i * 3 * D + hh * hd + e] * qkv[j * 3 * D + D + hh * hd + e];
          s[j] = d / Math.sqrt(hd);
          mx = Math.max(mx, s[j]);
        }
        let z = 0;
        for (let j = 0; j < rows; j++) z += s[j] = Math.exp(s[j] - mx);
        for (let e = 0; e < hd; e++) {
          let o = 0;
          for (let j = 0; j < rows; j++) o += s[j] * qkv[j * 3 * D + 2 * D + hh * hd + e];
          att[i * D + hh * hd + e] = o / z;
        }
      }
    const proj = linear(att, rows, D, bk('attn.proj.weight'), D, bk('attn.proj.bias'));
    for (let i = 0; i < rows * D; i++) x[i] += proj[i];
    const h2 = layerNorm(x, rows, D, bk('norm2.weight'), bk('norm2.bias'));
    const hidden = bk('mlp.fc1.bias').length;
    const f1 = linear(h2, rows, D, bk('mlp.fc1.weight'), hidden, bk('mlp.fc1.bias'));
    for (let i = 0; i < f1.length; i++) f1[i] = gelu64(f1[i]);
    const f2 = linear(f1, rows, hidden, bk('mlp.fc2.weight'), D, bk('mlp.fc2.bias'));
    for (let i = 0; i < rows * D; i++) x[i] += f2[i];
  }
  if (c.finalNorm) x = layerNorm(x, rows, D, get('norm.weight'), get('norm.bias'));
  return x;
}
