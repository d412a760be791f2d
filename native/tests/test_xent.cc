// Cross-entropy, softmax and top-k counts against float64 references.
#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "../core/errors.h"
#include "../ops/xent/xent.h"
#include "check.h"

using namespace mvd;
using namespace mvdtest;

namespace {

// Loss of one row and its gradient (not yet divided by B), in float64, straight from the definition
// −Σ t_c log p_c with p = softmax(x).
double ref_row(const float* x, const std::vector<double>& t, int64_t C, double* g) {
  double m = x[0];
  for (int64_t c = 1; c < C; ++c) m = std::max(m, (double)x[c]);
  double sum = 0;
  for (int64_t c = 0; c < C; ++c) sum += std::exp(x[c] - m);
  double loss = 0, tsum = 0;
  for (int64_t c = 0; c < C; ++c) {
    const double logp = x[c] - m - std::log(sum);
    loss -= t[c] * logp;
    tsum += t[c];
  }
  for (int64_t c = 0; c < C; ++c) g[c] = std::exp(x[c] - m) / sum * tsum - t[c];
  return loss;
}

std::vector<double> targets_for(const int32_t* labels, const float* soft, int64_t i, int64_t C, double eps) {
  std::vector<double> t((size_t)C);
  for (int64_t c = 0; c < C; ++c)
    t[c] = labels ? (c == labels[i] ? 1.0 - eps : 0.0) + eps / C : (double)soft[i * C + c];
  return t;
}

void check_xent(int64_t B, int64_t C, bool hard, double eps, float offset, uint64_t seed) {
  std::vector<float> x = randn((size_t)(B * C), seed);
  for (auto& v : x) v = v * 3.f + offset;  // offset: huge logits must not overflow exp
  std::vector<int32_t> labels((size_t)B);
  for (int64_t i = 0; i < B; ++i) labels[i] = (int32_t)((i * 7919 + seed) % C);
  std::vector<float> soft((size_t)(B * C));
  std::vector<float> r = randn((size_t)(B * C), seed + 1);
  for (int64_t i = 0; i < B; ++i) {
    double s = 0;
    for (int64_t c = 0; c < C; ++c) s += soft[i * C + c] = std::exp(r[i * C + c]);
    for (int64_t c = 0; c < C; ++c) soft[i * C + c] = (float)(soft[i * C + c] / s);
  }
  std::vector<float> loss = poisoned(1), g = poisoned((size_t)(B * C));
  cross_entropy_cpu(x.data(), hard ? labels.data() : nullptr, hard ? nullptr : soft.data(), B, C, (float)eps,
                    loss.data(), g.data());
  double ref_loss = 0;
  std::vector<double> ref_g((size_t)(B * C));
  for (int64_t i = 0; i < B; ++i) {
    auto t = targets_for(hard ? labels.data() : nullptr, soft.data(), i, C, eps);
    ref_loss += ref_row(x.data() + i * C, t, C, ref_g.data() + i * C);
  }
  ref_loss /= B;
  for (auto& v : ref_g) v /= B;
  const double el = max_rel_err(loss.data(), &ref_loss, 1), eg = max_rel_err(g.data(), ref_g.data(), ref_g.size());
  if (!(el < 1e-6 && eg < 1e-6))
    fail("B=" + std::to_string(B) + " C=" + std::to_string(C) + " hard=" + std::to_string(hard) +
         " eps=" + std::to_string(eps) + " offset=" + std::to_string(offset) + ": loss err " + std::to_string(el) +
         ", grad err " + std::to_string(eg));
}

}  // namespace

MVD_TEST(xent_matches_float64) {
  uint64_t seed = 1;
  for (int64_t B : {1, 3, 64})
    for (int64_t C : {1, 2, 174, 400, 1000}) {
      check_xent(B, C, true, 0.0, 0.f, seed++);
      check_xent(B, C, true, 0.1, 0.f, seed++);
      check_xent(B, C, false, 0.0, 0.f, seed++);
    }
  // Logits far from zero: max subtraction keeps exp in range.
  check_xent(5, 33, true, 0.1, 1e4f, 100);
  check_xent(5, 33, false, 0.0, -1e4f, 101);
}

