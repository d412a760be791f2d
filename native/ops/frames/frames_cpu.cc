#include <algorithm>
#include <cmath>
#include <vector>

#include "frames.h"

namespace mvd {

void resize_crop_cpu(const uint8_t* in, uint8_t* out, const ResizeCropArgs& a) {
  const int64_t C = a.C, OW = a.out_w, OH = a.out_h, E = OW * C;  // E values per output row
  // Horizontal taps depend only on the output column, so they are computed once per call, per
  // value (column and channel) with int32 offsets into a float copy of the crop row: that makes
  // the horizontal pass a float gather the compiler vectorises.
  std::vector<int32_t> e0((size_t)E), e1((size_t)E);
  std::vector<float> fx((size_t)E);
  const double sx = (double)a.w / (double)OW, sy = (double)a.h / (double)OH;
  for (int64_t o = 0; o < OW; ++o) {
    int64_t i0, i1;
    const float f = bilinear_tap(o, a.w, sx, &i0, &i1);
    for (int64_t c = 0; c < C; ++c) {
      e0[o * C + c] = (int32_t)(i0 * C + c);
      e1[o * C + c] = (int32_t)(i1 * C + c);
      fx[o * C + c] = f;
    }
  }
  const int32_t* E0 = e0.data();
  const int32_t* E1 = e1.data();
  const float* FX = fx.data();
  const int64_t rows = a.T * OH, span = a.w * C;
#pragma omp parallel if (rows * E > 65536)
  {
    // Per-thread scratch, allocated once per call: the crop row as float and the last two
    // horizontally resampled source rows, which consecutive output rows mostly share.
    std::vector<float> rowf((size_t)span), hbuf[2] = {std::vector<float>((size_t)E), std::vector<float>((size_t)E)};
    int64_t held[2] = {-1, -1};
    auto resample = [&](int64_t key, int slot) {
      const uint8_t* src = in + (key * a.W + a.x) * C;  // key = t * H + absolute row
      float* rf = rowf.data();
      for (int64_t i = 0; i < span; ++i) rf[i] = (float)src[i];
      float* h = hbuf[slot].data();
      for (int64_t e = 0; e < E; ++e) { h[e] = bilinear_lerp(rf[E0[e]], rf[E1[e]], FX[e]); }
      held[slot] = key;
    };
#pragma omp for schedule(static)
    for (int64_t r = 0; r < rows; ++r) {
      const int64_t t = r / OH, oy = r % OH;
      int64_t j0, j1;
      const float wy = bilinear_tap(oy, a.h, sy, &j0, &j1);
      const int64_t k0 = t * a.H + a.y + j0, k1 = t * a.H + a.y + j1;
      int s0 = held[0] == k0 ? 0 : held[1] == k0 ? 1 : -1;
      if (s0 < 0) {
        s0 = held[0] == k1 ? 1 : 0;
        resample(k0, s0);
      }
      int s1 = held[s0 ^ 1] == k1 ? (s0 ^ 1) : (k1 == k0 ? s0 : -1);
      if (s1 < 0) {
        s1 = s0 ^ 1;
        resample(k1, s1);
      }
      const float* top = hbuf[s0].data();
      const float* bot = hbuf[s1].data();
      uint8_t* o = out + r * E;
      // A byte store may alias anything, and E is captured by reference above: a private copy of
      // the trip count lets the compiler vectorise this loop.
      const int64_t n = E;
      for (int64_t e = 0; e < n; ++e) o[e] = round_to_u8(bilinear_lerp(top[e], bot[e], wy));
    }
  }
}

void flip_frames_cpu(const uint8_t* in, uint8_t* out, int64_t T, int64_t H, int64_t W, int64_t C) {
#pragma omp parallel for schedule(static) if (T * H * W * C > 262144)
  for (int64_t r = 0; r < T * H; ++r) {
    const uint8_t* src = in + r * W * C;
    uint8_t* dst = out + r * W * C;
    for (int64_t w = 0; w < W; ++w)
      for (int64_t c = 0; c < C; ++c) dst[w * C + c] = src[(W - 1 - w) * C + c];
  }
}

void frames_to_clip_cpu(const uint8_t* in, float* out, int64_t B, int64_t T, int64_t H, int64_t W, int64_t C,
                        const float* mean, const float* std) {
  std::vector<float> scale((size_t)C), shift((size_t)C);
  for (int64_t c = 0; c < C; ++c) clip_affine(mean[c], std[c], &scale[c], &shift[c]);
  const float* S = scale.data();
  const float* Z = shift.data();
  const int64_t HW = H * W, THW = T * HW, rows = B * T * H;
#pragma omp parallel for schedule(static) if (rows * W * C > 262144)
  for (int64_t r = 0; r < rows; ++r) {
    const int64_t h = r % H, t = (r / H) % T, b = r / (H * T);
    const uint8_t* src = in + r * W * C;
    float* base = out + b * C * THW + t * HW + h * W;
    if (C == 3) {
      // The common case spelled out so the de-interleave vectorises.
      float *o0 = base, *o1 = base + THW, *o2 = base + 2 * THW;
      const float s0 = S[0], s1 = S[1], s2 = S[2], z0 = Z[0], z1 = Z[1], z2 = Z[2];
      for (int64_t w = 0; w < W; ++w) {
        o0[w] = clip_value(src[3 * w], s0, z0);
        o1[w] = clip_value(src[3 * w + 1], s1, z1);
        o2[w] = clip_value(src[3 * w + 2], s2, z2);
      }
    } else {
      for (int64_t c = 0; c < C; ++c)
        for (int64_t w = 0; w < W; ++w) base[c * THW + w] = clip_value(src[w * C + c], S[c], Z[c]);
    }
  }
}

}  // namespace mvd
