// The multi-tensor optimiser kernels on CUDA against the CPU op and float64, under several
// schedules. Tensor lists mix empty, tiny and multi-chunk (> 4096 elements) tensors.
#if MVD_SIMT || MVD_HAVE_CUDA
#include <memory>

#include "../ops/optim/optim.h"
#include "cuda_harness.h"

using namespace mvd;
using namespace mvdtest;

namespace {

const int64_t kSizes[] = {7, 0, 1, 4096, 4097, 9000, 33};

struct DevList {
  std::vector<std::unique_ptr<Dev<float>>> bufs;
  std::vector<Span> spans;
  explicit DevList(const std::vector<std::vector<float>>& hs) {
    for (auto& h : hs) {
      bufs.emplace_back(new Dev<float>(h));
      spans.push_back(Span{bufs.back()->p, (int64_t)h.size()});
    }
  }
  std::vector<std::vector<float>> get() const {
    std::vector<std::vector<float>> r;
    for (auto& b : bufs) r.push_back(b->get());
    return r;
  }
};

std::vector<std::vector<float>> random_list(uint64_t seed, float scale = 1.f) {
  std::vector<std::vector<float>> l;
  for (int64_t n : kSizes) {
    l.push_back(randn(n, seed++));
    for (auto& v : l.back()) v *= scale;
  }
  return l;
}

std::vector<float> flat(const std::vector<std::vector<float>>& l) {
  std::vector<float> f;
  for (auto& v : l) f.insert(f.end(), v.begin(), v.end());
  return f;
}

}  // namespace

MVD_TEST(cuda_adamw_matches_cpu_and_float64) {
  for (int64_t step : {1, 10})
    for (float gs : {1.f, 0.5f}) {
      auto p = random_list(1), g = random_list(100), m = random_list(200, 0.1f), v = random_list(300);
      for (auto& t : v)
        for (auto& x : t) x = x * x * 0.01f;  // second moments are non-negative
      if (step == 1)
        for (auto* l : {&m, &v})
          for (auto& t : *l) std::fill(t.begin(), t.end(), 0.f);
      AdamWHyper h;
      h.step = step;
      h.grad_scale = gs;
      const size_t nt = p.size();
      auto cp = p, cm = m, cv = v;
      std::vector<AdamWTensor> cts(nt), dts(nt);
      for (size_t k = 0; k < nt; ++k)
        cts[k] =
            AdamWTensor{cp[k].data(),           g[k].data(),        cm[k].data(), cv[k].data(), (int64_t)p[k].size(),
                        1e-3f * (1 + (float)k), k % 2 ? 0.05f : 0.f};
      adamw_cpu(cts, h);
      // Float64 reference of the same update.
      std::vector<double> rp, rm, rv;
      for (size_t k = 0; k < nt; ++k)
        for (size_t i = 0; i < p[k].size(); ++i) {
          const double lr = cts[k].lr, wd = cts[k].weight_decay, gi = (double)g[k][i] * gs;
          const double mi = m[k][i] * h.beta1 + (1 - h.beta1) * gi, vi = v[k][i] * h.beta2 + (1 - h.beta2) * gi * gi;
          const double bc1 = 1 - std::pow(h.beta1, (double)step), bc2 = 1 - std::pow(h.beta2, (double)step);
          rp.push_back(p[k][i] * (1 - lr * wd) - lr / bc1 * mi / (std::sqrt(vi) / std::sqrt(bc2) + h.eps));
          rm.push_back(mi);
          rv.push_back(vi);
        }
      DevList dp(p), dg(g), dm(m), dv(v);
      for (size_t k = 0; k < nt; ++k)
        dts[k] = AdamWTensor{dp.spans[k].data,     dg.spans[k].data, dm.spans[k].data,   dv.spans[k].data,
                             (int64_t)p[k].size(), cts[k].lr,        cts[k].weight_decay};
      Dev<char> scratch(adamw_cuda_scratch_bytes(dts));
      const std::string tag = "adamw step=" + std::to_string(step) + " gs=" + std::to_string(gs);
      Bits got = under_schedules(tag, [&] {
        for (size_t k = 0; k < nt; ++k) {
          dp.bufs[k]->put(p[k]);
          dm.bufs[k]->put(m[k]);
          dv.bufs[k]->put(v[k]);
        }
        adamw_cuda(dts, h, scratch.p, nullptr);
        return Bits{{flat(dp.get()), flat(dm.get()), flat(dv.get())}};
      });
      // The CPU op is the plain float32 implementation of this update.
      check_vs(tag + " p", got.v[0], flat(cp), rp, flat(cp), 2, 1e-7);
      check_vs(tag + " m", got.v[1], flat(cm), rm, flat(cm), 2, 1e-7);
      check_vs(tag + " v", got.v[2], flat(cv), rv, flat(cv), 2, 1e-7);
    }
}

