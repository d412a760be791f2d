#include <cstring>
#include <stdexcept>

#include "../ops/augment/augment.h"
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

// Runs one step on every clip of [N,T,H,W,C] out of place, the output pre-filled with a poison byte.
std::vector<uint8_t> run1(const std::vector<uint8_t>& in, RandAugArgs a, RandAugOp op, double v) {
  std::vector<RandAugStep> steps((size_t)a.N, RandAugStep{(int32_t)op, v});
  std::vector<int64_t> off((size_t)a.N + 1);
  for (int64_t n = 0; n <= a.N; ++n) off[n] = n;
  std::vector<uint8_t> out(in.size(), 0xA5);
  rand_augment_cpu(in.data(), out.data(), a, steps.data(), off.data());
  return out;
}

RandAugArgs dims(int64_t N, int64_t T, int64_t H, int64_t W, int64_t C, Interp interp = Interp::Bicubic) {
  RandAugArgs a;
  a.N = N;
  a.T = T;
  a.H = H;
  a.W = W;
  a.C = C;
  a.interp = interp;
  return a;
}

// Independent float64 model of PIL's point sampling for the geometric ops (augment.h comments).
double sample_ref(const std::vector<uint8_t>& in, const RandAugArgs& a, int64_t f, const double m[6], int64_t y,
                  int64_t x, int64_t c) {
  const double xi = m[0] * (x + 0.5) + m[1] * (y + 0.5) + m[2], yi = m[3] * (x + 0.5) + m[4] * (y + 0.5) + m[5];
  if (xi < 0 || xi >= a.W || yi < 0 || yi >= a.H) return 128;
  auto px = [&](int64_t yy, int64_t xx) {
    yy = std::clamp<int64_t>(yy, 0, a.H - 1);
    xx = std::clamp<int64_t>(xx, 0, a.W - 1);
    return (double)in[((f * a.H + yy) * a.W + xx) * a.C + c];
  };
  if (a.interp == Interp::Nearest) return px((int64_t)yi, (int64_t)xi);
  const double xs = xi - 0.5, ys = yi - 0.5;
  const int64_t x0 = (int64_t)std::floor(xs), y0 = (int64_t)std::floor(ys);
  const double dx = xs - x0, dy = ys - y0;
  if (a.interp == Interp::Bilinear) {
    const double v = (1 - dy) * ((1 - dx) * px(y0, x0) + dx * px(y0, x0 + 1)) +
                     dy * ((1 - dx) * px(y0 + 1, x0) + dx * px(y0 + 1, x0 + 1));
    return std::floor(v);
  }
  // Cubic convolution with a = −1 as a weighted sum (the kernel form, not PIL's polynomial form).
  auto w = [](double t) {
    t = std::fabs(t);
    return t <= 1 ? t * t * t - 2 * t * t + 1 : t < 2 ? -t * t * t + 5 * t * t - 8 * t + 4 : 0.0;
  };
  double v = 0;
  for (int j = -1; j <= 2; ++j)
    for (int i = -1; i <= 2; ++i) v += w(dy - j) * w(dx - i) * px(y0 + j, x0 + i);
  return std::floor(std::clamp(v, 0.0, 255.0));
}

void expect_geometric(RandAugOp op, double v, const double m[6], Interp interp, int64_t H, int64_t W, uint64_t seed) {
  RandAugArgs a = dims(2, 2, H, W, 3, interp);
  auto in = rand_bytes((size_t)(a.N * a.T * H * W * 3), seed);
  auto out = run1(in, a, op, v);
  int64_t worst = 0, off = 0;
  for (int64_t f = 0; f < a.N * a.T; ++f)
    for (int64_t y = 0; y < H; ++y)
      for (int64_t x = 0; x < W; ++x)
        for (int64_t c = 0; c < 3; ++c) {
          const double r = sample_ref(in, a, f, m, y, x, c);
          const int64_t d = std::llabs((int64_t)out[((f * H + y) * W + x) * 3 + c] - (int64_t)r);
          worst = std::max(worst, d);
          off += d != 0;
        }
  // Truncation makes a value a hair below an integer land one lower: allow ±1 on a few pixels.
  if (worst > 1 || off * 50 > a.N * a.T * H * W * 3)
    fail("op " + std::to_string((int)op) + " interp " + std::to_string((int)interp) + ": worst " +
         std::to_string(worst) + ", " + std::to_string(off) + " values differ");
}

}  // namespace

