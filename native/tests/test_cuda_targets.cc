// The pixel targets' CUDA launchers against the CPU op and float64 (the tolerance rule), on
// awkward shapes, near-constant patches and NaN-poisoned outputs, under several thread schedules
// (the emulator) or twice (a GPU). CUDA runtime API only, so the same file runs on a device.
#if MVD_SIMT || MVD_HAVE_CUDA
#include <cuda_runtime.h>

#include <cstring>

#include "../ops/targets/targets.h"
#include "check.h"
#include "cuda_harness.h"

using namespace mvd;
using namespace mvdtest;

namespace {

enum class Kind { VideoMAE, MAE, RgbDiff };

// The target in float64 straight from the definitions in targets.h.
std::vector<double> target64(const std::vector<float>& x, const PixelTargetArgs& a, Kind kind) {
  const int64_t p = a.patch, C = a.C, tub = a.tubelet, Tn = a.T / tub, Nh = a.H / p, Nw = a.W / p;
  const int64_t fo = kind == Kind::VideoMAE ? tub : 1, n_pos = fo * p * p, P = n_pos * C, HW = a.H * a.W;
  std::vector<double> out((size_t)(a.B * Tn * Nh * Nw * P));
  std::vector<double> v((size_t)P);  // (position, channel), channel fastest
  for (int64_t b = 0; b < a.B; ++b)
    for (int64_t tok = 0; tok < Tn * Nh * Nw; ++tok) {
      const int64_t ww = tok % Nw, hh = (tok / Nw) % Nh, tt = tok / (Nw * Nh);
      for (int64_t i = 0; i < n_pos; ++i)
        for (int64_t c = 0; c < C; ++c) {
          const int64_t px = i % p, py = (i / p) % p, dt = i / (p * p);
          auto at = [&](int64_t t) {
            return (double)x[(size_t)(((b * C + c) * a.T + t) * HW + (hh * p + py) * a.W + ww * p + px)];
          };
          v[i * C + c] = kind == Kind::RgbDiff ? (at(tt * tub + tub - 1) - at(tt * tub)) * a.std[c]
                                               : at(tt * tub + dt) * a.std[c] + a.mean[c];
        }
      double* o = out.data() + (b * Tn * Nh * Nw + tok) * P;
      if (!a.normalize) {
        for (int64_t e = 0; e < P; ++e) o[e] = v[e];
      } else if (kind == Kind::VideoMAE) {
        for (int64_t c = 0; c < C; ++c) {
          double m = 0, q = 0;
          for (int64_t i = 0; i < n_pos; ++i) m += v[i * C + c];
          m /= (double)n_pos;
          for (int64_t i = 0; i < n_pos; ++i) q += (v[i * C + c] - m) * (v[i * C + c] - m);
          const double sd = std::sqrt(q / (double)(n_pos - 1)) + 1e-6;
          for (int64_t i = 0; i < n_pos; ++i) o[i * C + c] = (v[i * C + c] - m) / sd;
        }
      } else {
        double m = 0, q = 0;
        for (int64_t e = 0; e < P; ++e) m += v[e];
        m /= (double)P;
        for (int64_t e = 0; e < P; ++e) q += (v[e] - m) * (v[e] - m);
        const double sd = std::sqrt(q / (double)(P - 1) + 1e-6);
        for (int64_t e = 0; e < P; ++e) o[e] = (v[e] - m) / sd;
      }
    }
  return out;
}

void check_target(Kind kind, PixelTargetArgs a, const std::vector<float>& x, const std::string& tag) {
  const std::vector<double> ref = target64(x, a, kind);
  std::vector<float> cpu = poisoned(ref.size());
  if (kind == Kind::VideoMAE) videomae_pixel_target_cpu(x.data(), cpu.data(), a);
  else if (kind == Kind::MAE) mae_pixel_target_cpu(x.data(), cpu.data(), a);
  else rgb_diff_target_cpu(x.data(), cpu.data(), a);
  Dev<float> dx(x);
  const std::vector<float> got = under_schedules(tag, [&] {
    Dev<float> out(poisoned(ref.size()));
    if (kind == Kind::VideoMAE) videomae_pixel_target_cuda(dx.p, out.p, a, nullptr);
    else if (kind == Kind::MAE) mae_pixel_target_cuda(dx.p, out.p, a, nullptr);
    else rgb_diff_target_cuda(dx.p, out.p, a, nullptr);
    return Outs{out.get()};
  })[0];
  // The CPU op is the plain same-precision implementation here: float values, double statistics.
  expect_close(tag, max_rel_err(got.data(), ref.data(), ref.size()), max_rel_err(cpu.data(), ref.data(), ref.size()),
               2.0, 1e-6);
}

const float kMean[3] = {0.485f, 0.456f, 0.406f}, kStd[3] = {0.229f, 0.224f, 0.225f};

// Random input, with the first token of sample 0 made near-constant (tiny variance, scaled up
// by the normalisation) to exercise the subtract-then-scale order.
std::vector<float> clip(const PixelTargetArgs& a, uint64_t seed) {
  std::vector<float> x = randn((size_t)(a.B * a.C * a.T * a.H * a.W), seed);
  const int64_t HW = a.H * a.W;
  for (int64_t c = 0; c < a.C; ++c)
    for (int64_t t = 0; t < a.tubelet; ++t)
      for (int64_t y = 0; y < a.patch; ++y)
        for (int64_t xx = 0; xx < a.patch; ++xx)
          x[(size_t)((c * a.T + t) * HW + y * a.W + xx)] =
              0.3f + 1e-4f * x[(size_t)((c * a.T + t) * HW + y * a.W + xx)];
  return x;
}

}  // namespace

