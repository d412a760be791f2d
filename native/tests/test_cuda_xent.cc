// Cross-entropy, softmax and top-k counts on CUDA against the CPU op and float64, under several
// schedules; an out-of-range label throws the CPU op's error.
#if MVD_SIMT || MVD_HAVE_CUDA
#include "../core/errors.h"
#include "../ops/xent/xent.h"
#include "cuda_harness.h"

using namespace mvd;
using namespace mvdtest;

namespace {

struct XentCase {
  std::vector<float> x, soft;
  std::vector<int32_t> labels;
};

XentCase make_case(int64_t B, int64_t C, float offset, uint64_t seed) {
  XentCase c;
  c.x = randn(B * C, seed);
  for (auto& v : c.x) v = v * 3.f + offset;
  c.labels.resize(B);
  for (int64_t i = 0; i < B; ++i) c.labels[i] = (int32_t)((i * 7919 + seed) % C);
  const std::vector<float> r = randn(B * C, seed + 1);
  c.soft.resize(B * C);
  for (int64_t i = 0; i < B; ++i) {
    double s = 0;
    for (int64_t j = 0; j < C; ++j) s += c.soft[i * C + j] = std::exp(r[i * C + j]);
    for (int64_t j = 0; j < C; ++j) c.soft[i * C + j] = (float)(c.soft[i * C + j] / s);
  }
  return c;
}

// Float64 loss and gradient from the definition; the float32 version of the same is the baseline.
template <typename T>
T xent_plain(const XentCase& c, bool hard, T eps, int64_t B, int64_t C, std::vector<T>& g) {
  g.assign(B * C, T(0));
  T total = 0;
  for (int64_t i = 0; i < B; ++i) {
    const float* x = c.x.data() + i * C;
    T m = x[0];
    for (int64_t j = 1; j < C; ++j) m = std::max(m, (T)x[j]);
    T sum = 0;
    for (int64_t j = 0; j < C; ++j) sum += std::exp((T)x[j] - m);
    T tsum = 0, l = 0;
    for (int64_t j = 0; j < C; ++j) {
      const T t = hard ? (j == c.labels[i] ? T(1) - eps : T(0)) + eps / (T)C : (T)c.soft[i * C + j];
      l -= t * ((T)x[j] - m - std::log(sum));
      tsum += t;
    }
    for (int64_t j = 0; j < C; ++j) {
      const T t = hard ? (j == c.labels[i] ? T(1) - eps : T(0)) + eps / (T)C : (T)c.soft[i * C + j];
      g[i * C + j] = (std::exp((T)x[j] - m) / sum * tsum - t) / (T)B;
    }
    total += l;
  }
  return total / (T)B;
}

void check_xent_cuda(int64_t B, int64_t C, bool hard, float eps, float offset, uint64_t seed) {
  const XentCase c = make_case(B, C, offset, seed);
  std::vector<float> closs(1), cg(B * C);
  cross_entropy_cpu(c.x.data(), hard ? c.labels.data() : nullptr, hard ? nullptr : c.soft.data(), B, C, eps,
                    closs.data(), cg.data());
  Dev<float> dx(c.x), dsoft(c.soft), loss(1), g(B * C);
  Dev<int32_t> dl(c.labels);
  Dev<char> scratch(cross_entropy_cuda_scratch_bytes(B));
  const std::string tag = "B=" + std::to_string(B) + " C=" + std::to_string(C) + (hard ? " hard" : " soft") +
                          " eps=" + std::to_string(eps) + " offset=" + std::to_string(offset);
  Bits got = under_schedules(tag, [&] {
    loss.put(poisoned(1));
    g.put(poisoned(B * C));
    cross_entropy_cuda(dx.p, hard ? dl.p : nullptr, hard ? nullptr : dsoft.p, B, C, eps, loss.p, g.p, scratch.p,
                       nullptr);
    return Bits{{loss.get(), g.get()}};
  });
  std::vector<double> rg;
  std::vector<float> ng;
  const double rl = xent_plain<double>(c, hard, eps, B, C, rg);
  const float nl = xent_plain<float>(c, hard, eps, B, C, ng);
  check_vs(tag + " loss", got.v[0], closs, {rl}, {nl}, 2, 1e-6);
  check_vs(tag + " grad", got.v[1], cg, rg, ng, 3, 1e-7);
}

}  // namespace

