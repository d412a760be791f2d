#include <omp.h>

#include "../ops/norm/norm.h"
#include "check.h"
#include "norm_residual.h"

using namespace mvd;
using namespace mvdtest;

namespace {

struct LnRef {
  std::vector<double> y, mean, rstd, dx, dw, db;
};

// Float64 LayerNorm forward and backward, the textbook formulas.
LnRef ln_ref(const std::vector<float>& x, const std::vector<float>& dy, const float* w, const float* b, int64_t rows,
             int64_t D, double eps) {
  LnRef r;
  r.y.resize(rows * D);
  r.dx.resize(rows * D);
  r.mean.resize(rows);
  r.rstd.resize(rows);
  r.dw.assign(D, 0.0);
  r.db.assign(D, 0.0);
  for (int64_t i = 0; i < rows; ++i) {
    double s = 0, ss = 0;
    for (int64_t j = 0; j < D; ++j) s += x[i * D + j];
    double mu = s / D;
    for (int64_t j = 0; j < D; ++j) ss += (x[i * D + j] - mu) * (x[i * D + j] - mu);
    double rs = 1.0 / std::sqrt(ss / D + eps);
    r.mean[i] = mu;
    r.rstd[i] = rs;
    double a = 0, bb = 0;
    for (int64_t j = 0; j < D; ++j) {
      double xh = (x[i * D + j] - mu) * rs, wj = w ? w[j] : 1.0;
      r.y[i * D + j] = xh * wj + (b ? b[j] : 0.0);
      double g = dy[i * D + j] * wj;
      a += g;
      bb += g * xh;
      r.dw[j] += dy[i * D + j] * xh;
      r.db[j] += dy[i * D + j];
    }
    a /= D;
    bb /= D;
    for (int64_t j = 0; j < D; ++j) {
      double xh = (x[i * D + j] - mu) * rs, wj = w ? w[j] : 1.0;
      r.dx[i * D + j] = rs * (dy[i * D + j] * wj - a - xh * bb);
    }
  }
  return r;
}

// The same in float32 with sequential sums: the baseline the tolerance is measured against.
void ln_naive(const std::vector<float>& x, const std::vector<float>& dy, const float* w, const float* b, int64_t rows,
              int64_t D, float eps, std::vector<float>& y, std::vector<float>& dx, std::vector<float>& dw,
              std::vector<float>& db) {
  y.resize(rows * D);
  dx.resize(rows * D);
  dw.assign(D, 0.f);
  db.assign(D, 0.f);
  for (int64_t i = 0; i < rows; ++i) {
    float s = 0, ss = 0;
    for (int64_t j = 0; j < D; ++j) s += x[i * D + j];
    float mu = s / D;
    for (int64_t j = 0; j < D; ++j) ss += (x[i * D + j] - mu) * (x[i * D + j] - mu);
    float rs = 1.f / std::sqrt(ss / D + eps);
    float a = 0, bb = 0;
    for (int64_t j = 0; j < D; ++j) {
      float xh = (x[i * D + j] - mu) * rs, wj = w ? w[j] : 1.f;
      y[i * D + j] = xh * wj + (b ? b[j] : 0.f);
      a += dy[i * D + j] * wj;
      bb += dy[i * D + j] * wj * xh;
      dw[j] += dy[i * D + j] * xh;
      db[j] += dy[i * D + j];
    }
    a /= D;
    bb /= D;
    for (int64_t j = 0; j < D; ++j) {
      float xh = (x[i * D + j] - mu) * rs, wj = w ? w[j] : 1.f;
      dx[i * D + j] = rs * (dy[i * D + j] * wj - a - xh * bb);
    }
  }
}

// With `residual`, the forward normalises sum = a + residual (a = x - residual, so the sum has
// x's statistics) and the backward adds a residual gradient; the references then take the sum the
// test makes with the same float adds, and add the residual gradient to their dx.
void check_ln(int64_t rows, int64_t D, bool affine, bool residual = false) {
  const float eps = 1e-6f;
  auto x = randn(rows * D, 10 + rows + D), dy = randn(rows * D, 20 + rows);
  // A non-zero mean and uneven scale per row, as real activations have.
  for (int64_t i = 0; i < rows; ++i)
    for (int64_t j = 0; j < D; ++j) x[i * D + j] = x[i * D + j] * (1.f + 0.1f * (i % 5)) + 0.5f * (float)(i % 3);
  auto w = randn(D, 30), b = randn(D, 31);
  const float* pw = affine ? w.data() : nullptr;
  const float* pb = affine ? b.data() : nullptr;
  ResidualSplit sp = residual ? split_residual(x, 50 + rows) : ResidualSplit{x, {}, {}};
  const std::vector<float>&a = sp.a, &res = sp.res, &dres = sp.dres;
  auto sum = poisoned(rows * D);
  auto y = poisoned(rows * D), mean = poisoned(rows), rstd = poisoned(rows);
  layernorm_forward_cpu(a.data(), residual ? res.data() : nullptr, residual ? sum.data() : nullptr, pw, pb, y.data(),
                        mean.data(), rstd.data(), rows, D, eps);
  auto dx = poisoned(rows * D), dw = poisoned(D), db = poisoned(D);
  layernorm_backward_cpu(dy.data(), x.data(), mean.data(), rstd.data(), pw, residual ? dres.data() : nullptr, dx.data(),
                         affine ? dw.data() : nullptr, affine ? db.data() : nullptr, rows, D);
  LnRef r = ln_ref(x, dy, pw, pb, rows, D, eps);
  std::vector<float> ny, ndx, ndw, ndb;
  ln_naive(x, dy, pw, pb, rows, D, eps, ny, ndx, ndw, ndb);
  std::string tag = "rows=" + std::to_string(rows) + " D=" + std::to_string(D) + (affine ? " affine" : "") +
                    (residual ? " residual" : "");
  if (residual) {
    for (size_t i = 0; i < x.size(); ++i) {
      if (!(sum[i] == x[i])) fail(tag + " sum[" + std::to_string(i) + "] is not a + residual");
      r.dx[i] += dres[i];
      ndx[i] += dres[i];
    }
  }
  expect_close(tag + " y", max_rel_err(y.data(), r.y.data(), y.size()), max_rel_err(ny.data(), r.y.data(), y.size()), 2,
               1e-7);
  expect_close(tag + " mean", max_rel_err(mean.data(), r.mean.data(), rows), 0, 1, 1e-6);
  expect_close(tag + " rstd", max_rel_err(rstd.data(), r.rstd.data(), rows), 0, 1, 1e-5);
  expect_close(tag + " dx", max_rel_err(dx.data(), r.dx.data(), dx.size()),
               max_rel_err(ndx.data(), r.dx.data(), dx.size()), 3, 1e-7);
  if (affine) {
    expect_close(tag + " dw", max_rel_err(dw.data(), r.dw.data(), D), max_rel_err(ndw.data(), r.dw.data(), D), 3, 1e-7);
    expect_close(tag + " db", max_rel_err(db.data(), r.db.data(), D), max_rel_err(ndb.data(), r.db.data(), D), 3, 1e-7);
  }
}

}  // namespace

