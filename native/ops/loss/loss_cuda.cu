// Distillation losses on CUDA: one launch covers every pair (grid y = pair), each block writes the
// gradient of its elements and one double partial of the loss sum; a single block then adds the
// partials in block order. No float atomics, so the loss does not depend on block timing.
#include "simt/simt.h"

#include "loss.h"

namespace mvd {

namespace {

constexpr int kMaxPairs = 4;
constexpr int kThreads = 256;
constexpr int64_t kPerThread = 8;     // elements per thread before a pair gets another block
constexpr int64_t kMaxBlocks = 1024;  // per pair; more blocks grid-stride

struct PairTable {
  LossPair p[kMaxPairs];
  int64_t blocks[kMaxPairs];  // blocks of pair k (0 when absent)
  float gscale[kMaxPairs];    // weight / n, rounded once on the host as the CPU op does
};

// Tree over shared memory in a fixed shape: the sum's bits depend only on the inputs.
__device__ double block_sum(double v, double* red) {
  const int t = threadIdx.x;
  red[t] = v;
  __syncthreads();
  for (int s = kThreads / 2; s > 0; s >>= 1) {
    if (t < s) red[t] += red[t + s];
    __syncthreads();
  }
  const double r = red[0];
  __syncthreads();  // red is reused by the next call
  return r;
}

template <LossKind K>
__global__ void loss_partial_kernel(PairTable tab, float beta, float inv_beta, double* part, int64_t max_blocks) {
  MVD_SHARED(double, red, kThreads);
  const int k = blockIdx.y;
  const LossPair& pr = tab.p[k];
  const int64_t nb = tab.blocks[k];
  if ((int64_t)blockIdx.x >= nb) return;  // the whole block leaves, before any barrier
  const float* p = pr.pred;
  const float* t = pr.target;
  float* g = pr.grad;
  const float gscale = tab.gscale[k];
  double s = 0.0;
  for (int64_t i = (int64_t)blockIdx.x * kThreads + threadIdx.x; i < pr.n; i += nb * kThreads) {
    const float d = p[i] - t[i];
    float l, gr;
    // The CPU op's formulas (loss_cpu.cc), so both devices agree to rounding.
    if (K == LossKind::L2) {
      l = d * d;
      gr = 2.f * d;
    } else if (K == LossKind::L1) {
      l = fabsf(d);
      gr = (d > 0.f ? 1.f : 0.f) - (d < 0.f ? 1.f : 0.f);
    } else {
      const float ad = fabsf(d);
      const float c = ad < beta ? ad : beta;
      l = c * (ad - 0.5f * c) * inv_beta;
      float dc = d < beta ? d : beta;
      dc = dc > -beta ? dc : -beta;
      gr = dc * inv_beta;
    }
    g[i] = gr * gscale;
    s += (double)l;
  }
  s = block_sum(s, red);
  if (threadIdx.x == 0) part[k * max_blocks + blockIdx.x] = s;
}

__global__ void loss_final_kernel(PairTable tab, int count, const double* part, int64_t max_blocks, double* mean_out,
                                  float* total_out, float* means_out) {
  MVD_SHARED(double, red, kThreads);
  double total = 0.0;
  for (int k = 0; k < count; ++k) {
    double s = 0.0;
    for (int64_t b = threadIdx.x; b < tab.blocks[k]; b += kThreads) s += part[k * max_blocks + b];
    s = block_sum(s, red);
    const LossPair& pr = tab.p[k];
    const double mean = pr.pred && pr.n ? s / (double)pr.n : 0.0;
    total += pr.weight * mean;
    if (threadIdx.x == 0) {
      if (mean_out) mean_out[k] = mean;
      if (means_out) means_out[k] = (float)mean;
    }
  }
  if (threadIdx.x == 0 && total_out) total_out[0] = (float)total;
}

PairTable make_table(const LossPair* pairs, int count, int64_t* max_blocks) {
  PairTable tab{};
  *max_blocks = 0;
  for (int k = 0; k < count; ++k) {
    tab.p[k] = pairs[k];
    const int64_t n = pairs[k].pred ? pairs[k].n : 0;
    int64_t nb = (n + kThreads * kPerThread - 1) / (kThreads * kPerThread);
    tab.blocks[k] = nb < kMaxBlocks ? nb : kMaxBlocks;
    tab.gscale[k] = n ? (float)(pairs[k].weight / (double)n) : 0.f;
    if (tab.blocks[k] > *max_blocks) *max_blocks = tab.blocks[k];
  }
  return tab;
}

}  // namespace

size_t distill_loss_cuda_scratch_bytes(const LossPair* pairs, int count) {
  if (count > kMaxPairs) count = kMaxPairs;
  int64_t max_blocks;
  make_table(pairs, count, &max_blocks);
  return (size_t)(count * max_blocks) * sizeof(double);
}

void distill_loss_cuda(const LossPair* pairs, int count, LossKind kind, float beta, double* mean_out, float* total_out,
                       float* means_out, void* scratch, cudaStream_t stream) {
  if (count > kMaxPairs) count = kMaxPairs;
  if (count <= 0) return;
  if (kind == LossKind::SmoothL1 && !(beta > 0.f)) kind = LossKind::L1;
  const float inv_beta = kind == LossKind::SmoothL1 ? 1.f / beta : 0.f;
  int64_t max_blocks;
  const PairTable tab = make_table(pairs, count, &max_blocks);
  double* part = static_cast<double*>(scratch);
  if (max_blocks > 0) {
    const dim3 grid((unsigned)max_blocks, (unsigned)count);
    switch (kind) {
      case LossKind::SmoothL1:
        mvd_launch(loss_partial_kernel<LossKind::SmoothL1>, grid, dim3(kThreads), 0, stream, tab, beta, inv_beta, part,
                   max_blocks);
        break;
      case LossKind::L2:
        mvd_launch(loss_partial_kernel<LossKind::L2>, grid, dim3(kThreads), 0, stream, tab, beta, inv_beta, part,
                   max_blocks);
        break;
      case LossKind::L1:
        mvd_launch(loss_partial_kernel<LossKind::L1>, grid, dim3(kThreads), 0, stream, tab, beta, inv_beta, part,
                   max_blocks);
        break;
    }
    MVD_CUDA_CHECK_LAUNCH("distillLoss");
  }
  mvd_launch(loss_final_kernel, dim3(1), dim3(kThreads), 0, stream, tab, count, (const double*)part, max_blocks,
             mean_out, total_out, means_out);
  MVD_CUDA_CHECK_LAUNCH("distillLoss");
}

}  // namespace mvd
