#include <algorithm>

#include "../ops/loss/loss.h"
#include "check.h"

using namespace mvd;
using namespace mvdtest;

namespace {

double elem_loss(LossKind k, double d, double beta) {
  double ad = std::fabs(d);
  if (k == LossKind::L2) return d * d;
  if (k == LossKind::L1) return ad;
  return ad < beta ? 0.5 * d * d / beta : ad - 0.5 * beta;
}

double elem_grad(LossKind k, double d, double beta) {
  if (k == LossKind::L2) return 2 * d;
  double sgn = d > 0 ? 1 : d < 0 ? -1 : 0;
  if (k == LossKind::L1) return sgn;
  return std::fabs(d) < beta ? d / beta : sgn;
}

const char* kind_name(LossKind k) { return k == LossKind::L2 ? "l2" : k == LossKind::L1 ? "l1" : "smoothl1"; }

}  // namespace

// Two pairs with different C, each kind, against float64 (loss means) and the exact gradient.
MVD_TEST(distill_loss_matches_float64) {
  const int64_t shapes[][2] = {{1 * 7, 7}, {2 * 33, 31}, {2 * 160, 384}, {2 * 1568, 768}};
  for (LossKind kind : {LossKind::SmoothL1, LossKind::L2, LossKind::L1})
    for (auto& s : shapes) {
      const int64_t n_img = s[0] * s[1], n_vid = s[0] * 3 * 5;  // the video pair has another C
      auto pi = randn(n_img, 1), ti = randn(n_img, 2), pv = randn(n_vid, 3), tv = randn(n_vid, 4);
      const double wi = 0.7, wv = 1.3, beta = 1.0;
      auto gi = poisoned(n_img), gv = poisoned(n_vid);
      LossPair pairs[2];
      pairs[0] = {pi.data(), ti.data(), gi.data(), n_img, wi};
      pairs[1] = {pv.data(), tv.data(), gv.data(), n_vid, wv};
      double means[2];
      distill_loss_cpu(pairs, 2, kind, (float)beta, means);
      double ref[2] = {0, 0};
      float naive[2] = {0, 0};
      std::vector<double> rgi(n_img), rgv(n_vid);
      for (int64_t i = 0; i < n_img; ++i) {
        double d = (double)pi[i] - ti[i];
        ref[0] += elem_loss(kind, d, beta);
        naive[0] += (float)elem_loss(kind, (float)(pi[i] - ti[i]), beta);
        rgi[i] = wi / n_img * elem_grad(kind, d, beta);
      }
      for (int64_t i = 0; i < n_vid; ++i) {
        double d = (double)pv[i] - tv[i];
        ref[1] += elem_loss(kind, d, beta);
        naive[1] += (float)elem_loss(kind, (float)(pv[i] - tv[i]), beta);
        rgv[i] = wv / n_vid * elem_grad(kind, d, beta);
      }
      std::string tag = std::string(kind_name(kind)) + " n=" + std::to_string(n_img);
      for (int k = 0; k < 2; ++k) {
        double r = ref[k] / (k ? n_vid : n_img), nv = (double)naive[k] / (k ? n_vid : n_img);
        double err = std::fabs(means[k] - r) / (1 + std::fabs(r)), nerr = std::fabs(nv - r) / (1 + std::fabs(r));
        if (!(err <= std::max(2 * nerr, 1e-9)))
          fail(tag + " mean " + std::to_string(k) + " err " + std::to_string(err));
      }
      // Gradients are one rounding of (weight/n)·g per element: relative to their scale.
      double scale_i = wi / n_img * 2 * 5, scale_v = wv / n_vid * 2 * 5;
      for (int64_t i = 0; i < n_img; ++i)
        if (!(std::fabs(gi[i] - rgi[i]) <= 1e-6 * scale_i)) fail(tag + " dPredImg[" + std::to_string(i) + "]");
      for (int64_t i = 0; i < n_vid; ++i)
        if (!(std::fabs(gv[i] - rgv[i]) <= 1e-6 * scale_v)) fail(tag + " dPredVid[" + std::to_string(i) + "]");
    }
}

// Central differences of the float64 total w.r.t. each pred element, against the kernel's gradient.
MVD_TEST(distill_loss_gradient_matches_finite_differences) {
  for (LossKind kind : {LossKind::SmoothL1, LossKind::L2, LossKind::L1})
    for (double beta : {1.0, 0.5}) {
      const int64_t ni = 2 * 3 * 4, nv = 2 * 3 * 5;
      auto pi = randn(ni, 11), ti = randn(ni, 12), pv = randn(nv, 13), tv = randn(nv, 14);
      auto gi = poisoned(ni), gv = poisoned(nv);
      const double wi = 0.6, wv = 1.4;
      LossPair pairs[2] = {{pi.data(), ti.data(), gi.data(), ni, wi}, {pv.data(), tv.data(), gv.data(), nv, wv}};
      double means[2];
      distill_loss_cpu(pairs, 2, kind, (float)beta, means);
      std::vector<double> pid(pi.begin(), pi.end()), pvd(pv.begin(), pv.end());
      auto total = [&]() {
        double a = 0, b = 0;
        for (int64_t i = 0; i < ni; ++i) a += elem_loss(kind, pid[i] - ti[i], beta);
        for (int64_t i = 0; i < nv; ++i) b += elem_loss(kind, pvd[i] - tv[i], beta);
        return wi * a / ni + wv * b / nv;
      };
      const double h = 1e-6;
      auto check = [&](std::vector<double>& p, const std::vector<float>& g, const char* which) {
        for (size_t i = 0; i < p.size(); ++i) {
          double keep = p[i];
          p[i] = keep + h;
          double lp = total();
          p[i] = keep - h;
          double lm = total();
          p[i] = keep;
          double fd = (lp - lm) / (2 * h);
          if (!(std::fabs(g[i] - fd) <= 1e-4 * (std::fabs(fd) + 1e-3)))
            fail(std::string(kind_name(kind)) + " " + which + "[" + std::to_string(i) + "] " + std::to_string(g[i]) +
                 " vs " + std::to_string(fd));
        }
      };
      check(pid, gi, "dPredImg");
      check(pvd, gv, "dPredVid");
    }
}

MVD_TEST(distill_loss_absent_pair_contributes_nothing) {
  const int64_t n = 5000;
  auto p = randn(n, 1), t = randn(n, 2), g = poisoned(n);
  LossPair pairs[2];
  pairs[1] = {p.data(), t.data(), g.data(), n, 2.0};
  double means[2] = {-1, -1};
  distill_loss_cpu(pairs, 2, LossKind::L2, 1.f, means);
  CHECK(means[0] == 0.0);
  double ref = 0;
  for (int64_t i = 0; i < n; ++i) ref += ((double)p[i] - t[i]) * ((double)p[i] - t[i]);
  CHECK(std::fabs(means[1] - ref / n) <= 1e-9 * ref / n);
  for (int64_t i = 0; i < n; ++i) CHECK(std::fabs(g[i] - 2.0 * 2 * ((double)p[i] - t[i]) / n) <= 1e-6 * 4.0 * 5 / n);
}