MVD_TEST(augment_lut_ops_exact) {
  RandAugArgs a = dims(2, 3, 5, 7, 3);
  auto in = rand_bytes((size_t)(2 * 3 * 5 * 7 * 3), 1);
  struct Case {
    RandAugOp op;
    double v;
    int (*ref)(int, double);
  } cases[] = {
      {RandAugOp::Invert, 0, [](int x, double) { return 255 - x; }},
      {RandAugOp::Posterize, 2, [](int x, double) { return x & 0xC0; }},
      {RandAugOp::Posterize, 0, [](int, double) { return 0; }},
      {RandAugOp::Posterize, 8, [](int x, double) { return x; }},
      {RandAugOp::Solarize, 128, [](int x, double) { return x < 128 ? x : 255 - x; }},
      {RandAugOp::Solarize, 256, [](int x, double) { return x; }},
      {RandAugOp::Solarize, 0, [](int x, double) { return 255 - x; }},
      {RandAugOp::SolarizeAdd, 77, [](int x, double) { return x < 128 ? std::min(255, x + 77) : x; }},
  };
  for (auto& cs : cases) {
    auto out = run1(in, a, cs.op, cs.v);
    for (size_t i = 0; i < in.size(); ++i)
      if (out[i] != cs.ref(in[i], cs.v))
        fail("op " + std::to_string((int)cs.op) + " value " + std::to_string(cs.v) + " at " + std::to_string(i));
  }
}

MVD_TEST(augment_rotate_90_is_exact_for_every_interpolation) {
  const int64_t S = 6;
  for (Interp ip : {Interp::Nearest, Interp::Bilinear, Interp::Bicubic}) {
    RandAugArgs a = dims(1, 2, S, S, 3, ip);
    auto in = rand_bytes((size_t)(2 * S * S * 3), 2);
    auto out = run1(in, a, RandAugOp::Rotate, 90);
    // Counter-clockwise: out[y][x] = in[x][S−1−y].
    for (int64_t f = 0; f < 2; ++f)
      for (int64_t y = 0; y < S; ++y)
        for (int64_t x = 0; x < S; ++x)
          for (int64_t c = 0; c < 3; ++c)
            CHECK(out[((f * S + y) * S + x) * 3 + c] == in[((f * S + x) * S + (S - 1 - y)) * 3 + c]);
    auto half = run1(in, a, RandAugOp::Rotate, 180);
    for (int64_t f = 0; f < 2; ++f)
      for (int64_t y = 0; y < S; ++y)
        for (int64_t x = 0; x < S; ++x)
          for (int64_t c = 0; c < 3; ++c)
            CHECK(half[((f * S + y) * S + x) * 3 + c] == in[((f * S + S - 1 - y) * S + (S - 1 - x)) * 3 + c]);
  }
}

MVD_TEST(augment_geometric_ops_match_float64_sampling) {
  const int64_t H = 13, W = 17;
  for (Interp ip : {Interp::Nearest, Interp::Bilinear, Interp::Bicubic}) {
    const double deg = 23.5, ang = -deg * M_PI / 180.0;
    const double cs = std::cos(ang), sn = std::sin(ang), cx = W / 2.0, cy = H / 2.0;
    const double rot[6] = {cs, sn, -cs * cx - sn * cy + cx, -sn, cs, sn * cx - cs * cy + cy};
    expect_geometric(RandAugOp::Rotate, deg, rot, ip, H, W, 10);
    const double shx[6] = {1, -0.27, 0, 0, 1, 0}, shy[6] = {1, 0, 0, 0.19, 1, 0};
    expect_geometric(RandAugOp::ShearX, -0.27, shx, ip, H, W, 11);
    expect_geometric(RandAugOp::ShearY, 0.19, shy, ip, H, W, 12);
    const double tx[6] = {1, 0, 0.31 * W, 0, 1, 0}, ty[6] = {1, 0, 0, 0, 1, -0.4 * H};
    expect_geometric(RandAugOp::TranslateX, 0.31, tx, ip, H, W, 13);
    expect_geometric(RandAugOp::TranslateY, -0.4, ty, ip, H, W, 14);
  }
}

