// LayerNorm's CUDA launchers against the CPU op and float64, under several thread schedules (the
// emulator) or twice (a GPU), demanding the same bits from every run. Uses only the CUDA runtime
// API, so the same file runs on a device.
#if MVD_SIMT || MVD_HAVE_CUDA
#include "../ops/norm/norm.h"
#include "cuda_harness.h"
#include "norm_residual.h"

using namespace mvd;
using namespace mvdtest;

namespace {

struct Ln {
  std::vector<float> y, mean, rstd, dx, dw, db;
};

void ln_ref(const std::vector<float>& x, const std::vector<float>& dy, const float* w, const float* b, int64_t rows,
            int64_t D, double eps, std::vector<double>* out) {  // out: y, mean, rstd, dx, dw, db
  for (int k = 0; k < 6; ++k) out[k].assign(k == 0 || k == 3 ? rows * D : k < 3 ? rows : D, 0.0);
  for (int64_t i = 0; i < rows; ++i) {
    double s = 0, ss = 0;
    for (int64_t j = 0; j < D; ++j) s += x[i * D + j];
    const double mu = s / D;
    for (int64_t j = 0; j < D; ++j) ss += (x[i * D + j] - mu) * (x[i * D + j] - mu);
    const double rs = 1.0 / std::sqrt(ss / D + eps);
    out[1][i] = mu;
    out[2][i] = rs;
    double a = 0, bb = 0;
    for (int64_t j = 0; j < D; ++j) {
      const double xh = (x[i * D + j] - mu) * rs, wj = w ? w[j] : 1.0;
      out[0][i * D + j] = xh * wj + (b ? b[j] : 0.0);
      a += dy[i * D + j] * wj;
      bb += dy[i * D + j] * wj * xh;
      out[4][j] += dy[i * D + j] * xh;
      out[5][j] += dy[i * D + j];
    }
    a /= D;
    bb /= D;
    for (int64_t j = 0; j < D; ++j) {
      const double xh = (x[i * D + j] - mu) * rs, wj = w ? w[j] : 1.0;
      out[3][i * D + j] = rs * (dy[i * D + j] * wj - a - xh * bb);
    }
  }
}

// Plain float32 with sequential sums: the baseline of the tolerance rule.
Ln ln_naive(const std::vector<float>& x, const std::vector<float>& dy, const float* w, const float* b, int64_t rows,
            int64_t D, float eps) {
  Ln r;
  r.y.resize(rows * D);
  r.dx.resize(rows * D);
  r.mean.resize(rows);
  r.rstd.resize(rows);
  r.dw.assign(D, 0.f);
  r.db.assign(D, 0.f);
  for (int64_t i = 0; i < rows; ++i) {
    float s = 0, ss = 0;
    for (int64_t j = 0; j < D; ++j) s += x[i * D + j];
    const float mu = s / D;
    for (int64_t j = 0; j < D; ++j) ss += (x[i * D + j] - mu) * (x[i * D + j] - mu);
    const float rs = 1.f / std::sqrt(ss / D + eps);
    r.mean[i] = mu;
    r.rstd[i] = rs;
    float a = 0, bb = 0;
    for (int64_t j = 0; j < D; ++j) {
      const float xh = (x[i * D + j] - mu) * rs, wj = w ? w[j] : 1.f;
      r.y[i * D + j] = xh * wj + (b ? b[j] : 0.f);
      a += dy[i * D + j] * wj;
      bb += dy[i * D + j] * wj * xh;
      r.dw[j] += dy[i * D + j] * xh;
      r.db[j] += dy[i * D + j];
    }
    a /= D;
    bb /= D;
    for (int64_t j = 0; j < D; ++j) {
      const float xh = (x[i * D + j] - mu) * rs, wj = w ? w[j] : 1.f;
      r.dx[i * D + j] = rs * (dy[i * D + j] * wj - a - xh * bb);
    }
  }
  return r;
}

// With `residual`, the ops normalise sum = a + residual (a = x - residual) and the backward adds a
// residual gradient, as in check_ln of test_norm.cc.
void check_ln_cuda(int64_t rows, int64_t D, bool affine, bool residual = false) {
  const float eps = 1e-6f;
  std::vector<float> x = randn(rows * D, 100 + rows + D), dy = randn(rows * D, 200 + rows);
  for (int64_t i = 0; i < rows; ++i)
    for (int64_t j = 0; j < D; ++j) x[i * D + j] = x[i * D + j] * (1.f + 0.1f * (i % 5)) + 0.5f * (float)(i % 3);
  const std::vector<float> w = randn(D, 30), b = randn(D, 31);
  const float* pw = affine ? w.data() : nullptr;
  const float* pb = affine ? b.data() : nullptr;
  // Without a residual, zeros stand in (never passed to the ops, and adding them changes nothing).
  ResidualSplit sp = residual ? split_residual(x, 300 + rows)
                              : ResidualSplit{x, std::vector<float>(x.size(), 0.f), std::vector<float>(x.size(), 0.f)};
  const std::vector<float>&a = sp.a, &res = sp.res, &dres = sp.dres;
  const float* cres = residual ? res.data() : nullptr;
  const float* cdres = residual ? dres.data() : nullptr;

  Ln cpu;
  cpu.y.resize(rows * D);
  cpu.mean.resize(rows);
  cpu.rstd.resize(rows);
  cpu.dx.resize(rows * D);
  cpu.dw.resize(D);
  cpu.db.resize(D);
  std::vector<float> cpu_sum(rows * D);
  layernorm_forward_cpu(a.data(), cres, residual ? cpu_sum.data() : nullptr, pw, pb, cpu.y.data(), cpu.mean.data(),
                        cpu.rstd.data(), rows, D, eps);
  layernorm_backward_cpu(dy.data(), x.data(), cpu.mean.data(), cpu.rstd.data(), pw, cdres, cpu.dx.data(),
                         affine ? cpu.dw.data() : nullptr, affine ? cpu.db.data() : nullptr, rows, D);

  Dev<float> da_in(a), dx_in(x), dres_in(res), ddres_in(dres), ddy(dy), dw_in(w), db_in(b);
  Dev<float> y(rows * D), mean(rows), rstd(rows), dx(rows * D), dw(D), db(D), sum(rows * D);
  Dev<char> scratch(layernorm_backward_cuda_scratch_bytes(rows, D, affine));
  const std::string tag = "rows=" + std::to_string(rows) + " D=" + std::to_string(D) + (affine ? " affine" : "") +
                          (residual ? " residual" : "");
  Bits got = under_schedules(tag, [&] {
    for (Dev<float>* o : {&y, &mean, &rstd, &dx, &dw, &db, &sum}) o->put(poisoned(o->n));
    layernorm_forward_cuda(residual ? da_in.p : dx_in.p, residual ? dres_in.p : nullptr, residual ? sum.p : nullptr,
                           affine ? dw_in.p : nullptr, affine ? db_in.p : nullptr, y.p, mean.p, rstd.p, rows, D, eps,
                           nullptr);
    layernorm_backward_cuda(ddy.p, residual ? sum.p : dx_in.p, mean.p, rstd.p, affine ? dw_in.p : nullptr,
                            residual ? ddres_in.p : nullptr, dx.p, affine ? dw.p : nullptr, affine ? db.p : nullptr,
                            rows, D, scratch.p, nullptr);
    return Bits{{y.get(), mean.get(), rstd.get(), dx.get(), dw.get(), db.get(), sum.get()}};
  });
  if (residual)
    for (size_t i = 0; i < x.size(); ++i)
      if (!(got.v[6][i] == x[i])) fail(tag + " sum[" + std::to_string(i) + "] is not a + residual");
  std::vector<double> ref[6];
  ln_ref(x, dy, pw, pb, rows, D, eps, ref);
  Ln nv = ln_naive(x, dy, pw, pb, rows, D, eps);
  for (size_t i = 0; i < x.size(); ++i) {
    ref[3][i] += dres[i];
    nv.dx[i] += dres[i];
  }
  check_vs(tag + " y", got.v[0], cpu.y, ref[0], nv.y, 2, 1e-7);
  check_vs(tag + " mean", got.v[1], cpu.mean, ref[1], nv.mean, 2, 1e-6);
  check_vs(tag + " rstd", got.v[2], cpu.rstd, ref[2], nv.rstd, 2, 1e-5);
  check_vs(tag + " dx", got.v[3], cpu.dx, ref[3], nv.dx, 3, 1e-7);
  if (affine) {
    check_vs(tag + " dw", got.v[4], cpu.dw, ref[4], nv.dw, 3, 1e-7);
    check_vs(tag + " db", got.v[5], cpu.db, ref[5], nv.db, 3, 1e-7);
  } else {
    // Not written without weight: still the poison.
    CHECK(std::isnan(got.v[4][0]) && std::isnan(got.v[5][0]));
  }
}

}  // namespace

MVD_TEST(cuda_layernorm_matches_cpu_and_float64) {
  for (int64_t rows : {1, 31, 33, 129})
    for (int64_t D : {7, 64, 384, 768}) check_ln_cuda(rows, D, true);
  for (int64_t rows : {1, 33})
    for (int64_t D : {7, 768}) check_ln_cuda(rows, D, false);
}

MVD_TEST(cuda_layernorm_with_residual_matches_cpu_and_float64) {
  for (int64_t rows : {1, 33, 129})
    for (int64_t D : {7, 768}) check_ln_cuda(rows, D, true, true);
  check_ln_cuda(33, 384, false, true);
}

// More rows than one dweight chunk holds, so the second reduction stage adds several partials.
MVD_TEST(cuda_layernorm_backward_many_chunks) { check_ln_cuda(300, 40, true); }

#endif  // MVD_SIMT || MVD_HAVE_CUDA