MVD_TEST(layernorm_matches_float64_on_awkward_shapes) {
  for (int64_t rows : {1, 31, 33, 129, 160, 1568})
    for (int64_t D : {7, 64, 384, 768}) check_ln(rows, D, true);
  for (int64_t rows : {1, 33, 160})
    for (int64_t D : {7, 768}) check_ln(rows, D, false);
}

MVD_TEST(layernorm_with_residual_matches_float64) {
  for (int64_t rows : {1, 31, 129, 1568})
    for (int64_t D : {7, 384, 768}) check_ln(rows, D, true, true);
  for (int64_t rows : {1, 33})
    for (int64_t D : {7, 768}) check_ln(rows, D, false, true);
}

MVD_TEST(layernorm_same_result_with_one_thread) {
  const int64_t rows = 160, D = 384;
  auto x = randn(rows * D, 5), dy = randn(rows * D, 6), w = randn(D, 7), b = randn(D, 8);
  std::vector<float> out[2][4];
  int saved = omp_get_max_threads();
  for (int k = 0; k < 2; ++k) {
    omp_set_num_threads(k == 0 ? 1 : saved);
    std::vector<float> y(rows * D), m(rows), r(rows), dx(rows * D), dw(D), db(D);
    layernorm_forward_cpu(x.data(), nullptr, nullptr, w.data(), b.data(), y.data(), m.data(), r.data(), rows, D, 1e-6f);
    layernorm_backward_cpu(dy.data(), x.data(), m.data(), r.data(), w.data(), nullptr, dx.data(), dw.data(), db.data(),
                           rows, D);
    out[k][0] = y;
    out[k][1] = dx;
    out[k][2] = dw;
    out[k][3] = db;
  }
  omp_set_num_threads(saved);
  for (int i = 0; i < 4; ++i)
    for (size_t j = 0; j < out[0][i].size(); ++j)
      CHECK(std::fabs(out[0][i][j] - out[1][i][j]) <= 1e-5f * (1 + std::fabs(out[0][i][j])));
}

