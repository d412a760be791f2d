#include <omp.h>

#include <algorithm>

#include "../ops/elementwise/elementwise.h"
#include "check.h"

using namespace mvd;
using namespace mvdtest;

namespace {

double gelu64(double x) { return 0.5 * x * (1 + std::erf(x / std::sqrt(2.0))); }
double dgelu64(double x) {
  return 0.5 * (1 + std::erf(x / std::sqrt(2.0))) + x * std::exp(-0.5 * x * x) / std::sqrt(2 * M_PI);
}

// Inputs over GELU's whole working range, tails included.
std::vector<float> gelu_inputs(size_t n, uint64_t seed) {
  auto x = randn(n, seed);
  for (size_t i = 0; i < n; ++i) x[i] *= (i % 4 == 0) ? 4.f : 1.5f;
  if (n > 8) {
    x[0] = 0.f;
    x[1] = -12.f;
    x[2] = 12.f;
    x[3] = -100.f;
    x[4] = 100.f;
    x[5] = -5.5f;
  }
  return x;
}

}  // namespace

MVD_TEST(gelu_forward_backward_match_float64) {
  for (int64_t n : {1, 7, 33, 1568 * 7, 160 * 768, 1568 * 384}) {
    auto x = gelu_inputs(n, 3 + n), dy = randn(n, 4 + n);
    auto y = poisoned(n), dx = poisoned(n);
    gelu_cpu(x.data(), y.data(), n);
    gelu_backward_cpu(dy.data(), x.data(), dx.data(), n);
    std::vector<double> ry(n), rdx(n);
    std::vector<float> ny(n), ndx(n);
    for (int64_t i = 0; i < n; ++i) {
      ry[i] = gelu64(x[i]);
      rdx[i] = dy[i] * dgelu64(x[i]);
      ny[i] = 0.5f * x[i] * (1.f + std::erf(x[i] * 0.70710678f));
      ndx[i] =
          dy[i] * (0.5f * (1.f + std::erf(x[i] * 0.70710678f)) + x[i] * std::exp(-0.5f * x[i] * x[i]) * 0.39894228f);
    }
    std::string tag = "n=" + std::to_string(n);
    expect_close(tag + " gelu", max_rel_err(y.data(), ry.data(), n), max_rel_err(ny.data(), ry.data(), n), 2, 1.5e-7);
    expect_close(tag + " geluBackward", max_rel_err(dx.data(), rdx.data(), n), max_rel_err(ndx.data(), rdx.data(), n),
                 3, 1.5e-7);
  }
}

MVD_TEST(gelu_backward_matches_finite_differences) {
  const int64_t n = 64;
  auto x = gelu_inputs(n, 77);
  std::vector<float> ones(n, 1.f), dx = poisoned(n);
  gelu_backward_cpu(ones.data(), x.data(), dx.data(), n);
  for (int64_t i = 0; i < n; ++i) {
    double h = 1e-6, g = (gelu64((double)x[i] + h) - gelu64((double)x[i] - h)) / (2 * h);
    if (!(std::fabs(dx[i] - g) <= 1e-5 * (1 + std::fabs(g)))) fail("x=" + std::to_string(x[i]));
  }
}