MVD_TEST(cuda_targets_videomae_pixel_matches_cpu_and_float64) {
  struct S {
    int64_t B, C, T, H, W, tub, p;
  };
  for (S s : {S{3, 3, 4, 16, 24, 2, 8}, S{1, 1, 2, 10, 5, 1, 5}, S{2, 2, 2, 6, 6, 2, 3}})
    for (bool norm : {true, false}) {
      PixelTargetArgs a;
      a.B = s.B;
      a.C = s.C;
      a.T = s.T;
      a.H = s.H;
      a.W = s.W;
      a.tubelet = s.tub;
      a.patch = s.p;
      a.mean = kMean;
      a.std = kStd;
      a.normalize = norm;
      check_target(Kind::VideoMAE, a, clip(a, 41 + s.B),
                   "videomaePixelTarget p=" + std::to_string(s.p) + (norm ? " norm" : ""));
    }
}

MVD_TEST(cuda_targets_mae_pixel_matches_cpu_and_float64) {
  struct S {
    int64_t B, C, H, W, p;
  };
  for (S s : {S{3, 3, 12, 20, 4}, S{1, 3, 7, 7, 7}, S{5, 1, 2, 2, 1}})
    for (bool norm : {true, false}) {
      PixelTargetArgs a;
      a.B = s.B;
      a.C = s.C;
      a.T = 1;
      a.H = s.H;
      a.W = s.W;
      a.tubelet = 1;
      a.patch = s.p;
      a.mean = kMean;
      a.std = kStd;
      a.normalize = norm;
      check_target(Kind::MAE, a, clip(a, 51 + s.B), "maePixelTarget p=" + std::to_string(s.p) + (norm ? " norm" : ""));
    }
}

MVD_TEST(cuda_targets_rgb_diff_matches_cpu_and_float64) {
  struct S {
    int64_t B, C, T, H, W, tub, p;
  };
  for (S s : {S{3, 3, 4, 8, 12, 2, 4}, S{1, 3, 6, 9, 9, 3, 9}})
    for (bool norm : {true, false}) {
      PixelTargetArgs a;
      a.B = s.B;
      a.C = s.C;
      a.T = s.T;
      a.H = s.H;
      a.W = s.W;
      a.tubelet = s.tub;
      a.patch = s.p;
      a.mean = kMean;
      a.std = kStd;
      a.normalize = norm;
      check_target(Kind::RgbDiff, a, clip(a, 61 + s.B),
                   "rgbDiffTarget p=" + std::to_string(s.p) + (norm ? " norm" : ""));
    }
}

#endif  // MVD_SIMT || MVD_HAVE_CUDA