MVD_TEST(cuda_xent_matches_cpu_and_float64) {
  uint64_t seed = 1;
  for (int64_t B : {1, 3, 33})
    for (int64_t C : {1, 2, 31, 174, 400}) {
      check_xent_cuda(B, C, true, 0.f, 0.f, seed++);
      check_xent_cuda(B, C, true, 0.1f, 0.f, seed++);
      check_xent_cuda(B, C, false, 0.f, 0.f, seed++);
    }
  // Logits far from zero: the lse is formed in double, so the loss keeps its digits.
  check_xent_cuda(5, 33, true, 0.1f, 1e4f, 100);
  check_xent_cuda(5, 33, false, 0.f, -1e4f, 101);
}

MVD_TEST(cuda_softmax_rows) {
  for (int64_t B : {1, 9})
    for (int64_t C : {1, 33, 301}) {
      std::vector<float> x = randn(B * C, 7 + C);
      x[0] = 80.f;  // overflows a float exp-sum without the max subtraction
      std::vector<float> cpu(B * C), naive(B * C);
      std::vector<double> ref(B * C);
      softmax_cpu(x.data(), B, C, cpu.data());
      for (int64_t i = 0; i < B; ++i) {
        double m = -INFINITY, s = 0;
        float fm = -INFINITY, fs = 0;
        for (int64_t j = 0; j < C; ++j) m = std::max(m, (double)x[i * C + j]), fm = std::max(fm, x[i * C + j]);
        for (int64_t j = 0; j < C; ++j) s += std::exp(x[i * C + j] - m), fs += std::exp(x[i * C + j] - fm);
        for (int64_t j = 0; j < C; ++j) {
          ref[i * C + j] = std::exp(x[i * C + j] - m) / s;
          naive[i * C + j] = std::exp(x[i * C + j] - fm) / fs;
        }
      }
      Dev<float> dx(x), out(B * C);
      const std::string tag = "softmax B=" + std::to_string(B) + " C=" + std::to_string(C);
      Bits got = under_schedules(tag, [&] {
        out.put(poisoned(B * C));
        softmax_cuda(dx.p, B, C, out.p, nullptr);
        return Bits{{out.get()}};
      });
      check_vs(tag, got.v[0], cpu, ref, naive, 2, 1e-7);
    }
}

MVD_TEST(cuda_topk_counts_match_cpu) {
  const int64_t ks[] = {1, 2, 3, 5, 40};
  for (int64_t B : {1, 33, 50})
    for (int64_t C : {4, 20, 35}) {
      std::vector<float> x = randn(B * C, 9 + B + C);
      for (auto& v : x) v = std::round(v * 2);  // many ties
      std::vector<int32_t> lab(B);
      for (int64_t i = 0; i < B; ++i) lab[i] = (int32_t)(i % C);
      std::vector<float> cpu(5);
      topk_correct_cpu(x.data(), lab.data(), B, C, ks, 5, cpu.data());
      Dev<float> dx(x), out(5);
      Dev<int32_t> dl(lab);
      Dev<char> scratch(topk_correct_cuda_scratch_bytes(B, 5));
      Bits got = under_schedules("topk", [&] {
        out.put(poisoned(5));
        topk_correct_cuda(dx.p, dl.p, B, C, ks, 5, out.p, scratch.p, nullptr);
        return Bits{{out.get()}};
      });
      if (!same_bits(got.v[0], cpu)) fail("topk B=" + std::to_string(B) + " C=" + std::to_string(C) + " differs");
    }
}

MVD_TEST(cuda_xent_labels_out_of_range_throw) {
  const std::vector<float> x(6, 0.f);
  const int64_t k = 1;
  Dev<float> dx(x), loss(1), g(6), o(1);
  Dev<char> scratch(cross_entropy_cuda_scratch_bytes(2) + topk_correct_cuda_scratch_bytes(2, 1));
  for (int32_t bad : {-1, 3}) {
    Dev<int32_t> y(std::vector<int32_t>{0, bad});
    g.put(poisoned(6));
    bool threw = false;
    try {
      cross_entropy_cuda(dx.p, y.p, nullptr, 2, 3, 0.f, loss.p, g.p, scratch.p, nullptr);
    } catch (const OpError& e) {
      threw = e.kind == ErrorKind::Value && std::string(e.what()).find("row 1") != std::string::npos;
    }
    CHECK(threw);
    CHECK(std::isnan(g.get()[0]));  // checked before anything is written, as on the CPU
    threw = false;
    try {
      topk_correct_cuda(dx.p, y.p, 2, 3, &k, 1, o.p, scratch.p, nullptr);
    } catch (const OpError& e) { threw = e.kind == ErrorKind::Value; }
    CHECK(threw);
  }
}

#endif  // MVD_SIMT || MVD_HAVE_CUDA
