#include "../ops/optim/optim.h"
#include "check.h"

using namespace mvd;
using namespace mvdtest;

// Several steps of torch.optim.AdamW's formula in float64 against the float kernel, across
// tensors that straddle the kernel's work blocks, with and without weight decay and grad scaling.
MVD_TEST(adamw_matches_float64_pytorch_formula) {
  const int64_t sizes[] = {1, 7, 8193, 20000, 384};
  const float lrs[] = {1e-3f, 6e-4f, 6e-4f, 1e-3f, 2e-3f};
  const float wds[] = {0.f, 0.05f, 0.f, 0.05f, 0.1f};
  const double b1 = 0.9, b2 = 0.95, eps = 1e-8;
  const float gscale = 0.5f;
  const size_t T = 5;
  std::vector<std::vector<float>> p(T), m(T), v(T);
  std::vector<std::vector<double>> pd(T), md(T), vd(T);
  for (size_t k = 0; k < T; ++k) {
    p[k] = randn(sizes[k], 100 + k);
    m[k].assign(sizes[k], 0.f);
    v[k].assign(sizes[k], 0.f);
    pd[k].assign(p[k].begin(), p[k].end());
    md[k].assign(sizes[k], 0.0);
    vd[k].assign(sizes[k], 0.0);
  }
  for (int64_t step = 1; step <= 6; ++step) {
    std::vector<std::vector<float>> g(T);
    std::vector<AdamWTensor> ts(T);
    for (size_t k = 0; k < T; ++k) {
      g[k] = randn(sizes[k], 1000 * step + k);
      ts[k] = {p[k].data(), g[k].data(), m[k].data(), v[k].data(), sizes[k], lrs[k], wds[k]};
    }
    AdamWHyper h;
    h.beta1 = b1;
    h.beta2 = b2;
    h.eps = eps;
    h.step = step;
    h.grad_scale = gscale;
    adamw_cpu(ts, h);
    const double bc1 = 1 - std::pow(b1, step), bc2 = 1 - std::pow(b2, step);
    for (size_t k = 0; k < T; ++k)
      for (int64_t i = 0; i < sizes[k]; ++i) {
        double gi = (double)g[k][i] * gscale;
        pd[k][i] *= 1 - (double)lrs[k] * wds[k];
        md[k][i] = b1 * md[k][i] + (1 - b1) * gi;
        vd[k][i] = b2 * vd[k][i] + (1 - b2) * gi * gi;
        pd[k][i] -= lrs[k] / bc1 * md[k][i] / (std::sqrt(vd[k][i]) / std::sqrt(bc2) + eps);
      }
    for (size_t k = 0; k < T; ++k) {
      // The update is O(lr); float keeps ~1e-7 of p and the moments, so the bound is relative to both.
      double ep = max_rel_err(p[k].data(), pd[k].data(), sizes[k]);
      double em = max_rel_err(m[k].data(), md[k].data(), sizes[k]);
      double ev = max_rel_err(v[k].data(), vd[k].data(), sizes[k]);
      if (!(ep <= 1e-6 && em <= 1e-6 && ev <= 1e-6))
        fail("step " + std::to_string(step) + " tensor " + std::to_string(k) + ": p " + std::to_string(ep) + " m " +
             std::to_string(em) + " v " + std::to_string(ev));
    }
  }
  // Weight decay acted: with identical grads, a decayed tensor moves further towards 0 than an undecayed one.
  std::vector<float> a(16, 1.f), b(16, 1.f), g(16, 0.f), ma(16, 0.f), va(16, 0.f), mb(16, 0.f), vb(16, 0.f);
  adamw_cpu({{a.data(), g.data(), ma.data(), va.data(), 16, 0.1f, 0.f},
             {b.data(), g.data(), mb.data(), vb.data(), 16, 0.1f, 0.5f}},
            AdamWHyper{});
  CHECK(a[0] == 1.f);
  CHECK(std::fabs(b[0] - 0.95f) < 1e-7f);
}

MVD_TEST(grad_norm_all_finite_scale_tensors) {
  std::vector<std::vector<float>> xs{randn(1, 1), randn(8192, 2), randn(30001, 3), randn(7, 4)};
  std::vector<Span> s;
  double ref = 0;
  float naive = 0;
  for (auto& x : xs) {
    s.push_back({x.data(), (int64_t)x.size()});
    for (float f : x) {
      ref += (double)f * f;
      naive += f * f;
    }
  }
  double n = grad_norm_cpu(s);
  CHECK(std::fabs(n - std::sqrt(ref)) <= 1e-12 * std::sqrt(ref));
  CHECK(all_finite_cpu(s));
  scale_tensors_cpu(s, 0.5f);
  CHECK(std::fabs(grad_norm_cpu(s) - 0.5 * std::sqrt(ref)) <= 1e-7 * std::sqrt(ref));
  for (float bad : {NAN, INFINITY, -INFINITY}) {
    float keep = xs[2][12345];
    xs[2][12345] = bad;
    CHECK(!all_finite_cpu(s));
    xs[2][12345] = keep;
  }
  CHECK(all_finite_cpu(s));
  CHECK(grad_norm_cpu({}) == 0.0);
  CHECK(all_finite_cpu({}));
}