MVD_TEST(elementwise_add_scale_broadcast_rowscale_fill) {
  for (int64_t B : {1, 2, 3})
    for (int64_t inner : {7, 33 * 5, 1568 * 64}) {
      const int64_t n = B * inner;
      auto a = randn(n, 1), b = randn(n, 2), t = randn(inner, 3), s = randn(B, 4);
      auto o = poisoned(n);
      axpby_cpu(a.data(), b.data(), 1.f, o.data(), n);
      for (int64_t i = 0; i < n; ++i) CHECK(o[i] == a[i] + b[i]);
      auto ac = a;
      axpby_cpu(ac.data(), b.data(), -0.25f, ac.data(), n);
      for (int64_t i = 0; i < n; ++i) CHECK(std::fabs(ac[i] - (a[i] - 0.25 * b[i])) <= 1e-6 * (1 + std::fabs(a[i])));
      o = poisoned(n);
      scale_cpu(a.data(), 1.5f, o.data(), n);
      for (int64_t i = 0; i < n; ++i) CHECK(o[i] == 1.5f * a[i]);
      o = poisoned(n);
      add_broadcast_cpu(a.data(), t.data(), o.data(), B, inner);
      for (int64_t i = 0; i < n; ++i) CHECK(o[i] == a[i] + t[i % inner]);
      o = poisoned(n);
      row_scale_cpu(a.data(), s.data(), o.data(), B, inner);
      for (int64_t i = 0; i < n; ++i) CHECK(o[i] == a[i] * s[i / inner]);
      fill_cpu(o.data(), 2.5f, n);
      for (int64_t i = 0; i < n; ++i) CHECK(o[i] == 2.5f);
    }
}

MVD_TEST(sum_rows_matches_float64) {
  for (int64_t rows : {1, 31, 33, 129, 160, 1568 * 2})
    for (int64_t cols : {7, 64, 384, 768}) {
      auto x = randn(rows * cols, rows + cols);
      auto out = poisoned(cols);
      sum_rows_cpu(x.data(), out.data(), rows, cols, false);
      std::vector<double> ref(cols, 0.0);
      std::vector<float> naive(cols, 0.f);
      for (int64_t r = 0; r < rows; ++r)
        for (int64_t j = 0; j < cols; ++j) {
          ref[j] += x[r * cols + j];
          naive[j] += x[r * cols + j];
        }
      expect_close("sumRows " + std::to_string(rows) + "x" + std::to_string(cols),
                   max_rel_err(out.data(), ref.data(), cols), max_rel_err(naive.data(), ref.data(), cols), 2, 1e-6);
      sum_rows_cpu(x.data(), out.data(), rows, cols, true);
      for (auto& r : ref) r *= 2;
      CHECK(max_rel_err(out.data(), ref.data(), cols) <= 2e-6);
    }
}

MVD_TEST(dropout_is_deterministic_and_unbiased) {
  const int64_t n = 1 << 18;
  auto x = randn(n, 9);
  for (float p : {0.f, 0.1f, 0.5f, 1.f}) {
    std::vector<float> y[2];
    std::vector<uint8_t> m[2];
    int saved = omp_get_max_threads();
    for (int k = 0; k < 2; ++k) {
      omp_set_num_threads(k == 0 ? 1 : saved);
      y[k] = poisoned(n);
      m[k].assign(n, 7);
      dropout_cpu(x.data(), y[k].data(), m[k].data(), n, p, 1234567890123ull);
    }
    omp_set_num_threads(saved);
    CHECK(m[0] == m[1]);
    int64_t kept = 0;
    const float sc = p < 1 ? 1.f / (1.f - p) : 0.f;
    for (int64_t i = 0; i < n; ++i) {
      CHECK(m[0][i] <= 1);
      kept += m[0][i];
      CHECK(std::fabs(y[0][i] - (m[0][i] ? x[i] * sc : 0.f)) <= 1e-6f * (1 + std::fabs(x[i])));
    }
    double rate = (double)kept / n;
    CHECK(std::fabs(rate - (1 - p)) < 0.01);
    auto dx = poisoned(n);
    dropout_backward_cpu(x.data(), m[0].data(), dx.data(), n, p);
    for (int64_t i = 0; i < n; ++i) CHECK(dx[i] == y[0][i]);
  }
  // Another seed gives another mask.
  std::vector<float> y1(n), y2(n);
  std::vector<uint8_t> m1(n), m2(n);
  dropout_cpu(x.data(), y1.data(), m1.data(), n, 0.5f, 1);
  dropout_cpu(x.data(), y2.data(), m2.data(), n, 0.5f, 2);
  CHECK(m1 != m2);
}
