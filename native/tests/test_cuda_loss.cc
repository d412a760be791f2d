// The fused distillation loss on CUDA against the CPU op and float64, under several schedules.
#if MVD_SIMT || MVD_HAVE_CUDA
#include <memory>

#include "../ops/loss/loss.h"
#include "cuda_harness.h"

using namespace mvd;
using namespace mvdtest;

namespace {

// Per-element loss and gradient in double (before the weight/n scale).
void ref_elem(LossKind k, double d, double beta, double* l, double* g) {
  if (k == LossKind::L2) {
    *l = d * d;
    *g = 2 * d;
  } else if (k == LossKind::L1 || beta <= 0) {
    *l = std::fabs(d);
    *g = d > 0 ? 1 : d < 0 ? -1 : 0;
  } else {
    const double ad = std::fabs(d);
    *l = ad < beta ? 0.5 * d * d / beta : ad - 0.5 * beta;
    *g = ad < beta ? d / beta : (d > 0 ? 1 : -1);
  }
}

float naive_elem(LossKind k, float d, float beta) {
  if (k == LossKind::L2) return d * d;
  if (k == LossKind::L1 || beta <= 0) return std::fabs(d);
  const float ad = std::fabs(d);
  return ad < beta ? 0.5f * d * d / beta : ad - 0.5f * beta;
}

void check_loss(int64_t n_img, int64_t n_vid, LossKind kind, float beta, double w_img, double w_vid) {
  const int64_t ns[2] = {n_img, n_vid};
  const double ws[2] = {w_img, w_vid};
  std::vector<float> pred[2], targ[2], cgrad[2];
  std::vector<LossPair> cpu_pairs(2), dev_pairs(2);
  for (int k = 0; k < 2; ++k) {
    if (ns[k] < 0) continue;  // absent pair
    pred[k] = randn(ns[k], 50 + k + ns[k]);
    targ[k] = randn(ns[k], 60 + k + ns[k]);
    for (auto& v : targ[k]) v *= 1.5f;
    cgrad[k].resize(ns[k]);
    cpu_pairs[k] = LossPair{pred[k].data(), targ[k].data(), cgrad[k].data(), ns[k], ws[k]};
  }
  double cmean[2];
  distill_loss_cpu(cpu_pairs.data(), 2, kind, beta, cmean);

  std::unique_ptr<Dev<float>> dp[2], dt[2], dg[2];
  for (int k = 0; k < 2; ++k) {
    if (ns[k] < 0) continue;
    dp[k].reset(new Dev<float>(pred[k]));
    dt[k].reset(new Dev<float>(targ[k]));
    dg[k].reset(new Dev<float>(ns[k]));
    dev_pairs[k] = LossPair{dp[k]->p, dt[k]->p, dg[k]->p, ns[k], ws[k]};
  }
  Dev<double> mean(2);
  Dev<float> total(1), means(2);
  Dev<char> scratch(distill_loss_cuda_scratch_bytes(dev_pairs.data(), 2));
  const std::string tag = "n=" + std::to_string(n_img) + "," + std::to_string(n_vid) +
                          " kind=" + std::to_string((int)kind) + " beta=" + std::to_string(beta);
  std::vector<double> got_mean;
  Bits got = under_schedules(tag, [&] {
    for (int k = 0; k < 2; ++k)
      if (dg[k]) dg[k]->put(poisoned(ns[k]));
    mean.put({NAN, NAN});
    total.put(poisoned(1));
    means.put(poisoned(2));
    distill_loss_cuda(dev_pairs.data(), 2, kind, beta, mean.p, total.p, means.p, scratch.p, nullptr);
    got_mean = mean.get();
    Bits b{{total.get(), means.get(), {(float)got_mean[0], (float)got_mean[1]}}};
    for (int k = 0; k < 2; ++k) b.v.push_back(dg[k] ? dg[k]->get() : std::vector<float>());
    // The double means' own bits.
    std::vector<float> raw(4);
    std::memcpy(raw.data(), got_mean.data(), 16);
    b.v.push_back(raw);
    return b;
  });
  double rtotal = 0;
  float ntotal = 0;
  for (int k = 0; k < 2; ++k) {
    const std::string t = tag + " pair " + std::to_string(k);
    if (ns[k] <= 0) {
      CHECK(got_mean[k] == 0.0 && got.v[1][k] == 0.f);
      continue;
    }
    double s = 0;
    float ns_f = 0;
    std::vector<double> rg(ns[k]);
    std::vector<float> ng(ns[k]);
    for (int64_t i = 0; i < ns[k]; ++i) {
      double l, g;
      ref_elem(kind, (double)pred[k][i] - (double)targ[k][i], beta, &l, &g);
      s += l;
      rg[i] = g * ws[k] / (double)ns[k];
      const float fd = pred[k][i] - targ[k][i];
      ns_f += naive_elem(kind, fd, beta);
      ref_elem(kind, fd, beta, &l, &g);
      ng[i] = (float)g * (float)(ws[k] / (double)ns[k]);
    }
    const double rmean = s / ns[k];
    const float nmean = ns_f / (float)ns[k];
    rtotal += ws[k] * rmean;
    ntotal += (float)ws[k] * nmean;
    const double en = std::fabs(nmean - rmean) / (1 + std::fabs(rmean));
    expect_close(t + " mean vs float64", std::fabs(got_mean[k] - rmean) / (1 + std::fabs(rmean)), en, 2, 1e-7);
    expect_close(t + " mean vs cpu", std::fabs(got_mean[k] - cmean[k]) / (1 + std::fabs(cmean[k])), en, 4, 2e-7);
    CHECK(got.v[1][k] == (float)got_mean[k]);
    check_vs(t + " grad", got.v[3 + k], cgrad[k], rg, ng, 3, 1e-7);
  }
  const double en = std::fabs(ntotal - rtotal) / (1 + std::fabs(rtotal));
  expect_close(tag + " total", std::fabs(got.v[0][0] - rtotal) / (1 + std::fabs(rtotal)), en, 2, 1e-7);
}

}  // namespace