MVD_TEST(augment_translate_whole_pixels_shifts_and_fills_grey) {
  const int64_t H = 4, W = 10;
  RandAugArgs a = dims(1, 1, H, W, 3, Interp::Bilinear);
  auto in = rand_bytes((size_t)(H * W * 3), 3);
  auto out = run1(in, a, RandAugOp::TranslateX, 0.2);  // 2 pixels: out[x] = in[x + 2]
  for (int64_t y = 0; y < H; ++y)
    for (int64_t x = 0; x < W; ++x)
      for (int64_t c = 0; c < 3; ++c)
        CHECK(out[(y * W + x) * 3 + c] == (x + 2 < W ? in[(y * W + x + 2) * 3 + c] : 128));
}

MVD_TEST(augment_equalize_known_histogram) {
  // 1020 pixels: 510 at 0, 255 at 100, 255 at 200. step = (1020 − 255) // 255 = 3, n starts at 1:
  // lut[0] = 1//3 = 0, lut[100] = 511//3 = 170, lut[200] = 766//3 = 255.
  const int64_t H = 30, W = 34;
  std::vector<uint8_t> in((size_t)(H * W));
  for (int64_t i = 0; i < H * W; ++i) in[i] = i < 510 ? 0 : i < 765 ? 100 : 200;
  auto out = run1(in, dims(1, 1, H, W, 1), RandAugOp::Equalize, 0);
  for (int64_t i = 0; i < H * W; ++i) CHECK(out[i] == (i < 510 ? 0 : i < 765 ? 170 : 255));
  // One value only: the identity.
  std::vector<uint8_t> flat((size_t)(H * W), 93);
  CHECK(run1(flat, dims(1, 1, H, W, 1), RandAugOp::Equalize, 0) == flat);
}

MVD_TEST(augment_autocontrast_per_channel) {
  // Channel 0 spans 50..150 (scale 2.55, offset −127.5); channel 1 is constant (identity); channel 2
  // already spans 0..255 (identity).
  const int64_t H = 3, W = 101;
  std::vector<uint8_t> in((size_t)(H * W * 3));
  for (int64_t i = 0; i < H * W; ++i) {
    in[i * 3] = (uint8_t)(50 + i % 101);
    in[i * 3 + 1] = 77;
    in[i * 3 + 2] = (uint8_t)((i * 37) % 256);
  }
  in[2] = 0;
  in[5] = 255;
  auto out = run1(in, dims(1, 1, H, W, 3), RandAugOp::AutoContrast, 0);
  for (int64_t i = 0; i < H * W; ++i) {
    const int v = in[i * 3];
    const int want = (int)std::min(255.0, std::max(0.0, std::trunc(v * (255.0 / 100.0) - 50 * (255.0 / 100.0))));
    CHECK(out[i * 3] == want);
    CHECK(out[i * 3 + 1] == 77);
    CHECK(out[i * 3 + 2] == in[i * 3 + 2]);
  }
  CHECK(out[0] == 0);          // 50 → 0
  CHECK(out[100 * 3] == 255);  // 150 → 255
  CHECK(out[50 * 3] == 127);   // 100 → int(127.5)
}

