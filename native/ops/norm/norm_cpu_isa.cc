// LayerNorm forward and backward on the CPU, compiled for AVX2 and again for AVX-512
// (native/core/isa.h); norm_cpu.cc dispatches.
#include <omp.h>

#include <cmath>
#include <cstring>
#include <type_traits>
#include <vector>

#include "norm.h"
#include "../../core/isa_target.h"  // last: see isa.h

namespace mvd {
namespace MVD_ISA_NS {

namespace {
// Below this many elements the OpenMP fork costs more than the work.
constexpr int64_t kParallelMin = 1 << 15;

// Row reductions keep four vector accumulators, so the adds pipeline instead of waiting on one
// register's latency. Written with explicit vectors: the earlier "float a[32] + omp simd" form
// kept its partial sums on the stack in the AVX-512 build (a store-to-load chain per step, perf).
constexpr int VW = MVD_ISA_LEVEL == 4 ? 16 : 8;
typedef float vf __attribute__((vector_size(VW * 4)));

// The summand lambdas take a loader, so one expression serves the vector body and the scalar tail.
struct LoadV {
  vf operator()(const float* p, int64_t j) const {
    vf v;
    std::memcpy(&v, p + j, sizeof(v));
    return v;
  }
};
struct LoadS {
  float operator()(const float* p, int64_t j) const { return p[j]; }
};

inline float hsum(vf v) {
  float t = 0.f;
  for (int k = 0; k < VW; ++k) t += v[k];
  return t;
}

// Σ f(j) and Σ g(j) over j < D.
template <typename F, typename G>
inline void row_sums2(int64_t D, F f, G g, float& sf, float& sg) {
  vf f0{}, f1{}, g0{}, g1{};
  int64_t j = 0;
  for (; j + 2 * VW <= D; j += 2 * VW) {
    f0 += f(LoadV{}, j);
    g0 += g(LoadV{}, j);
    f1 += f(LoadV{}, j + VW);
    g1 += g(LoadV{}, j + VW);
  }
  float tf = 0.f, tg = 0.f;
  for (; j < D; ++j) {
    tf += f(LoadS{}, j);
    tg += g(LoadS{}, j);
  }
  sf = tf + hsum(f0 + f1);
  sg = tg + hsum(g0 + g1);
}

template <typename F>
inline float row_sum(int64_t D, F f) {
  vf a0{}, a1{}, a2{}, a3{};
  int64_t j = 0;
  for (; j + 4 * VW <= D; j += 4 * VW) {
    a0 += f(LoadV{}, j);
    a1 += f(LoadV{}, j + VW);
    a2 += f(LoadV{}, j + 2 * VW);
    a3 += f(LoadV{}, j + 3 * VW);
  }
  float t = 0.f;
  for (; j < D; ++j) t += f(LoadS{}, j);
  return t + hsum((a0 + a1) + (a2 + a3));
}
}  // namespace

void layernorm_forward_cpu(const float* x, const float* residual, float* sum, const float* weight, const float* bias,
                           float* y, float* mean, float* rstd, int64_t rows, int64_t D, float eps) {
  const float invD = 1.f / (float)D;
  // Two passes over a row that stays in L1 (D <= a few thousand): the centred second pass avoids
  // the cancellation of E[x²] - E[x]² without Welford's serial dependency, so both vectorise.
  // With a residual the row's sum is made first and the passes read it back from L1.
#pragma omp parallel for schedule(static) if (rows * D > kParallelMin)
  for (int64_t r = 0; r < rows; ++r) {
    const float* xr = x + r * D;
    if (residual) {
      const float* rr = residual + r * D;
      float* sr = sum + r * D;
#pragma omp simd
      for (int64_t j = 0; j < D; ++j) sr[j] = xr[j] + rr[j];
      xr = sr;
    }
    float* yr = y + r * D;
    const float mu = row_sum(D, [=](auto ld, int64_t j) { return ld(xr, j); }) * invD;
    const float ss = row_sum(D, [=](auto ld, int64_t j) {
      auto d = ld(xr, j) - mu;
      return d * d;
    });
    const float rs = 1.f / std::sqrt(ss * invD + eps);
    mean[r] = mu;
    rstd[r] = rs;
    if (weight) {
#pragma omp simd
      for (int64_t j = 0; j < D; ++j) yr[j] = (xr[j] - mu) * rs * weight[j] + bias[j];
    } else {
#pragma omp simd
      for (int64_t j = 0; j < D; ++j) yr[j] = (xr[j] - mu) * rs;
    }
  }
}

void layernorm_backward_cpu(const float* dy, const float* x, const float* mean, const float* rstd, const float* weight,
                            const float* dresidual, float* dx, float* dweight, float* dbias, int64_t rows, int64_t D) {
  const bool affine = weight != nullptr;
  const float invD = 1.f / (float)D;
  const bool par = rows * D > kParallelMin;
  const int nt = par ? omp_get_max_threads() : 1;
  // dweight/dbias: each thread sums its rows into float column buffers, flushed every kFlush rows
  // into double partials (float adds vectorise twice as wide as double, and a flush bounds the
  // float error to kFlush terms); the per-thread doubles are added in thread order at the end,
  // so the result does not depend on scheduling.
  constexpr int kFlush = 32;
  std::vector<double> part(affine ? (size_t)nt * 2 * D : 0, 0.0);
  std::vector<float> fpart(affine ? (size_t)nt * 2 * D : 0, 0.f);
#pragma omp parallel num_threads(nt) if (par)
  {
    const int tid = omp_get_thread_num();
    double* pw = affine ? part.data() + (size_t)tid * 2 * D : nullptr;
    double* pb = affine ? pw + D : nullptr;
    float* fw = affine ? fpart.data() + (size_t)tid * 2 * D : nullptr;
    float* fb = affine ? fw + D : nullptr;
    int pending = 0;
    auto flush = [&] {
#pragma omp simd
      for (int64_t j = 0; j < D; ++j) {
        pw[j] += (double)fw[j];
        pb[j] += (double)fb[j];
        fw[j] = 0.f;
        fb[j] = 0.f;
      }
      pending = 0;
    };
#pragma omp for schedule(static) nowait
    for (int64_t r = 0; r < rows; ++r) {
      const float* xr = x + r * D;
      const float* gr = dy + r * D;
      float* dxr = dx + r * D;
      const float mu = mean[r], rs = rstd[r];
      float sg, sgx;
      if (affine)
        row_sums2(
            D, [=](auto ld, int64_t j) { return ld(gr, j) * ld(weight, j); },
            [=](auto ld, int64_t j) { return ld(gr, j) * ld(weight, j) * (ld(xr, j) - mu) * rs; }, sg, sgx);
      else
        row_sums2(
            D, [=](auto ld, int64_t j) { return ld(gr, j); },
            [=](auto ld, int64_t j) { return ld(gr, j) * (ld(xr, j) - mu) * rs; }, sg, sgx);
      const float a = sg * invD, b = sgx * invD;
      const float* dres = dresidual ? dresidual + r * D : nullptr;
      // Instantiated with and without the residual so neither loop tests for it per element.
      auto dx_row = [&](auto with_residual) {
        constexpr bool kRes = decltype(with_residual)::value;
        if (affine) {
#pragma omp simd
          for (int64_t j = 0; j < D; ++j) {
            float xh = (xr[j] - mu) * rs;
            float v = rs * (gr[j] * weight[j] - a - xh * b);
            dxr[j] = kRes ? v + dres[j] : v;
            fw[j] += gr[j] * xh;
            fb[j] += gr[j];
          }
        } else {
#pragma omp simd
          for (int64_t j = 0; j < D; ++j) {
            float v = rs * (gr[j] - a - (xr[j] - mu) * rs * b);
            dxr[j] = kRes ? v + dres[j] : v;
          }
        }
      };
      if (dres) dx_row(std::true_type{});
      else dx_row(std::false_type{});
      if (affine && ++pending == kFlush) flush();
    }
    if (affine && pending) flush();
  }
  if (!affine) return;
  for (int64_t j = 0; j < D; ++j) {
    double w = 0, b = 0;
    for (int t = 0; t < nt; ++t) {
      w += part[(size_t)t * 2 * D + j];
      b += part[(size_t)t * 2 * D + D + j];
    }
    dweight[j] = (float)w;
    dbias[j] = (float)b;
  }
}

}  // namespace MVD_ISA_NS
}  // namespace mvd