MVD_TEST(cuda_distill_loss_matches_cpu_and_float64) {
  for (LossKind kind : {LossKind::SmoothL1, LossKind::L2, LossKind::L1}) {
    check_loss(1, 33, kind, 1.f, 1.0, 1.0);
    check_loss(3001, 5000, kind, 1.f, 0.5, 2.0);  // several blocks per pair
    check_loss(-1, 129, kind, 1.f, 1.0, 1.0);     // image teacher absent
    check_loss(768, -1, kind, 1.f, 1.0, 1.0);     // video teacher absent
  }
  check_loss(1000, 999, LossKind::SmoothL1, 0.5f, 1.0, 1.0);
  check_loss(257, 31, LossKind::SmoothL1, 0.f, 1.0, 1.0);  // beta 0 is L1
  check_loss(0, 64, LossKind::L2, 1.f, 1.0, 1.0);          // empty pair: mean 0
}

// mseLoss runs the same launcher over a single pair.
MVD_TEST(cuda_mse_loss_single_pair) {
  const int64_t n = 2000;
  const std::vector<float> p = randn(n, 3), t = randn(n, 4);
  std::vector<float> cg(n);
  LossPair cp{p.data(), t.data(), cg.data(), n, 1.0};
  double cm;
  distill_loss_cpu(&cp, 1, LossKind::L2, 1.f, &cm);
  Dev<float> dp(p), dt(t), dg(n), total(1);
  LossPair pair{dp.p, dt.p, dg.p, n, 1.0};
  Dev<char> scratch(distill_loss_cuda_scratch_bytes(&pair, 1));
  Bits got = under_schedules("mse", [&] {
    dg.put(poisoned(n));
    total.put(poisoned(1));
    distill_loss_cuda(&pair, 1, LossKind::L2, 1.f, nullptr, total.p, nullptr, scratch.p, nullptr);
    return Bits{{total.get(), dg.get()}};
  });
  CHECK(std::fabs(got.v[0][0] - cm) <= 1e-6 * (1 + cm));
  for (int64_t i = 0; i < n; ++i) CHECK(std::fabs(got.v[1][i] - cg[i]) <= 1e-7f * (1 + std::fabs(cg[i])));
}

#endif  // MVD_SIMT || MVD_HAVE_CUDA