MVD_TEST(xent_reference_gradient_matches_finite_differences) {
  // The float64 reference gradient against central differences of the float64 reference loss.
  const int64_t C = 7;
  std::vector<float> xf = randn(C, 5);
  for (double eps : {0.0, 0.2}) {
    int32_t label = 3;
    auto t = targets_for(&label, nullptr, 0, C, eps);
    std::vector<double> g(C), scratch(C);
    ref_row(xf.data(), t, C, g.data());
    for (int64_t c = 0; c < C; ++c) {
      // ref_row takes floats; perturb in double through the closed form instead.
      auto loss_at = [&](double dx) {
        std::vector<double> x(xf.begin(), xf.end());
        x[c] += dx;
        double m = *std::max_element(x.begin(), x.end()), s = 0, l = 0;
        for (double v : x) s += std::exp(v - m);
        for (int64_t k = 0; k < C; ++k) l -= t[k] * (x[k] - m - std::log(s));
        return l;
      };
      const double h = 1e-6, fd = (loss_at(h) - loss_at(-h)) / (2 * h);
      CHECK(std::fabs(fd - g[c]) < 1e-8);
    }
  }
}

MVD_TEST(xent_softmax_rows) {
  const int64_t B = 9, C = 301;
  std::vector<float> x = randn((size_t)(B * C), 7), out = poisoned((size_t)(B * C));
  x[5] = 80.f;  // a large logit that would overflow a naive exp-sum in float
  softmax_cpu(x.data(), B, C, out.data());
  std::vector<double> ref((size_t)(B * C));
  for (int64_t i = 0; i < B; ++i) {
    double m = -INFINITY, s = 0;
    for (int64_t c = 0; c < C; ++c) m = std::max(m, (double)x[i * C + c]);
    for (int64_t c = 0; c < C; ++c) s += std::exp(x[i * C + c] - m);
    for (int64_t c = 0; c < C; ++c) ref[i * C + c] = std::exp(x[i * C + c] - m) / s;
  }
  CHECK(max_rel_err(out.data(), ref.data(), ref.size()) < 1e-7);
}

MVD_TEST(xent_topk_counts_ties_for_the_label) {
  // Row 0: label 2 is the max. Row 1: label 0 has two strictly greater. Row 2: a three-way tie at
  // the top including the label counts as top-1. Row 3: label last of 4.
  const std::vector<float> x = {0, 1, 5, 2, 3, 4, 5, 1, 7, 7, 7, 0, 4, 3, 2, 1};
  const std::vector<int32_t> y = {2, 0, 1, 3};
  const int64_t ks[] = {1, 2, 3, 4, 5};
  std::vector<float> out = poisoned(5);
  topk_correct_cpu(x.data(), y.data(), 4, 4, ks, 5, out.data());
  CHECK(out[0] == 2 && out[1] == 2 && out[2] == 3 && out[3] == 4 && out[4] == 4);
  // Brute force on random rows: rank = number strictly greater.
  const int64_t B = 50, C = 20;
  std::vector<float> r = randn((size_t)(B * C), 9);
  for (auto& v : r) v = std::round(v * 2);  // many ties
  std::vector<int32_t> lab((size_t)B);
  for (int64_t i = 0; i < B; ++i) lab[i] = (int32_t)(i % C);
  std::vector<float> o = poisoned(5);
  topk_correct_cpu(r.data(), lab.data(), B, C, ks, 5, o.data());
  for (int j = 0; j < 5; ++j) {
    int hits = 0;
    for (int64_t i = 0; i < B; ++i) {
      int greater = 0;
      for (int64_t c = 0; c < C; ++c) greater += r[i * C + c] > r[i * C + lab[i]];
      hits += greater < ks[j];
    }
    CHECK(o[j] == (float)hits);
  }
}

MVD_TEST(xent_labels_out_of_range_throw) {
  const std::vector<float> x(6, 0.f);
  std::vector<float> loss(1), g(6), o(1);
  const int64_t k = 1;
  for (int32_t bad : {-1, 3}) {
    const std::vector<int32_t> y = {0, bad};
    bool threw = false;
    try {
      cross_entropy_cpu(x.data(), y.data(), nullptr, 2, 3, 0.f, loss.data(), g.data());
    } catch (const OpError& e) { threw = e.kind == ErrorKind::Value; }
    CHECK(threw);
    threw = false;
    try {
      topk_correct_cpu(x.data(), y.data(), 2, 3, &k, 1, o.data());
    } catch (const OpError& e) { threw = e.kind == ErrorKind::Value; }
    CHECK(threw);
  }
}
