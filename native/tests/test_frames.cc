#include <cstring>

#include "../ops/frames/frames.h"
#include "check.h"

using namespace mvd;
using namespace mvdtest;

namespace {

std::vector<uint8_t> rand_bytes(size_t n, uint64_t seed) {
  std::mt19937_64 g(seed);
  std::vector<uint8_t> v(n);
  for (auto& x : v) x = (uint8_t)(g() & 255);
  return v;
}

// Double-precision bilinear (half-pixel centres, clamped to the crop) before rounding.
double bilinear_ref(const std::vector<uint8_t>& in, const ResizeCropArgs& a, int64_t t, int64_t oy, int64_t ox,
                    int64_t c) {
  auto src = [](int64_t o, int64_t n_in, int64_t n_out, int64_t* i0, int64_t* i1) {
    double s = (o + 0.5) * (double)n_in / (double)n_out - 0.5;
    if (s < 0) s = 0;
    *i0 = std::min<int64_t>((int64_t)std::floor(s), n_in - 1);
    *i1 = std::min<int64_t>(*i0 + 1, n_in - 1);
    return s - (double)*i0;
  };
  int64_t x0, x1, y0, y1;
  const double fx = src(ox, a.w, a.out_w, &x0, &x1), fy = src(oy, a.h, a.out_h, &y0, &y1);
  auto at = [&](int64_t y, int64_t x) { return (double)in[((t * a.H + a.y + y) * a.W + a.x + x) * a.C + c]; };
  return (1 - fy) * ((1 - fx) * at(y0, x0) + fx * at(y0, x1)) + fy * ((1 - fx) * at(y1, x0) + fx * at(y1, x1));
}

}  // namespace

MVD_TEST(frames_resize_hand_example_2x2_to_4x4) {
  // One frame, 2x2, three identical channels: [[0,100],[200,255]] upscaled x2.
  std::vector<uint8_t> in;
  for (uint8_t v : {0, 100, 200, 255}) in.insert(in.end(), {v, v, v});
  ResizeCropArgs a;
  a.T = 1;
  a.H = 2;
  a.W = 2;
  a.C = 3;
  a.x = 0;
  a.y = 0;
  a.w = 2;
  a.h = 2;
  a.out_h = 4;
  a.out_w = 4;
  std::vector<uint8_t> out(48, 77);
  resize_crop_cpu(in.data(), out.data(), a);
  // Source coordinates per output index: 0 (clamped), 0.25, 0.75, 1 (clamped neighbour).
  const int want[16] = {0, 25, 75, 100, 50, 72, 117, 139, 150, 167, 200, 216, 200, 214, 241, 255};
  for (int i = 0; i < 16; ++i)
    for (int c = 0; c < 3; ++c)
      if (out[i * 3 + c] != want[i])
        fail("pixel " + std::to_string(i) + " = " + std::to_string(out[i * 3 + c]) + ", want " +
             std::to_string(want[i]));
}

MVD_TEST(frames_resize_crop_matches_float64) {
  struct S {
    int64_t T, H, W, x, y, w, h, oh, ow;
  } cases[] = {{3, 17, 23, 2, 3, 13, 11, 7, 5},    // downscale from an offset crop
               {2, 17, 23, 0, 0, 23, 17, 31, 40},  // upscale, whole frame
               {1, 9, 9, 4, 4, 1, 1, 3, 3},        // a single source pixel
               {2, 240, 320, 40, 0, 240, 240, 224, 224},
               {1, 240, 320, 13, 7, 211, 158, 224, 224}};
  uint64_t seed = 1;
  for (auto s : cases) {
    ResizeCropArgs a;
    a.T = s.T;
    a.H = s.H;
    a.W = s.W;
    a.C = 3;
    a.x = s.x;
    a.y = s.y;
    a.w = s.w;
    a.h = s.h;
    a.out_h = s.oh;
    a.out_w = s.ow;
    auto in = rand_bytes((size_t)(a.T * a.H * a.W * 3), seed++);
    std::vector<uint8_t> out((size_t)(a.T * a.out_h * a.out_w * 3), 0xA5);
    resize_crop_cpu(in.data(), out.data(), a);
    for (int64_t t = 0; t < a.T; ++t)
      for (int64_t oy = 0; oy < a.out_h; ++oy)
        for (int64_t ox = 0; ox < a.out_w; ++ox)
          for (int64_t c = 0; c < 3; ++c) {
            const double r = bilinear_ref(in, a, t, oy, ox, c);
            const double got = out[((t * a.out_h + oy) * a.out_w + ox) * 3 + c];
            // Round-to-nearest of the exact value, allowing float error right at a .5 tie.
            if (!(std::fabs(got - r) <= 0.5 + 1e-3))
              fail("resize " + std::to_string(s.H) + "x" + std::to_string(s.W) + " got " + std::to_string(got) +
                   " ref " + std::to_string(r));
          }
  }
}

MVD_TEST(frames_flip_is_exact_and_an_involution) {
  const int64_t T = 3, H = 17, W = 23, C = 3;
  auto in = rand_bytes((size_t)(T * H * W * C), 9);
  std::vector<uint8_t> out(in.size(), 0xA5), back(in.size(), 0xA5);
  flip_frames_cpu(in.data(), out.data(), T, H, W, C);
  for (int64_t r = 0; r < T * H; ++r)
    for (int64_t w = 0; w < W; ++w)
      for (int64_t c = 0; c < C; ++c) CHECK(out[(r * W + w) * C + c] == in[(r * W + W - 1 - w) * C + c]);
  flip_frames_cpu(out.data(), back.data(), T, H, W, C);
  CHECK(back == in);
}

MVD_TEST(frames_to_clip_matches_float64) {
  const float mean[3] = {0.485f, 0.456f, 0.406f}, stdv[3] = {0.229f, 0.224f, 0.225f};
  struct S {
    int64_t B, T, H, W;
  } cases[] = {{1, 1, 1, 1}, {3, 5, 17, 23}, {2, 16, 32, 40}};
  uint64_t seed = 40;
  for (auto s : cases) {
    const int64_t C = 3;
    auto in = rand_bytes((size_t)(s.B * s.T * s.H * s.W * C), seed++);
    auto out = poisoned(in.size());
    frames_to_clip_cpu(in.data(), out.data(), s.B, s.T, s.H, s.W, C, mean, stdv);
    std::vector<double> ref(in.size());
    for (int64_t b = 0; b < s.B; ++b)
      for (int64_t t = 0; t < s.T; ++t)
        for (int64_t h = 0; h < s.H; ++h)
          for (int64_t w = 0; w < s.W; ++w)
            for (int64_t c = 0; c < C; ++c)
              ref[(((b * C + c) * s.T + t) * s.H + h) * s.W + w] =
                  ((double)in[(((b * s.T + t) * s.H + h) * s.W + w) * C + c] / 255.0 - mean[c]) / stdv[c];
    CHECK(max_rel_err(out.data(), ref.data(), ref.size()) < 1e-6);
  }
}
