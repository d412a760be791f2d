#include "loss.h"

#include <omp.h>

#include <cmath>
#include <vector>

namespace mvd {

namespace {

constexpr int kMaxPairs = 4;

// Sum of the per-element losses over one pair in double, writing the scaled gradient.
template <LossKind K>
double loss_pass(const LossPair& pr, int64_t lo, int64_t hi, float beta, float inv_beta, float gscale) {
  const float* p = pr.pred;
  const float* t = pr.target;
  float* g = pr.grad;
  double s = 0.0;
#pragma omp simd reduction(+ : s)
  for (int64_t i = lo; i < hi; ++i) {
    float d = p[i] - t[i];
    float l, gr;
    // Written as min/max and constant selects only: gcc vectorises those, not a select between
    // two computed values.
    if (K == LossKind::L2) {
      l = d * d;
      gr = 2.f * d;
    } else if (K == LossKind::L1) {
      l = std::fabs(d);
      gr = (d > 0.f ? 1.f : 0.f) - (d < 0.f ? 1.f : 0.f);
    } else {
      // Huber form: with c = min(|d|, beta), c·(|d| − c/2)/beta is 0.5·d²/beta inside and
      // |d| − beta/2 outside; the gradient is d clamped to ±beta, over beta.
      float ad = std::fabs(d);
      float c = ad < beta ? ad : beta;
      l = c * (ad - 0.5f * c) * inv_beta;
      float dc = d < beta ? d : beta;
      dc = dc > -beta ? dc : -beta;
      gr = dc * inv_beta;
    }
    g[i] = gr * gscale;
    s += (double)l;
  }
  return s;
}

template <LossKind K>
void run_pairs(const LossPair* pairs, int count, float beta, double* sums) {
  const float inv_beta = K == LossKind::SmoothL1 ? 1.f / beta : 0.f;
  int64_t total = 0;
  for (int k = 0; k < count; ++k) total += pairs[k].pred ? pairs[k].n : 0;
  const bool par = total > (1 << 15);
  const int nt = par ? omp_get_max_threads() : 1;
  // Both pairs share one parallel region: each thread takes the same static slice of every pair
  // with no barrier in between, and keeps its partial sums in its own slot; the slots are added
  // in thread order afterwards, so the loss is deterministic for a given thread count.
  std::vector<double> part((size_t)nt * count, 0.0);
#pragma omp parallel num_threads(nt) if (par)
  {
    const int tid = omp_get_thread_num(), nth = omp_get_num_threads();
    for (int k = 0; k < count; ++k) {
      const LossPair& pr = pairs[k];
      if (!pr.pred || pr.n == 0) continue;
      const float gscale = (float)(pr.weight / (double)pr.n);
      const int64_t lo = pr.n * tid / nth, hi = pr.n * (tid + 1) / nth;
      part[(size_t)tid * count + k] = loss_pass<K>(pr, lo, hi, beta, inv_beta, gscale);
    }
  }
  for (int t = 0; t < nt; ++t)
    for (int k = 0; k < count; ++k) sums[k] += part[(size_t)t * count + k];
}

}  // namespace

void distill_loss_cpu(const LossPair* pairs, int count, LossKind kind, float beta, double* mean_out) {
  double sums[kMaxPairs] = {0, 0, 0, 0};
  if (count > kMaxPairs) count = kMaxPairs;
  if (kind == LossKind::SmoothL1 && !(beta > 0.f)) kind = LossKind::L1;
  switch (kind) {
    case LossKind::SmoothL1:
      run_pairs<LossKind::SmoothL1>(pairs, count, beta, sums);
      break;
    case LossKind::L2:
      run_pairs<LossKind::L2>(pairs, count, beta, sums);
      break;
    case LossKind::L1:
      run_pairs<LossKind::L1>(pairs, count, beta, sums);
      break;
  }
  for (int k = 0; k < count; ++k) mean_out[k] = pairs[k].pred && pairs[k].n ? sums[k] / (double)pairs[k].n : 0.0;
}

}  // namespace mvd
