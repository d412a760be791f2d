#include "elementwise.h"
#include "parallel_range.h"

#include <omp.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

namespace mvd {

namespace {

// A counter-based 32-bit hash (two rounds of a murmur3-style finaliser keyed by the seed).
inline uint32_t mix32(uint32_t h) {
  h ^= h >> 16;
  h *= 0x85ebca6bu;
  h ^= h >> 13;
  h *= 0xc2b2ae35u;
  h ^= h >> 16;
  return h;
}

}  // namespace

void gelu_cpu(const float* x, float* y, int64_t n) { MVD_ISA_CALL(gelu_cpu, x, y, n); }

void gelu_backward_cpu(const float* dy, const float* x, float* dx, int64_t n) {
  MVD_ISA_CALL(gelu_backward_cpu, dy, x, dx, n);
}

void axpby_cpu(const float* a, const float* b, float alpha, float* out, int64_t n) {
  if (alpha == 1.f) {
    parallel_range(n, [=](int64_t lo, int64_t hi) {
#pragma omp simd
      for (int64_t i = lo; i < hi; ++i) out[i] = a[i] + b[i];
    });
  } else {
    parallel_range(n, [=](int64_t lo, int64_t hi) {
#pragma omp simd
      for (int64_t i = lo; i < hi; ++i) out[i] = a[i] + alpha * b[i];
    });
  }
}

void scale_cpu(const float* x, float s, float* out, int64_t n) {
  parallel_range(n, [=](int64_t lo, int64_t hi) {
#pragma omp simd
    for (int64_t i = lo; i < hi; ++i) out[i] = s * x[i];
  });
}

void add_broadcast_cpu(const float* x, const float* t, float* out, int64_t batch, int64_t inner) {
  parallel_range(batch * inner, [=](int64_t lo, int64_t hi) {
    // A slice may start and end mid-sample; walk it sample by sample so t is indexed directly.
    while (lo < hi) {
      const int64_t b = lo / inner, i0 = lo - b * inner, i1 = std::min(inner, i0 + (hi - lo));
      const float* xb = x + b * inner;
      float* ob = out + b * inner;
#pragma omp simd
      for (int64_t i = i0; i < i1; ++i) ob[i] = xb[i] + t[i];
      lo += i1 - i0;
    }
  });
}

void row_scale_cpu(const float* x, const float* scales, float* out, int64_t batch, int64_t inner) {
  parallel_range(batch * inner, [=](int64_t lo, int64_t hi) {
    while (lo < hi) {
      const int64_t b = lo / inner, i0 = lo - b * inner, i1 = std::min(inner, i0 + (hi - lo));
      const float* xb = x + b * inner;
      float* ob = out + b * inner;
      const float s = scales[b];
#pragma omp simd
      for (int64_t i = i0; i < i1; ++i) ob[i] = xb[i] * s;
      lo += i1 - i0;
    }
  });
}

void dropout_cpu(const float* x, float* y, uint8_t* mask, int64_t n, float p, uint64_t seed) {
  // Keep when hash >= p·2^32; p is clamped so p = 1 drops all and p = 0 keeps all.
  const double pd = p <= 0.f ? 0.0 : p >= 1.f ? 1.0 : (double)p;
  const uint64_t thr64 = (uint64_t)(pd * 4294967296.0);
  const bool drop_all = thr64 >= 4294967296ull;
  const uint32_t thr = drop_all ? 0xffffffffu : (uint32_t)thr64;
  const float keep_scale = pd < 1.0 ? (float)(1.0 / (1.0 - pd)) : 0.f;
  const uint32_t k0 = mix32((uint32_t)seed ^ 0x9e3779b9u), k1 = mix32((uint32_t)(seed >> 32) + 0x7f4a7c15u);
  parallel_range(n, [=](int64_t lo, int64_t hi) {
#pragma omp simd
    for (int64_t i = lo; i < hi; ++i) {
      uint32_t h = mix32((uint32_t)i * 0x9e3779b1u ^ k0);
      h = mix32(h ^ k1 ^ (uint32_t)((uint64_t)i >> 32));
      const bool keep = !drop_all && h >= thr;
      mask[i] = (uint8_t)keep;
      y[i] = x[i] * (keep ? keep_scale : 0.f);
    }
  });
}

void dropout_backward_cpu(const float* dy, const uint8_t* mask, float* dx, int64_t n, float p) {
  const float keep_scale = p < 1.f ? (float)(1.0 / (1.0 - (double)(p > 0.f ? p : 0.f))) : 0.f;
  parallel_range(n, [=](int64_t lo, int64_t hi) {
#pragma omp simd
    for (int64_t i = lo; i < hi; ++i) dx[i] = dy[i] * (mask[i] ? keep_scale : 0.f);
  });
}

void sum_rows_cpu(const float* x, float* out, int64_t rows, int64_t cols, bool accumulate) {
  const bool par = rows * cols > kParallelMin;
  const int nt = par ? omp_get_max_threads() : 1;
  // Each thread sums a contiguous band of rows into its own double partial (rows are streamed
  // once, unit stride); the partials are combined in thread order, so the result is deterministic.
  std::vector<double> part((size_t)nt * cols, 0.0);
#pragma omp parallel num_threads(nt) if (par)
  {
    double* acc = part.data() + (size_t)omp_get_thread_num() * cols;
#pragma omp for schedule(static)
    for (int64_t r = 0; r < rows; ++r) {
      const float* xr = x + r * cols;
#pragma omp simd
      for (int64_t j = 0; j < cols; ++j) acc[j] += (double)xr[j];
    }
  }
  for (int64_t j = 0; j < cols; ++j) {
    double s = accumulate ? (double)out[j] : 0.0;
    for (int t = 0; t < nt; ++t) s += part[(size_t)t * cols + j];
    out[j] = (float)s;
  }
}

void fill_cpu(float* x, float value, int64_t n) {
  parallel_range(n, [=](int64_t lo, int64_t hi) {
#pragma omp simd
    for (int64_t i = lo; i < hi; ++i) x[i] = value;
  });
}

}  // namespace mvd
