// Classification heads' losses and metrics over logits [B, C] (row-major f32).
#pragma once
#include <cstdint>

namespace mvd {

// Mean over rows of −Σ_c t_c · log softmax(x)_c, written to loss[0], and its gradient
// dlogits = (softmax(x)·Σ_c t_c − t) / B. Targets are either hard labels (labels != null, with
// label smoothing eps: t = (1−eps)·onehot + eps/C) or a soft target matrix (soft != null, [B, C]).
// Labels outside [0, C) throw OpError (Value).
void cross_entropy_cpu(const float* logits, const int32_t* labels, const float* soft, int64_t B, int64_t C, float eps,
                       float* loss, float* dlogits);

// Row-wise softmax, max-subtracted.
void softmax_cpu(const float* logits, int64_t B, int64_t C, float* out);

// out[i] = number of rows whose label has fewer than ks[i] logits strictly greater than its own.
// Labels outside [0, C) throw OpError (Value).
void topk_correct_cpu(const float* logits, const int32_t* labels, int64_t B, int64_t C, const int64_t* ks, int64_t nk,
                      float* out);

}  // namespace mvd

#if MVD_HAVE_CUDA || MVD_SIMT
#include <cstddef>

#include "../../cuda/stream.h"

namespace mvd {

// The same ops over device pointers (ks stays a host array), enqueued on `stream`. Labels are
// checked on the device first and the launcher waits for that check, so a label outside [0, C)
// throws the CPU op's OpError (Value) before anything is written. The mean over rows and the hit
// counts are per-row values added by one block in row order: the same bits on every run.
// `scratch`: device memory of at least the matching *_scratch_bytes.
size_t cross_entropy_cuda_scratch_bytes(int64_t B);
void cross_entropy_cuda(const float* logits, const int32_t* labels, const float* soft, int64_t B, int64_t C, float eps,
                        float* loss, float* dlogits, void* scratch, cudaStream_t stream);
void softmax_cuda(const float* logits, int64_t B, int64_t C, float* out, cudaStream_t stream);
size_t topk_correct_cuda_scratch_bytes(int64_t B, int64_t nk);
void topk_correct_cuda(const float* logits, const int32_t* labels, int64_t B, int64_t C, const int64_t* ks, int64_t nk,
                       float* out, void* scratch, cudaStream_t stream);

}  // namespace mvd
#endif