// Central differences of L = Σ dy·LN(x; w, b) computed in float64, against the float kernel.
MVD_TEST(layernorm_backward_matches_finite_differences) {
  const int64_t rows = 3, D = 7;
  auto x = randn(rows * D, 41), dy = randn(rows * D, 42), w = randn(D, 43), b = randn(D, 44);
  auto loss = [&](const std::vector<double>& xv, const std::vector<double>& wv, const std::vector<double>& bv) {
    double L = 0;
    for (int64_t i = 0; i < rows; ++i) {
      double s = 0, ss = 0;
      for (int64_t j = 0; j < D; ++j) s += xv[i * D + j];
      double mu = s / D;
      for (int64_t j = 0; j < D; ++j) ss += (xv[i * D + j] - mu) * (xv[i * D + j] - mu);
      double rs = 1 / std::sqrt(ss / D + 1e-6);
      for (int64_t j = 0; j < D; ++j) L += dy[i * D + j] * ((xv[i * D + j] - mu) * rs * wv[j] + bv[j]);
    }
    return L;
  };
  std::vector<double> xd(x.begin(), x.end()), wd(w.begin(), w.end()), bd(b.begin(), b.end());
  std::vector<float> y(rows * D), m(rows), r(rows), dx = poisoned(rows * D), dw = poisoned(D), db = poisoned(D);
  layernorm_forward_cpu(x.data(), nullptr, nullptr, w.data(), b.data(), y.data(), m.data(), r.data(), rows, D, 1e-6f);
  layernorm_backward_cpu(dy.data(), x.data(), m.data(), r.data(), w.data(), nullptr, dx.data(), dw.data(), db.data(),
                         rows, D);
  const double h = 1e-6;
  auto fd = [&](std::vector<double>& v, size_t i) {
    double keep = v[i];
    v[i] = keep + h;
    double lp = loss(xd, wd, bd);
    v[i] = keep - h;
    double lm = loss(xd, wd, bd);
    v[i] = keep;
    return (lp - lm) / (2 * h);
  };
  for (size_t i = 0; i < xd.size(); ++i) {
    double g = fd(xd, i);
    if (!(std::fabs(dx[i] - g) <= 1e-4 * (1 + std::fabs(g))))
      fail("dx[" + std::to_string(i) + "] " + std::to_string(dx[i]) + " vs fd " + std::to_string(g));
  }
  for (int64_t j = 0; j < D; ++j) {
    double gw = fd(wd, j), gb = fd(bd, j);
    if (!(std::fabs(dw[j] - gw) <= 1e-4 * (1 + std::fabs(gw)))) fail("dw[" + std::to_string(j) + "]");
    if (!(std::fabs(db[j] - gb) <= 1e-4 * (1 + std::fabs(gb)))) fail("db[" + std::to_string(j) + "]");
  }
}

// The fused pair as a block uses it: s = a + r feeds both the LayerNorm and the residual path, so
// L = Σ dy·LN(s) + Σ ds·s and dL/da = dL/dr = LN'(dy) + ds, the backward given ds as dresidual.
// Central differences in float64 over a, against the float kernels.
MVD_TEST(layernorm_residual_pair_matches_finite_differences) {
  const int64_t rows = 3, D = 7;
  auto a = randn(rows * D, 71), res = randn(rows * D, 72), dy = randn(rows * D, 73), ds = randn(rows * D, 74);
  auto w = randn(D, 75), b = randn(D, 76);
  auto loss = [&](const std::vector<double>& av) {
    double L = 0;
    for (int64_t i = 0; i < rows; ++i) {
      double sv[D], s = 0, ss = 0;
      for (int64_t j = 0; j < D; ++j) s += (sv[j] = av[i * D + j] + res[i * D + j]);
      double mu = s / D;
      for (int64_t j = 0; j < D; ++j) ss += (sv[j] - mu) * (sv[j] - mu);
      double rs = 1 / std::sqrt(ss / D + 1e-6);
      for (int64_t j = 0; j < D; ++j) L += dy[i * D + j] * ((sv[j] - mu) * rs * w[j] + b[j]) + ds[i * D + j] * sv[j];
    }
    return L;
  };
  std::vector<float> sum = poisoned(rows * D), y(rows * D), m(rows), r(rows), dx = poisoned(rows * D), dw(D), db(D);
  layernorm_forward_cpu(a.data(), res.data(), sum.data(), w.data(), b.data(), y.data(), m.data(), r.data(), rows, D,
                        1e-6f);
  layernorm_backward_cpu(dy.data(), sum.data(), m.data(), r.data(), w.data(), ds.data(), dx.data(), dw.data(),
                         db.data(), rows, D);
  std::vector<double> ad(a.begin(), a.end());
  const double h = 1e-6;
  for (size_t i = 0; i < ad.size(); ++i) {
    const double keep = ad[i];
    ad[i] = keep + h;
    const double lp = loss(ad);
    ad[i] = keep - h;
    const double lm = loss(ad);
    ad[i] = keep;
    const double g = (lp - lm) / (2 * h);
    if (!(std::fabs(dx[i] - g) <= 1e-4 * (1 + std::fabs(g))))
      fail("dx[" + std::to_string(i) + "] " + std::to_string(dx[i]) + " vs fd " + std::to_string(g));
  }
}
