#include "roofline.h"

#include <omp.h>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <vector>

namespace mvd {
namespace {

typedef float v8 __attribute__((vector_size(32)));
typedef float v16 __attribute__((vector_size(64)));

// 12 independent accumulator chains hide the 4-cycle FMA latency on two FMA ports. Distinct
// starting values keep the compiler from merging identical chains into one.
#define MVD_FMA_CHAINS(V, LANES)                                                                                      \
  V acc[12];                                                                                                          \
  for (int j = 0; j < 12; ++j) acc[j] = V{} + (float)(j + 1) * 1e-3f;                                                 \
  const V m = V{} + mul, c = V{} + 1e-7f;                                                                             \
  for (long i = 0; i < iters; ++i) { _Pragma("GCC unroll 12") for (int j = 0; j < 12; ++j) acc[j] = acc[j] * m + c; } \
  float s = 0;                                                                                                        \
  for (int j = 0; j < 12; ++j)                                                                                        \
    for (int l = 0; l < LANES; ++l) s += acc[j][l];                                                                   \
  return s;

__attribute__((noinline, target("avx512f"))) float run512(long iters, float mul) { MVD_FMA_CHAINS(v16, 16) }
__attribute__((noinline)) float run256(long iters, float mul) { MVD_FMA_CHAINS(v8, 8) }

double now_s() { return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count(); }

}  // namespace

double fma_peak_gflops(int threads, int width, double seconds) {
  if (width == 16 && !__builtin_cpu_supports("avx512f")) width = 8;
  const long iters = 2000000;
  double best = 0;
  volatile float sink = 0;
  double t_end = now_s() + seconds;
  while (now_s() < t_end) {
    double t0 = now_s();
#pragma omp parallel num_threads(threads)
    {
      float r = width == 16 ? run512(iters, 0.999999f) : run256(iters, 0.999999f);
#pragma omp atomic
      sink += r;
    }
    double dt = now_s() - t0;
    double flops = 2.0 * 12 * width * (double)iters * threads;
    if (flops / dt / 1e9 > best) best = flops / dt / 1e9;
  }
  (void)sink;
  return best;
}

double copy_bandwidth_gbs(int threads, double megabytes, double seconds) {
  size_t bytes = (size_t)(megabytes * 1024 * 1024);
  std::vector<char> a(bytes, 1), b(bytes, 2);
  double best = 0;
  double t_end = now_s() + seconds;
  while (now_s() < t_end) {
    double t0 = now_s();
#pragma omp parallel num_threads(threads)
    {
      int n = omp_get_num_threads(), i = omp_get_thread_num();
      size_t chunk = (bytes + n - 1) / n, lo = chunk * i, hi = lo + chunk > bytes ? bytes : lo + chunk;
      if (lo < hi) std::memcpy(b.data() + lo, a.data() + lo, hi - lo);
    }
    double dt = now_s() - t0;
    if (2.0 * bytes / dt / 1e9 > best) best = 2.0 * bytes / dt / 1e9;
  }
  return best;
}

}  // namespace mvd
