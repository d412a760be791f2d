#include <algorithm>
#include <cmath>
#include <cstring>
#include <stdexcept>
#include <string>
#include <vector>

#include <omp.h>

#include "../random/random.h"
#include "augment.h"

namespace mvd {
namespace {

// One frame [H,W,C] being augmented in place; `tmp` is a frame-sized scratch for the ops whose
// output pixel reads several input pixels (geometric ops, the smoothing filter).
struct FrameRef {
  uint8_t* p;
  uint8_t* tmp;
  int64_t H, W, C;
  int64_t px() const { return H * W; }
  int64_t bytes() const { return H * W * C; }
};

inline uint8_t clip_trunc(float v) {
  // PIL's blend and bicubic store: clamp to [0,255], then truncate (no rounding).
  if (!(v > 0.f)) return 0;
  if (v >= 255.f) return 255;
  return (uint8_t)v;
}

// PIL's RGB -> L conversion, fixed point with rounding: L = (19595 R + 38470 G + 7471 B + 2^15) >> 16.
inline int32_t luma(const uint8_t* q, int64_t C) {
  if (C < 3) return q[0];
  return (int32_t)((19595u * q[0] + 38470u * q[1] + 7471u * q[2] + 0x8000u) >> 16);
}

void apply_lut(const FrameRef& f, const uint8_t (*lut)[256]) {
  const int64_t n = f.px(), C = f.C;
  uint8_t* p = f.p;
  if (C == 3) {
    const uint8_t *l0 = lut[0], *l1 = lut[1], *l2 = lut[2];
    for (int64_t i = 0; i < n; ++i) {
      p[3 * i] = l0[p[3 * i]];
      p[3 * i + 1] = l1[p[3 * i + 1]];
      p[3 * i + 2] = l2[p[3 * i + 2]];
    }
  } else {
    for (int64_t i = 0; i < n; ++i)
      for (int64_t c = 0; c < C; ++c) p[i * C + c] = lut[c][p[i * C + c]];
  }
}

void same_lut(uint8_t (*lut)[256], int64_t C, uint8_t (*fn)(int32_t, double), double v) {
  for (int32_t i = 0; i < 256; ++i) lut[0][i] = fn(i, v);
  for (int64_t c = 1; c < C; ++c) std::memcpy(lut[c], lut[0], 256);
}

void histograms(const FrameRef& f, int64_t (*hist)[256]) {
  for (int64_t c = 0; c < f.C; ++c) std::fill(hist[c], hist[c] + 256, 0);
  const int64_t n = f.px(), C = f.C;
  for (int64_t i = 0; i < n; ++i)
    for (int64_t c = 0; c < C; ++c) ++hist[c][f.p[i * C + c]];
}

// ImageOps.autocontrast (cutoff 0), per channel: lo/hi = the smallest/largest value present;
// lut[i] = clamp(int(i·s − lo·s)) with s = 255/(hi − lo) (int() truncates); identity if hi <= lo.
void auto_contrast(const FrameRef& f) {
  int64_t hist[4][256];
  uint8_t lut[4][256];
  histograms(f, hist);
  for (int64_t c = 0; c < f.C; ++c) {
    int lo = 0, hi = 255;
    while (lo < 256 && hist[c][lo] == 0) ++lo;
    while (hi >= 0 && hist[c][hi] == 0) --hi;
    if (hi <= lo) {
      for (int i = 0; i < 256; ++i) lut[c][i] = (uint8_t)i;
      continue;
    }
    const double scale = 255.0 / (double)(hi - lo), offset = -(double)lo * scale;
    for (int i = 0; i < 256; ++i) {
      // Two separately rounded operations as in Python: the build contracts a*b+c into an fma,
      // which moves values sitting on an integer across the truncation below.
      volatile double prod = (double)i * scale;
      const double v = prod + offset;
      // Python int() truncates toward zero; anything below 1 ends up at 0 after the clamp anyway.
      const int64_t iv = (int64_t)v;
      lut[c][i] = (uint8_t)std::min<int64_t>(std::max<int64_t>(iv, 0), 255);
    }
  }
  apply_lut(f, lut);
}

// ImageOps.equalize, per channel: step = (N − count of the last non-empty bin) // 255; identity when
// at most one bin is used or step is 0; else lut[i] = (step//2 + Σ_{k<i} h[k]) // step (clamped).
void equalize(const FrameRef& f) {
  int64_t hist[4][256];
  uint8_t lut[4][256];
  histograms(f, hist);
  for (int64_t c = 0; c < f.C; ++c) {
    int used = 0, last = -1;
    for (int i = 0; i < 256; ++i)
      if (hist[c][i]) {
        ++used;
        last = i;
      }
    const int64_t step = used > 1 ? (f.px() - hist[c][last]) / 255 : 0;
    if (step == 0) {
      for (int i = 0; i < 256; ++i) lut[c][i] = (uint8_t)i;
      continue;
    }
    int64_t n = step / 2;
    for (int i = 0; i < 256; ++i) {
      lut[c][i] = (uint8_t)std::min<int64_t>(n / step, 255);
      n += hist[c][i];
    }
  }
  apply_lut(f, lut);
}

uint8_t lut_invert(int32_t i, double) { return (uint8_t)(255 - i); }
// ImageOps.posterize: keep the top `bits` bits (mask ~(2^(8−bits) − 1)); 8 or more is the identity.
uint8_t lut_posterize(int32_t i, double bits) {
  const int b = (int)bits;
  if (b >= 8) return (uint8_t)i;
  return (uint8_t)(i & ~((1 << (8 - b)) - 1) & 255);
}
// ImageOps.solarize: values >= threshold are inverted.
uint8_t lut_solarize(int32_t i, double thresh) { return (uint8_t)((double)i < thresh ? i : 255 - i); }
// timm solarize_add (threshold 128): values below 128 get `add`, clamped to 255.
uint8_t lut_solarize_add(int32_t i, double add) { return (uint8_t)(i < 128 ? std::min(255, i + (int32_t)add) : i); }

// ImageEnhance: out = blend(degenerate, img, factor) = deg + factor·(img − deg), in single
// precision as PIL's Image.blend, clamped and truncated. Color: deg = the pixel's grey (L) value.
void color(const FrameRef& f, float factor) {
  const int64_t n = f.px(), C = f.C;
  if (C < 3) return;  // a grey image is its own degenerate
  for (int64_t i = 0; i < n; ++i) {
    uint8_t* q = f.p + i * C;
    const float g = (float)luma(q, C);
    for (int64_t c = 0; c < 3; ++c) q[c] = clip_trunc(g + factor * ((float)q[c] - g));
  }
}

// Contrast: deg = a flat grey at int(mean(L) + 0.5), the mean over this frame.
void contrast(const FrameRef& f, float factor) {
  const int64_t n = f.px(), C = f.C;
  int64_t sum = 0;
  for (int64_t i = 0; i < n; ++i) sum += luma(f.p + i * C, C);
  const float m = (float)(int64_t)((double)sum / (double)n + 0.5);
  const int64_t cc = std::min<int64_t>(C, 3);  // alpha is left alone
  for (int64_t i = 0; i < n; ++i)
    for (int64_t c = 0; c < cc; ++c) {
      uint8_t& v = f.p[i * C + c];
      v = clip_trunc(m + factor * ((float)v - m));
    }
}

// Brightness: deg = black, so out = factor·img.
void brightness(const FrameRef& f, float factor) {
  const int64_t n = f.bytes();
  for (int64_t i = 0; i < n; ++i) f.p[i] = clip_trunc(factor * (float)f.p[i]);
}

// Sharpness: deg = ImageFilter.SMOOTH (3×3 kernel [1 1 1; 1 5 1; 1 1 1]/13, rounded to nearest),
// whose first/last rows and columns are the input's, so the border never changes.
void sharpness(const FrameRef& f, float factor) {
  const int64_t H = f.H, W = f.W, C = f.C, row = W * C;
  if (H < 3 || W < 3) return;
  const float k = 1.0f / 13.0f, kc = 5.0f / 13.0f;
  uint8_t* s = f.tmp;
  for (int64_t y = 1; y < H - 1; ++y) {
    const uint8_t *a = f.p + (y - 1) * row, *b = f.p + y * row, *d = f.p + (y + 1) * row;
    uint8_t* o = s + y * row;
    for (int64_t e = C; e < row - C; ++e) {
      const float sum = k * ((float)a[e - C] + (float)a[e] + (float)a[e + C] + (float)b[e - C] + (float)b[e + C] +
                             (float)d[e - C] + (float)d[e] + (float)d[e + C]) +
                        kc * (float)b[e] + 0.5f;
      o[e] = sum <= 0.f ? 0 : sum >= 255.f ? 255 : (uint8_t)sum;
    }
  }
  for (int64_t y = 1; y < H - 1; ++y) {
    uint8_t* q = f.p + y * row;
    const uint8_t* g = s + y * row;
    for (int64_t e = C; e < row - C; ++e) q[e] = clip_trunc((float)g[e] + factor * ((float)q[e] - (float)g[e]));
  }
}

inline double round15(double v) { return std::nearbyint(v * 1e15) / 1e15; }

// Image.transform(AFFINE, (a0..a5)): output pixel (x, y) samples the input at
//   (a0·(x+½) + a1·(y+½) + a2,  a3·(x+½) + a4·(y+½) + a5)
// (pixel centres). A sample point outside [0,W)×[0,H) gives the fill colour. Nearest takes the
// pixel containing the point; bilinear and bicubic shift by −½ and interpolate with neighbours
// clamped to the edge, then truncate (bicubic clamps first); PIL's bicubic is the a = −1 cubic
// convolution v(d) = v0 + d(−v₋₁ + v₁) + d²(2v₋₁ − 2v0 + v₁ − v₂) + d³(−v₋₁ + v0 − v₁ + v₂).
void affine(const FrameRef& f, const double m[6], Interp interp, const uint8_t* fill) {
  const int64_t H = f.H, W = f.W, C = f.C, row = W * C;
  const uint8_t* src = f.p;
  uint8_t* dst = f.tmp;
  auto cx = [W](int64_t x) { return x < 0 ? 0 : x >= W ? W - 1 : x; };
  auto cy = [H](int64_t y) { return y < 0 ? 0 : y >= H ? H - 1 : y; };
  for (int64_t y = 0; y < H; ++y) {
    for (int64_t x = 0; x < W; ++x) {
      const double xi = m[0] * (x + 0.5) + m[1] * (y + 0.5) + m[2];
      const double yi = m[3] * (x + 0.5) + m[4] * (y + 0.5) + m[5];
      uint8_t* o = dst + (y * W + x) * C;
      if (!(xi >= 0.0 && xi < (double)W && yi >= 0.0 && yi < (double)H)) {
        for (int64_t c = 0; c < C; ++c) o[c] = fill[c];
        continue;
      }
      if (interp == Interp::Nearest) {
        const uint8_t* q = src + ((int64_t)yi * W + (int64_t)xi) * C;
        for (int64_t c = 0; c < C; ++c) o[c] = q[c];
        continue;
      }
      const double xs = xi - 0.5, ys = yi - 0.5;
      const int64_t x0 = (int64_t)std::floor(xs), y0 = (int64_t)std::floor(ys);
      const double dx = xs - (double)x0, dy = ys - (double)y0;
      if (interp == Interp::Bilinear) {
        const uint8_t *r0 = src + cy(y0) * row, *r1 = src + cy(y0 + 1) * row;
        const int64_t c0 = cx(x0) * C, c1 = cx(x0 + 1) * C;
        for (int64_t c = 0; c < C; ++c) {
          const double top = r0[c0 + c] + (r0[c1 + c] - (double)r0[c0 + c]) * dx;
          const double bot = r1[c0 + c] + (r1[c1 + c] - (double)r1[c0 + c]) * dx;
          o[c] = (uint8_t)(top + (bot - top) * dy);
        }
        continue;
      }
      // The a = −1 polynomial regrouped as tap weights, so the 4×4 taps are one weighted sum:
      // w₋₁ = −d + 2d² − d³, w0 = 1 − 2d² + d³, w1 = d + d² − d³, w2 = −d² + d³.
      const float fx = (float)dx, fy = (float)dy;
      const float wx[4] = {-fx + 2 * fx * fx - fx * fx * fx, 1 - 2 * fx * fx + fx * fx * fx,
                           fx + fx * fx - fx * fx * fx, -fx * fx + fx * fx * fx};
      const float wy[4] = {-fy + 2 * fy * fy - fy * fy * fy, 1 - 2 * fy * fy + fy * fy * fy,
                           fy + fy * fy - fy * fy * fy, -fy * fy + fy * fy * fy};
      const uint8_t* rows[4];
      int64_t cols[4];
      for (int k = 0; k < 4; ++k) {
        rows[k] = src + cy(y0 - 1 + k) * row;
        cols[k] = cx(x0 - 1 + k) * C;
      }
      for (int64_t c = 0; c < C; ++c) {
        float v = 0.f;
        for (int j = 0; j < 4; ++j) {
          const uint8_t* r = rows[j] + c;
          v += wy[j] * (wx[0] * r[cols[0]] + wx[1] * r[cols[1]] + wx[2] * r[cols[2]] + wx[3] * r[cols[3]]);
        }
        o[c] = v <= 0.f ? 0 : v >= 255.f ? 255 : (uint8_t)v;
      }
    }
  }
  std::memcpy(f.p, dst, (size_t)f.bytes());
}

void apply_step(const FrameRef& f, const RandAugStep& s, const RandAugArgs& a) {
  uint8_t lut[4][256];
  const double v = s.value;
  double m[6] = {1, 0, 0, 0, 1, 0};
  switch ((RandAugOp)s.op) {
    case RandAugOp::AutoContrast:
      auto_contrast(f);
      return;
    case RandAugOp::Equalize:
      equalize(f);
      return;
    case RandAugOp::Invert:
      same_lut(lut, f.C, lut_invert, 0);
      apply_lut(f, lut);
      return;
    case RandAugOp::Posterize:
      same_lut(lut, f.C, lut_posterize, v);
      apply_lut(f, lut);
      return;
    case RandAugOp::Solarize:
      same_lut(lut, f.C, lut_solarize, v);
      apply_lut(f, lut);
      return;
    case RandAugOp::SolarizeAdd:
      same_lut(lut, f.C, lut_solarize_add, v);
      apply_lut(f, lut);
      return;
    case RandAugOp::Color:
      color(f, (float)v);
      return;
    case RandAugOp::Contrast:
      contrast(f, (float)v);
      return;
    case RandAugOp::Brightness:
      brightness(f, (float)v);
      return;
    case RandAugOp::Sharpness:
      sharpness(f, (float)v);
      return;
    case RandAugOp::Rotate: {
      // Image.rotate(deg) without expand: the inverse rotation about (W/2, H/2); PIL rounds the
      // matrix to 15 decimals, which makes multiples of 90° exact.
      if (std::fmod(v, 360.0) == 0.0) return;
      const double ang = -v * M_PI / 180.0, cs = round15(std::cos(ang)), sn = round15(std::sin(ang));
      const double cx = f.W / 2.0, cy = f.H / 2.0;
      m[0] = cs;
      m[1] = sn;
      m[3] = -sn;
      m[4] = cs;
      m[2] = cs * -cx + sn * -cy + cx;
      m[5] = -sn * -cx + cs * -cy + cy;
      break;
    }
    case RandAugOp::ShearX:
      m[1] = v;
      break;  // (1, v, 0, 0, 1, 0)
    case RandAugOp::ShearY:
      m[3] = v;
      break;  // (1, 0, 0, v, 1, 0)
    case RandAugOp::TranslateX:
      m[2] = v * (double)f.W;
      break;  // (1, 0, v·W, 0, 1, 0)
    case RandAugOp::TranslateY:
      m[5] = v * (double)f.H;
      break;  // (1, 0, 0, 0, 1, v·H)
    default:
      throw std::invalid_argument("randAugment: unknown op " + std::to_string(s.op));
  }
  affine(f, m, a.interp, a.fill);
}

}  // namespace

void rand_augment_validate(const RandAugStep* steps, int64_t n) {
  for (int64_t i = 0; i < n; ++i) {
    const RandAugStep& s = steps[i];
    const std::string at = "step " + std::to_string(i) + ": ";
    if (s.op < 0 || s.op >= (int32_t)RandAugOp::Count)
      throw std::invalid_argument(at + "unknown op code " + std::to_string(s.op) + " (0..14)");
    if (!std::isfinite(s.value)) throw std::invalid_argument(at + "value is not finite");
    const auto op = (RandAugOp)s.op;
    const double v = s.value;
    if (op == RandAugOp::Posterize && !(v >= 0 && v <= 8 && v == std::floor(v)))
      throw std::invalid_argument(at + "Posterize bits must be an integer in 0..8, got " + std::to_string(v));
    if (op == RandAugOp::Solarize && !(v >= 0 && v <= 256))
      throw std::invalid_argument(at + "Solarize threshold must be in 0..256, got " + std::to_string(v));
    if (op == RandAugOp::SolarizeAdd && !(v >= 0 && v <= 255 && v == std::floor(v)))
      throw std::invalid_argument(at + "SolarizeAdd amount must be an integer in 0..255, got " + std::to_string(v));
    if ((op == RandAugOp::Color || op == RandAugOp::Contrast || op == RandAugOp::Brightness ||
         op == RandAugOp::Sharpness) &&
        !(v >= 0 && v <= 100))
      throw std::invalid_argument(at + "enhance factor must be in 0..100, got " + std::to_string(v));
    if ((op == RandAugOp::ShearX || op == RandAugOp::ShearY || op == RandAugOp::TranslateX ||
         op == RandAugOp::TranslateY) &&
        !(std::fabs(v) <= 100))
      throw std::invalid_argument(at + "shear/translate value must be within ±100, got " + std::to_string(v));
  }
}

void rand_augment_cpu(const uint8_t* in, uint8_t* out, const RandAugArgs& a, const RandAugStep* steps,
                      const int64_t* offsets) {
  if (a.C < 1 || a.C > 4) throw std::invalid_argument("randAugment: C must be 1..4");
  const int64_t F = a.N * a.T, fb = a.H * a.W * a.C;
#pragma omp parallel if (a.threads != 1 && F > 1 && F * fb > 65536) \
    num_threads(a.threads > 0 ? a.threads : omp_get_max_threads())
  {
    // One scratch frame per thread for the whole call.
    std::vector<uint8_t> tmp((size_t)fb);
#pragma omp for schedule(dynamic, 1)
    for (int64_t fi = 0; fi < F; ++fi) {
      const int64_t n = fi / a.T;
      uint8_t* p = out + fi * fb;
      if (in != out) std::memcpy(p, in + fi * fb, (size_t)fb);
      FrameRef f{p, tmp.data(), a.H, a.W, a.C};
      for (int64_t s = offsets[n]; s < offsets[n + 1]; ++s) apply_step(f, steps[s], a);
    }
  }
}

void random_erase_cpu(float* x, int64_t B, int64_t C, int64_t T, int64_t H, int64_t W, const EraseBox* boxes,
                      int64_t n) {
  (void)B;
  for (int64_t k = 0; k < n; ++k) {
    const EraseBox bx = boxes[k];
    const uint64_t key = random_key(bx.seed, 0x45524153ULL);  // stream "ERAS"
    const int64_t rows = C * T * bx.h;
#pragma omp parallel for schedule(static) if (rows * bx.w > 65536)
    for (int64_t r = 0; r < rows; ++r) {
      const int64_t i = r % bx.h, t = (r / bx.h) % T, c = r / (bx.h * T);
      float* row = x + (((bx.clip * C + c) * T + t) * H + bx.top + i) * W + bx.left;
      const uint64_t base = (uint64_t)r * (uint64_t)bx.w;
      for (int64_t j = 0; j < bx.w; ++j) row[j] = (float)random_normal(key, base + (uint64_t)j);
    }
  }
}

void mix_batch_cpu(const float* in, float* out, int64_t B, int64_t C, int64_t T, int64_t H, int64_t W, double lam,
                   const int64_t* box) {
  const int64_t S = C * T * H * W;
  if (!box) {
    // timm: x·λ + flip(x)·(1 − λ), both factors rounded to float first as torch does.
    const float l = (float)lam, r = (float)(1.0 - lam);
#pragma omp parallel for schedule(static) if (B * S > 262144)
    for (int64_t b = 0; b < B; ++b) {
      const float* xa = in + b * S;
      const float* xb = in + (B - 1 - b) * S;
      float* o = out + b * S;
      for (int64_t i = 0; i < S; ++i) o[i] = xa[i] * l + xb[i] * r;
    }
    return;
  }
  const int64_t y0 = box[0], y1 = box[1], x0 = box[2], x1 = box[3];
  const int64_t planes = B * C * T;
#pragma omp parallel for schedule(static) if (B * S > 262144)
  for (int64_t pl = 0; pl < planes; ++pl) {
    const int64_t b = pl / (C * T), rest = pl % (C * T);
    const float* xa = in + pl * H * W;
    const float* xb = in + ((B - 1 - b) * C * T + rest) * H * W;
    float* o = out + pl * H * W;
    std::memcpy(o, xa, sizeof(float) * (size_t)(H * W));
    for (int64_t y = y0; y < y1; ++y) std::memcpy(o + y * W + x0, xb + y * W + x0, sizeof(float) * (size_t)(x1 - x0));
  }
}

}  // namespace mvd
