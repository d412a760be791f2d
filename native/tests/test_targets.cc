#include "../ops/targets/targets.h"
#include "check.h"

using namespace mvd;
using namespace mvdtest;

namespace {

const float kMean[3] = {0.485f, 0.456f, 0.406f}, kStd[3] = {0.229f, 0.224f, 0.225f};

enum class Kind { VideoMAE, MAE, Diff };

// Straight from the definitions (SPEC §7, §8, our §9 choice): gather each token's values by
// coordinates in double, then normalise.
std::vector<double> reference(const std::vector<float>& x, const PixelTargetArgs& a, Kind kind) {
  const int64_t p = a.patch, tub = a.tubelet, Tn = a.T / tub, Nh = a.H / p, Nw = a.W / p, C = a.C;
  const int64_t nt = kind == Kind::VideoMAE ? tub : 1, P = nt * p * p * C;
  std::vector<double> out;
  auto px = [&](int64_t b, int64_t c, int64_t t, int64_t y, int64_t xx) {
    return (double)x[(((b * C + c) * a.T + t) * a.H + y) * a.W + xx] * kStd[c] + kMean[c];
  };
  for (int64_t b = 0; b < a.B; ++b)
    for (int64_t tt = 0; tt < Tn; ++tt)
      for (int64_t hh = 0; hh < Nh; ++hh)
        for (int64_t ww = 0; ww < Nw; ++ww) {
          std::vector<double> v((size_t)P);
          for (int64_t dt = 0; dt < nt; ++dt)
            for (int64_t py = 0; py < p; ++py)
              for (int64_t q = 0; q < p; ++q)
                for (int64_t c = 0; c < C; ++c) {
                  const int64_t y = hh * p + py, xx = ww * p + q;
                  v[((dt * p + py) * p + q) * C + c] =
                      kind == Kind::Diff ? px(b, c, tt * tub + tub - 1, y, xx) - px(b, c, tt * tub, y, xx)
                                         : px(b, c, tt * tub + dt, y, xx);
                }
          if (a.normalize && kind == Kind::VideoMAE) {
            const int64_t n = P / C;
            for (int64_t c = 0; c < C; ++c) {
              double m = 0, s = 0;
              for (int64_t i = 0; i < n; ++i) m += v[i * C + c];
              m /= n;
              for (int64_t i = 0; i < n; ++i) s += (v[i * C + c] - m) * (v[i * C + c] - m);
              const double sd = std::sqrt(s / (n - 1));
              for (int64_t i = 0; i < n; ++i) v[i * C + c] = (v[i * C + c] - m) / (sd + 1e-6);
            }
          } else if (a.normalize) {
            double m = 0, s = 0;
            for (double e : v) m += e;
            m /= P;
            for (double e : v) s += (e - m) * (e - m);
            const double sd = std::sqrt(s / (P - 1) + 1e-6);
            for (double& e : v) e = (e - m) / sd;
          }
          out.insert(out.end(), v.begin(), v.end());
        }
  return out;
}

void check(PixelTargetArgs a, Kind kind, uint64_t seed) {
  a.mean = kMean;
  a.std = kStd;
  auto x = randn((size_t)(a.B * a.C * a.T * a.H * a.W), seed);
  auto ref = reference(x, a, kind);
  auto out = poisoned(ref.size());
  if (kind == Kind::VideoMAE) videomae_pixel_target_cpu(x.data(), out.data(), a);
  else if (kind == Kind::MAE) mae_pixel_target_cpu(x.data(), out.data(), a);
  else rgb_diff_target_cpu(x.data(), out.data(), a);
  const double err = max_rel_err(out.data(), ref.data(), ref.size());
  if (!(err < 2e-5)) fail("target kind " + std::to_string((int)kind) + " err " + std::to_string(err));
}

}  // namespace

MVD_TEST(targets_videomae_pixel_matches_float64) {
  PixelTargetArgs a;
  a.B = 3;
  a.C = 3;
  a.T = 4;
  a.H = 32;
  a.W = 48;
  a.tubelet = 2;
  a.patch = 16;
  for (bool n : {true, false}) {
    a.normalize = n;
    check(a, Kind::VideoMAE, 1 + n);
  }
  a.B = 1;
  a.T = 3;
  a.H = 15;
  a.W = 25;
  a.tubelet = 3;
  a.patch = 5;
  a.normalize = true;
  check(a, Kind::VideoMAE, 3);
}

MVD_TEST(targets_mae_pixel_matches_float64) {
  PixelTargetArgs a;
  a.B = 3;
  a.C = 3;
  a.T = 1;
  a.H = 28;
  a.W = 42;
  a.patch = 14;
  for (bool n : {true, false}) {
    a.normalize = n;
    check(a, Kind::MAE, 10 + n);
  }
  a.B = 1;
  a.H = 17;
  a.W = 34;
  a.patch = 17;
  a.normalize = true;
  check(a, Kind::MAE, 12);
}

MVD_TEST(targets_rgb_diff_matches_float64) {
  PixelTargetArgs a;
  a.B = 3;
  a.C = 3;
  a.T = 4;
  a.H = 32;
  a.W = 16;
  a.tubelet = 2;
  a.patch = 16;
  for (bool n : {true, false}) {
    a.normalize = n;
    check(a, Kind::Diff, 20 + n);
  }
  a.B = 1;
  a.T = 6;
  a.H = 9;
  a.W = 21;
  a.tubelet = 3;
  a.patch = 3;
  a.normalize = false;
  check(a, Kind::Diff, 22);
}
