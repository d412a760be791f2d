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
