#include "tables.h"

namespace mvd {

void sincos3d_table_cpu(float* out, int64_t d, int64_t t, int64_t h, int64_t w) {
  const int64_t n = t * h * w;
#pragma omp parallel for schedule(static) if (n * d > 65536)
  for (int64_t i = 0; i < n; ++i)
    for (int64_t j = 0; j < d; ++j) out[i * d + j] = sincos3d_value(d, h, w, i, j);
}

void sinusoid1d_table_cpu(float* out, int64_t n, int64_t d) {
#pragma omp parallel for schedule(static) if (n * d > 65536)
  for (int64_t p = 0; p < n; ++p)
    for (int64_t j = 0; j < d; ++j) out[p * d + j] = sinusoid1d_value(d, p, j);
}

void sincos2d_table_cpu(float* out, int64_t d, int64_t g, bool cls) {
  const int64_t first = cls ? 1 : 0;
  if (cls)
    for (int64_t j = 0; j < d; ++j) out[j] = 0.f;
#pragma omp parallel for schedule(static) if (g * g * d > 65536)
  for (int64_t i = 0; i < g * g; ++i)
    for (int64_t j = 0; j < d; ++j) out[(first + i) * d + j] = sincos2d_value(d, g, i, j);
}

}  // namespace mvd
