#include <cmath>

#include "tables.h"

namespace mvd {

namespace {
// The shared 1D encoding of width dim at position p: sin(p*w_k) for k < dim/2, then cos(p*w_k),
// with w_k = 10000^(-k/(dim/2)).
void sincos1d(float* out, int64_t dim, double p) {
  const int64_t half = dim / 2;
  for (int64_t k = 0; k < half; ++k) {
    const double a = p * std::pow(10000.0, -(double)k / (double)half);
    out[k] = (float)std::sin(a);
    out[half + k] = (float)std::cos(a);
  }
}
}  // namespace

void sincos3d_table_cpu(float* out, int64_t d, int64_t t, int64_t h, int64_t w) {
  const int64_t dt = d / 4, ds = 3 * d / 8, n = t * h * w;
#pragma omp parallel for schedule(static) if (n * d > 65536)
  for (int64_t i = 0; i < n; ++i) {
    const int64_t wi = i % w, hi = (i / w) % h, ti = i / (w * h);
    float* row = out + i * d;
    sincos1d(row, dt, (double)ti);
    sincos1d(row + dt, ds, (double)wi);   // the "h" half of the original code encodes the column
    sincos1d(row + dt + ds, ds, (double)hi);
  }
}

void sinusoid1d_table_cpu(float* out, int64_t n, int64_t d) {
#pragma omp parallel for schedule(static) if (n * d > 65536)
  for (int64_t p = 0; p < n; ++p)
    for (int64_t j = 0; j < d; ++j) {
      const double a = (double)p / std::pow(10000.0, 2.0 * (double)(j / 2) / (double)d);
      out[p * d + j] = (float)(j % 2 == 0 ? std::sin(a) : std::cos(a));
    }
}

void sincos2d_table_cpu(float* out, int64_t d, int64_t g, bool cls) {
  const int64_t first = cls ? 1 : 0;
  if (cls)
    for (int64_t j = 0; j < d; ++j) out[j] = 0.f;
#pragma omp parallel for schedule(static) if (g * g * d > 65536)
  for (int64_t i = 0; i < g * g; ++i) {
    float* row = out + (first + i) * d;
    sincos1d(row, d / 2, (double)(i % g));
    sincos1d(row + d / 2, d / 2, (double)(i / g));
  }
}

}  // namespace mvd