MVD_TEST(augment_enhance_ops_match_float64) {
  const int64_t H = 9, W = 11;
  RandAugArgs a = dims(2, 2, H, W, 3);
  auto in = rand_bytes((size_t)(2 * 2 * H * W * 3), 5);
  auto L = [&](size_t p) {
    return (double)((19595u * in[p] + 38470u * in[p + 1] + 7471u * in[p + 2] + 0x8000u) >> 16);
  };
  auto blend = [](double deg, double x, double f) { return std::floor(std::clamp(deg + f * (x - deg), 0.0, 255.0)); };
  for (double f : {0.1, 0.55, 1.0, 1.37, 1.9}) {
    auto col = run1(in, a, RandAugOp::Color, f), con = run1(in, a, RandAugOp::Contrast, f);
    auto bri = run1(in, a, RandAugOp::Brightness, f), shp = run1(in, a, RandAugOp::Sharpness, f);
    int64_t bad = 0;
    for (int64_t fr = 0; fr < 4; ++fr) {
      double sum = 0;
      for (int64_t i = 0; i < H * W; ++i) sum += L((size_t)((fr * H * W + i) * 3));
      const double mean = std::floor(sum / (H * W) + 0.5);
      for (int64_t y = 0; y < H; ++y)
        for (int64_t x = 0; x < W; ++x) {
          const size_t p = (size_t)(((fr * H + y) * W + x) * 3);
          for (int c = 0; c < 3; ++c) {
            const double v = in[p + c];
            bad += std::fabs(col[p + c] - blend(L(p), v, f)) > 1;
            bad += std::fabs(con[p + c] - blend(mean, v, f)) > 1;
            bad += std::fabs(bri[p + c] - blend(0, v, f)) > 1;
            double deg = v;
            if (y > 0 && y < H - 1 && x > 0 && x < W - 1) {
              double s = 4 * v;
              for (int dy = -1; dy <= 1; ++dy)
                for (int dx = -1; dx <= 1; ++dx) s += in[(size_t)(((fr * H + y + dy) * W + x + dx) * 3 + c)];
              deg = std::floor(s / 13.0 + 0.5);
            }
            bad += std::fabs(shp[p + c] - blend(deg, v, f)) > 1;
          }
        }
    }
    if (bad) fail("enhance factor " + std::to_string(f) + ": " + std::to_string(bad) + " values off by more than 1");
  }
}

MVD_TEST(augment_steps_apply_per_clip_in_order_same_on_every_frame) {
  // Clip 0: Invert then Posterize 1; clip 1: nothing. Frames of clip 0 are identical, so must stay so.
  const int64_t T = 3, H = 4, W = 5, fb = H * W * 3;
  auto frame = rand_bytes((size_t)fb, 6);
  std::vector<uint8_t> in;
  for (int k = 0; k < 2 * T; ++k) in.insert(in.end(), frame.begin(), frame.end());
  RandAugStep steps[2] = {{(int32_t)RandAugOp::Invert, 0}, {(int32_t)RandAugOp::Posterize, 1}};
  int64_t off[3] = {0, 2, 2};
  std::vector<uint8_t> out(in.size(), 0xA5);
  rand_augment_cpu(in.data(), out.data(), dims(2, T, H, W, 3), steps, off);
  for (int64_t t = 0; t < T; ++t)
    for (int64_t i = 0; i < fb; ++i) {
      CHECK(out[t * fb + i] == ((255 - frame[i]) & 0x80));
      CHECK(out[(T + t) * fb + i] == frame[i]);
    }
  // In place gives the same result.
  std::vector<uint8_t> inplace = in;
  rand_augment_cpu(inplace.data(), inplace.data(), dims(2, T, H, W, 3), steps, off);
  CHECK(inplace == out);
}

MVD_TEST(augment_validate_rejects_bad_steps) {
  auto bad = [](RandAugStep s) {
    try {
      rand_augment_validate(&s, 1);
    } catch (const std::invalid_argument&) { return true; }
    return false;
  };
  CHECK(bad({15, 0}));
  CHECK(bad({-1, 0}));
  CHECK(bad({(int32_t)RandAugOp::Posterize, 2.5}));
  CHECK(bad({(int32_t)RandAugOp::Solarize, 300}));
  CHECK(bad({(int32_t)RandAugOp::Color, std::nan("")}));
  CHECK(!bad({(int32_t)RandAugOp::Rotate, -30}));
}

