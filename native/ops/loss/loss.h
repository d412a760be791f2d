// Distillation losses (SPEC §3.6): per pred/target pair the mean over every element (PyTorch
// reduction='mean'), and the gradient of the weighted total written in the same pass.
#pragma once
#include <cstdint>

namespace mvd {

enum class LossKind { SmoothL1, L2, L1 };

struct LossPair {
  const float* pred = nullptr;  // null: the pair is absent and contributes nothing
  const float* target = nullptr;
  float* grad = nullptr;  // d total / d pred, same size as pred
  int64_t n = 0;
  double weight = 1.0;  // its weight in the total
};

// Fills mean_out[k] with pair k's unweighted mean loss (0 for an absent or empty pair).
// One parallel region covers all pairs. beta is SmoothL1's threshold (beta <= 0 means L1, as in PyTorch).
void distill_loss_cpu(const LossPair* pairs, int count, LossKind kind, float beta, double* mean_out);

}  // namespace mvd

#if MVD_HAVE_CUDA || MVD_SIMT
#include <cstddef>

#include "../../cuda/stream.h"

namespace mvd {

// The same op on the device: `pairs` is a host array whose pointers are device pointers. Results
// go to device memory, each output optional (null): mean_out[k] = pair k's mean (double),
// total_out[0] = (float)Σ_k weight_k·mean_k, means_out[k] = (float)mean_k. The sums are block
// partials over a fixed partition of each pair, then one block adding them in order, so the loss is
// the same bits on every run. `scratch`: device memory of at least distill_loss_cuda_scratch_bytes.
size_t distill_loss_cuda_scratch_bytes(const LossPair* pairs, int count);
void distill_loss_cuda(const LossPair* pairs, int count, LossKind kind, float beta, double* mean_out, float* total_out,
                       float* means_out, void* scratch, cudaStream_t stream);

}  // namespace mvd
#endif
