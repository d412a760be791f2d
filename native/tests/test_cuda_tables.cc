// The positional tables' CUDA launchers against the CPU op and a float64 evaluation written
// independently here, on awkward sizes, with NaN-poisoned outputs, under several thread schedules
// (the emulator) or twice (a GPU). CUDA runtime API only, so the same file runs on a device.
#if MVD_SIMT || MVD_HAVE_CUDA
#include <cuda_runtime.h>

#include <cstring>

#include "../ops/tables/tables.h"
#include "check.h"
#include "cuda_harness.h"

using namespace mvd;
using namespace mvdtest;

namespace {

// 10000^(-k/half) through exp/log, not the pow of the shared formula.
double enc64(int64_t dim, int64_t k, double p) {
  const int64_t half = dim / 2, kk = k < half ? k : k - half;
  const double a = p * std::exp(-(double)kk / (double)half * std::log(10000.0));
  return k < half ? std::sin(a) : std::cos(a);
}

void expect_f64(const std::string& what, const std::vector<float>& got, const std::vector<double>& ref) {
  for (size_t i = 0; i < got.size(); ++i)
    if (!(std::fabs((double)got[i] - ref[i]) <= 1e-6)) fail(what + ": off from float64 at " + std::to_string(i));
}

template <typename Launch>
std::vector<float> run_table(const std::string& what, size_t n, Launch launch) {
  return under_schedules(what, [&] {
    Dev<float> out(poisoned(n));
    launch(out.p);
    return Outs{out.get()};
  })[0];
}

}  // namespace

MVD_TEST(cuda_tables_sincos3d_matches_cpu_and_float64) {
  struct S {
    int64_t d, t, h, w;
  };
  for (S s : {S{48, 3, 5, 7}, S{16, 1, 1, 1}, S{96, 2, 4, 4}, S{32, 1, 31, 1}}) {
    const int64_t n = s.t * s.h * s.w;
    std::vector<float> want = poisoned((size_t)(n * s.d));
    sincos3d_table_cpu(want.data(), s.d, s.t, s.h, s.w);
    const std::string tag = "sincos3d d=" + std::to_string(s.d) + " n=" + std::to_string(n);
    const std::vector<float> got =
        run_table(tag, want.size(), [&](float* p) { sincos3d_table_cuda(p, s.d, s.t, s.h, s.w, nullptr); });
    expect_libm_match(tag, got, want);
    std::vector<double> ref(want.size());
    const int64_t dt = s.d / 4, ds = 3 * s.d / 8;
    for (int64_t i = 0; i < n; ++i)
      for (int64_t j = 0; j < s.d; ++j) {
        const int64_t wi = i % s.w, hi = (i / s.w) % s.h, ti = i / (s.w * s.h);
        ref[i * s.d + j] = j < dt ? enc64(dt, j, ti) : j < dt + ds ? enc64(ds, j - dt, wi) : enc64(ds, j - dt - ds, hi);
      }
    expect_f64(tag, got, ref);
  }
}

MVD_TEST(cuda_tables_sinusoid1d_matches_cpu_and_float64) {
  for (int64_t n : {1, 31, 33, 129, 160})
    for (int64_t d : {2, 34}) {
      std::vector<float> want = poisoned((size_t)(n * d));
      sinusoid1d_table_cpu(want.data(), n, d);
      const std::string tag = "sinusoid1d n=" + std::to_string(n) + " d=" + std::to_string(d);
      const std::vector<float> got =
          run_table(tag, want.size(), [&](float* p) { sinusoid1d_table_cuda(p, n, d, nullptr); });
      expect_libm_match(tag, got, want);
      std::vector<double> ref(want.size());
      for (int64_t p = 0; p < n; ++p)
        for (int64_t j = 0; j < d; ++j) {
          const double a = (double)p * std::exp(-2.0 * (double)(j / 2) / (double)d * std::log(10000.0));
          ref[p * d + j] = j % 2 ? std::cos(a) : std::sin(a);
        }
      expect_f64(tag, got, ref);
    }
}

MVD_TEST(cuda_tables_sincos2d_matches_cpu_and_float64) {
  struct S {
    int64_t d, g;
    bool cls;
  };
  for (S s : {S{36, 5, true}, S{36, 5, false}, S{4, 1, true}, S{64, 14, true}}) {
    const int64_t first = s.cls ? 1 : 0, rows = first + s.g * s.g;
    std::vector<float> want = poisoned((size_t)(rows * s.d));
    sincos2d_table_cpu(want.data(), s.d, s.g, s.cls);
    const std::string tag = "sincos2d d=" + std::to_string(s.d) + " g=" + std::to_string(s.g) + (s.cls ? " cls" : "");
    const std::vector<float> got =
        run_table(tag, want.size(), [&](float* p) { sincos2d_table_cuda(p, s.d, s.g, s.cls, nullptr); });
    expect_libm_match(tag, got, want);
    std::vector<double> ref(want.size(), 0.0);
    for (int64_t i = 0; i < s.g * s.g; ++i)
      for (int64_t j = 0; j < s.d; ++j)
        ref[(first + i) * s.d + j] = j < s.d / 2 ? enc64(s.d / 2, j, i % s.g) : enc64(s.d / 2, j - s.d / 2, i / s.g);
    expect_f64(tag, got, ref);
  }
}

#endif  // MVD_SIMT || MVD_HAVE_CUDA
