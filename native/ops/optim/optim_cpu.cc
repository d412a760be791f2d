#include "optim.h"

#include <omp.h>

#include <algorithm>
#include <cmath>

namespace mvd {

namespace {

// Work is cut into fixed blocks of the concatenated element range, so tiny tensors (biases,
// LayerNorm weights) and huge ones (qkv weights) balance across threads in one loop.
constexpr int64_t kBlock = 8192;

// Calls fn(tensor index, begin, end) for every piece of block `b` (a block may span tensors).
template <typename Fn>
inline void for_block(const std::vector<int64_t>& off, int64_t b, int64_t total, Fn&& fn) {
  int64_t lo = b * kBlock, hi = std::min(total, lo + kBlock);
  size_t k = (size_t)(std::upper_bound(off.begin(), off.end(), lo) - off.begin()) - 1;
  while (lo < hi) {
    int64_t end = std::min(hi, off[k + 1]);
    if (end > lo) fn(k, lo - off[k], end - off[k]);
    lo = end;
    ++k;
  }
}

template <typename T>
std::vector<int64_t> offsets(const std::vector<T>& ts) {
  std::vector<int64_t> off(ts.size() + 1, 0);
  for (size_t k = 0; k < ts.size(); ++k) off[k + 1] = off[k] + ts[k].n;
  return off;
}

inline int64_t nblocks(int64_t total) { return (total + kBlock - 1) / kBlock; }

}  // namespace

void adamw_cpu(const std::vector<AdamWTensor>& ts, const AdamWHyper& h) {
  if (ts.empty()) return;
  const std::vector<int64_t> off = offsets(ts);
  const int64_t total = off.back();
  const float b1 = (float)h.beta1, b2 = (float)h.beta2, eps = (float)h.eps, gs = h.grad_scale;
  // Bias corrections in double, then rounded once, as PyTorch computes them in Python floats.
  const double bc1 = 1.0 - std::pow(h.beta1, (double)h.step);
  const double bc2 = 1.0 - std::pow(h.beta2, (double)h.step);
  const float bc2_sqrt = (float)std::sqrt(bc2);
  const float one_m_b1 = (float)(1.0 - h.beta1), one_m_b2 = (float)(1.0 - h.beta2);
#pragma omp parallel for schedule(dynamic, 4) if (total > (1 << 15))
  for (int64_t b = 0; b < nblocks(total); ++b)
    for_block(off, b, total, [&](size_t k, int64_t lo, int64_t hi) {
      const AdamWTensor& t = ts[k];
      const float decay = (float)(1.0 - (double)t.lr * (double)t.weight_decay);
      const float step_size = (float)((double)t.lr / bc1);
      float* p = t.p;
      const float* g = t.g;
      float* m = t.m;
      float* v = t.v;
      // Same operation order as torch.optim.AdamW's single-tensor path: decay, moments,
      // denom = sqrt(v)/sqrt(bc2) + eps, p -= step_size·m/denom.
#pragma omp simd
      for (int64_t i = lo; i < hi; ++i) {
        float gi = g[i] * gs;
        float pi = p[i] * decay;
        float mi = m[i] * b1 + one_m_b1 * gi;
        float vi = v[i] * b2 + one_m_b2 * gi * gi;
        m[i] = mi;
        v[i] = vi;
        float denom = std::sqrt(vi) / bc2_sqrt + eps;
        p[i] = pi - step_size * (mi / denom);
      }
    });
}

double grad_norm_cpu(const std::vector<Span>& ts) {
  const std::vector<int64_t> off = offsets(ts);
  const int64_t total = off.back();
  double s = 0.0;
  // Blocks are fixed, so each block's partial is the same whichever thread runs it.
#pragma omp parallel for schedule(static) reduction(+ : s) if (total > (1 << 15))
  for (int64_t b = 0; b < nblocks(total); ++b) {
    double bs = 0.0;
    for_block(off, b, total, [&](size_t k, int64_t lo, int64_t hi) {
      const float* x = ts[k].data;
      double ps = 0.0;
#pragma omp simd reduction(+ : ps)
      for (int64_t i = lo; i < hi; ++i) ps += (double)x[i] * (double)x[i];
      bs += ps;
    });
    s += bs;
  }
  return std::sqrt(s);
}

bool all_finite_cpu(const std::vector<Span>& ts) {
  const std::vector<int64_t> off = offsets(ts);
  const int64_t total = off.back();
  int bad = 0;
#pragma omp parallel for schedule(static) reduction(| : bad) if (total > (1 << 15))
  for (int64_t b = 0; b < nblocks(total); ++b)
    for_block(off, b, total, [&](size_t k, int64_t lo, int64_t hi) {
      const float* x = ts[k].data;
      // x·0 is 0 for finite x and NaN for NaN/±inf; one NaN makes the sum NaN.
      float z = 0.f;
#pragma omp simd reduction(+ : z)
      for (int64_t i = lo; i < hi; ++i) z += x[i] * 0.f;
      bad |= !(z == 0.f);
    });
  return bad == 0;
}

void scale_tensors_cpu(const std::vector<Span>& ts, float s) {
  const std::vector<int64_t> off = offsets(ts);
  const int64_t total = off.back();
#pragma omp parallel for schedule(static) if (total > (1 << 15))
  for (int64_t b = 0; b < nblocks(total); ++b)
    for_block(off, b, total, [&](size_t k, int64_t lo, int64_t hi) {
      float* x = ts[k].data;
#pragma omp simd
      for (int64_t i = lo; i < hi; ++i) x[i] *= s;
    });
}

}  // namespace mvd