MVD_TEST(cuda_grad_norm_matches_cpu_and_float64) {
  for (float scale : {1.f, 1e-20f, 1e18f}) {  // tiny and huge: squares leave float range, not double's
    const auto l = random_list(7, scale);
    std::vector<Span> cs;
    auto hold = l;
    for (auto& t : hold) cs.push_back(Span{t.data(), (int64_t)t.size()});
    const double cpu = grad_norm_cpu(cs);
    double ref = 0;
    for (auto& t : l)
      for (float x : t) ref += (double)x * x;
    ref = std::sqrt(ref);
    DevList d(l);
    Dev<float> out(1);
    Dev<char> scratch(span_list_cuda_scratch_bytes(d.spans));
    double host = 0;
    Bits got = under_schedules("gradNorm", [&] {
      out.put(poisoned(1));
      grad_norm_cuda_to(d.spans, out.p, scratch.p, nullptr);
      host = grad_norm_cuda(d.spans, scratch.p, nullptr);
      std::vector<float> hb(2);
      std::memcpy(hb.data(), &host, 8);
      return Bits{{out.get(), hb}};
    });
    // Accumulated in double like the CPU op: far inside float resolution of the reference.
    const std::string tag = "gradNorm scale=" + std::to_string(scale);
    if (!(std::fabs(host - ref) <= 1e-12 * ref)) fail(tag + ": " + std::to_string(host) + " vs " + std::to_string(ref));
    if (!(std::fabs(host - cpu) <= 1e-12 * ref)) fail(tag + ": differs from the CPU op");
    CHECK(got.v[0][0] == (float)host);
  }
  // An empty list (or only empty tensors) has norm 0.
  DevList e(std::vector<std::vector<float>>{{}, {}});
  Dev<char> scratch(span_list_cuda_scratch_bytes(e.spans));
  CHECK(grad_norm_cuda(e.spans, scratch.p, nullptr) == 0.0);
  CHECK(grad_norm_cuda({}, scratch.p, nullptr) == 0.0);
}

MVD_TEST(cuda_all_finite_and_scale_tensors) {
  const auto l = random_list(11);
  for (int bad = 0; bad < 4; ++bad) {
    auto t = l;
    // 1: NaN in the middle of a multi-chunk tensor; 2: +inf at the very end; 3: -inf first.
    if (bad == 1) t[4][4096] = NAN;
    if (bad == 2) t.back().back() = INFINITY;
    if (bad == 3) t[0][0] = -INFINITY;
    DevList d(t);
    Dev<float> out(1);
    Dev<char> scratch(span_list_cuda_scratch_bytes(d.spans));
    bool host = false;
    Bits got = under_schedules("allFinite", [&] {
      out.put(poisoned(1));
      all_finite_cuda_to(d.spans, out.p, scratch.p, nullptr);
      host = all_finite_cuda(d.spans, scratch.p, nullptr);
      return Bits{{out.get(), {(float)host}}};
    });
    CHECK(host == (bad == 0));
    CHECK(got.v[0][0] == (bad == 0 ? 1.f : 0.f));
  }
  Dev<char> scratch(span_list_cuda_scratch_bytes({}));
  CHECK(all_finite_cuda({}, scratch.p, nullptr));

  auto cpu = l;
  std::vector<Span> cs;
  for (auto& t : cpu) cs.push_back(Span{t.data(), (int64_t)t.size()});
  scale_tensors_cpu(cs, -0.125f * 3);
  DevList d(l);
  Dev<char> sscratch(span_list_cuda_scratch_bytes(d.spans));
  Bits got = under_schedules("scaleTensors", [&] {
    for (size_t k = 0; k < l.size(); ++k) d.bufs[k]->put(l[k]);
    scale_tensors_cuda(d.spans, -0.125f * 3, sscratch.p, nullptr);
    return Bits{{flat(d.get())}};
  });
  CHECK(same_bits(got.v[0], flat(cpu)));  // one multiplication: the same bits
}

#endif  // MVD_SIMT || MVD_HAVE_CUDA