MVD_TEST(augment_erase_places_box_and_draws_unit_normals) {
  const int64_t B = 2, C = 3, T = 4, H = 40, W = 50;
  const size_t n = (size_t)(B * C * T * H * W);
  std::vector<float> x(n, 7.0f);
  EraseBox box{1, 5, 9, 30, 35, 1234};
  random_erase_cpu(x.data(), B, C, T, H, W, &box, 1);
  double s = 0, s2 = 0;
  int64_t inside = 0;
  bool frames_differ = false;
  for (int64_t b = 0; b < B; ++b)
    for (int64_t c = 0; c < C; ++c)
      for (int64_t t = 0; t < T; ++t)
        for (int64_t h = 0; h < H; ++h)
          for (int64_t w = 0; w < W; ++w) {
            const float v = x[(size_t)((((b * C + c) * T + t) * H + h) * W + w)];
            const bool in = b == 1 && h >= 5 && h < 35 && w >= 9 && w < 44;
            if (!in) {
              CHECK(v == 7.0f);
              continue;
            }
            CHECK(std::isfinite(v) && v != 7.0f);
            s += v;
            s2 += (double)v * v;
            ++inside;
            if (t > 0) frames_differ |= v != x[(size_t)((((b * C + c) * T + t - 1) * H + h) * W + w)];
          }
  CHECK(inside == C * T * 30 * 35);
  const double mean = s / inside, var = s2 / inside - mean * mean;
  CHECK(std::fabs(mean) < 0.05 && std::fabs(var - 1) < 0.05);
  CHECK(frames_differ);  // the same rectangle on every frame, fresh noise in each
  std::vector<float> y(n, 7.0f);
  random_erase_cpu(y.data(), B, C, T, H, W, &box, 1);
  CHECK(x == y);  // a seed gives the same noise
}

MVD_TEST(augment_mixup_blend_exact) {
  const int64_t B = 3, C = 2, T = 2, H = 3, W = 4, S = C * T * H * W;
  std::vector<float> in((size_t)(B * S));
  for (size_t i = 0; i < in.size(); ++i) in[i] = (float)((int)(i * 7 % 64) - 32) / 8.0f;
  auto out = poisoned(in.size());
  mix_batch_cpu(in.data(), out.data(), B, C, T, H, W, 0.75, nullptr);
  // Multiples of 1/8 times 3/4 and 1/4 are exact in float, so the blend must be exact.
  for (int64_t b = 0; b < B; ++b)
    for (int64_t i = 0; i < S; ++i)
      CHECK(out[b * S + i] == (float)(0.75 * in[b * S + i] + 0.25 * in[(B - 1 - b) * S + i]));
}

MVD_TEST(augment_cutmix_box_area_matches_lambda) {
  const int64_t B = 4, C = 3, T = 2, H = 20, W = 16, S = C * T * H * W;
  std::vector<float> in((size_t)(B * S));
  for (int64_t b = 0; b < B; ++b) std::fill(in.begin() + b * S, in.begin() + (b + 1) * S, (float)b);
  auto out = poisoned(in.size());
  const int64_t box[4] = {3, 15, 2, 10};  // 12 × 8 of 20 × 16
  mix_batch_cpu(in.data(), out.data(), B, C, T, H, W, 0.0, box);
  for (int64_t b = 0; b < B; ++b) {
    int64_t pasted = 0;
    for (int64_t i = 0; i < S; ++i) {
      const float v = out[b * S + i];
      CHECK(v == (float)b || v == (float)(B - 1 - b));
      const int64_t h = (i / W) % H, w = i % W;
      const bool in_box = h >= 3 && h < 15 && w >= 2 && w < 10;
      if (b != B - 1 - b) CHECK((v == (float)(B - 1 - b)) == in_box);
      pasted += in_box;
    }
    // λ corrected to the box: 1 − area/HW is the share of pixels kept from the clip itself.
    const double lam = 1.0 - (double)(12 * 8) / (H * W);
    CHECK(std::fabs((double)(S - pasted) / S - lam) < 1e-12);
  }
}
