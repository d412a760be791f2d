// Multi-head self-attention straight from the fused qkv projection (SPEC §1.2), FlashAttention-2
// style: scores live only in per-thread tiles, the forward keeps the log-sum-exp of each score row,
// and the backward recomputes the probabilities block by block from q, k and that lse.
//
// Layouts (row-major, f32):
//   qkv  [B, N, 3·D], D = heads·hd; per token [q | k | v], head h owns channels [h·hd, (h+1)·hd) of each
//   out  [B, N, D]    head h in channels [h·hd, (h+1)·hd)
//   lse  [B, heads, N]
//   dqkv [B, N, 3·D]  same layout as qkv
#pragma once
#include <cstdint>

#include "../../core/isa.h"
#if MVD_HAVE_CUDA || MVD_SIMT
#include "../../cuda/stream.h"
#endif

namespace mvd {

struct AttentionShape {
  int64_t B = 0, N = 0, heads = 0, hd = 0;
  int64_t D() const { return heads * hd; }
};

// The largest head_dim the kernels handle (the tiles are sized for it).
constexpr int64_t kAttentionMaxHeadDim = 128;

// out = softmax(q·kᵀ·hd^-0.5)·v per head; lse = log Σ exp(scaled scores) per query row.
void attention_forward_cpu(const AttentionShape& s, const float* qkv, float* out, float* lse);

// dqkv from dout, the forward's inputs/outputs and its lse. Overwrites every element of dqkv.
void attention_backward_cpu(const AttentionShape& s, const float* dout, const float* qkv, const float* out,
                            const float* lse, float* dqkv);

// The two CPU kernels as compiled per ISA level (attention_cpu_isa.cc); the functions above dispatch.
MVD_ISA_DECLARE(void attention_forward_cpu(const AttentionShape& s, const float* qkv, float* out, float* lse))
MVD_ISA_DECLARE(void attention_backward_cpu(const AttentionShape& s, const float* dout, const float* qkv,
                                            const float* out, const float* lse, float* dqkv))

#if MVD_HAVE_CUDA || MVD_SIMT
// The same two ops on device pointers (bf16 operands for the tensor cores, fp32 softmax and sums),
// enqueued on `st`. hd 64 and 80 use the tensor-core kernels, other hd <= 128 a plain one.
void attention_forward_cuda(const AttentionShape& s, const float* qkv, float* out, float* lse, cudaStream_t st);
void attention_backward_cuda(const AttentionShape& s, const float* dout, const float* qkv, const float* out,
                             const float* lse, float* dqkv, cudaStream_t st);
#endif

}  // namespace mvd
