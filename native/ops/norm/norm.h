// LayerNorm over the last dimension of a row-major [rows, D] tensor (SPEC §1.3: eps 1e-6 in every
// released model). mean/rstd are saved per row so the backward never recomputes statistics.
//
// Both ops can take the pre-norm block's residual add with them, because in a ViT block every
// LayerNorm either follows a residual add (x1 = x + attn(...); norm2(x1)) or feeds one's gradient
// (dx = norm'(dh) + d_residual). Fused, the sum and the gradient sum are made while the row is in
// L1 instead of in separate passes over memory (bench/NOTES.md, session 7).
#pragma once
#include <cstdint>

#include "../../core/isa.h"

namespace mvd {

// y = (s - mean) * rstd * weight + bias with s = x, or s = x + residual when residual is given, in
// which case s is also written to sum (both [rows, D]; neither may alias y). weight/bias may both be
// null (no affine).
void layernorm_forward_cpu(const float* x, const float* residual, float* sum, const float* weight, const float* bias,
                           float* y, float* mean, float* rstd, int64_t rows, int64_t D, float eps);

// dx = the LayerNorm gradient of dy, plus dresidual when that is given (the gradient reaching the
// same tensor by the residual path; must not alias dx). x is the tensor that was normalised (the
// forward's sum when it had a residual). dweight/dbias only when weight is given (both non-null
// then). Overwrites dx, dweight and dbias, never accumulates into them.
void layernorm_backward_cpu(const float* dy, const float* x, const float* mean, const float* rstd, const float* weight,
                            const float* dresidual, float* dx, float* dweight, float* dbias, int64_t rows, int64_t D);

// Their AVX2 and AVX-512 builds (norm_cpu_isa.cc); the two above dispatch.
MVD_ISA_DECLARE(void layernorm_forward_cpu(const float* x, const float* residual, float* sum, const float* weight,
                                           const float* bias, float* y, float* mean, float* rstd, int64_t rows,
                                           int64_t D, float eps))
MVD_ISA_DECLARE(void layernorm_backward_cpu(const float* dy, const float* x, const float* mean, const float* rstd,
                                            const float* weight, const float* dresidual, float* dx, float* dweight,
                                            float* dbias, int64_t rows, int64_t D))

}  // namespace mvd

#if MVD_HAVE_CUDA || MVD_SIMT
#include <cstddef>

#include "../../cuda/stream.h"

namespace mvd {

// The same ops over device pointers, enqueued on `stream`.
void layernorm_forward_cuda(const float* x, const float* residual, float* sum, const float* weight, const float* bias,
                            float* y, float* mean, float* rstd, int64_t rows, int64_t D, float eps,
                            cudaStream_t stream);

// dweight/dbias are reduced in two stages (fixed row chunks, then chunks in order), so the result is
// the same bits on every run; the chunk partials live in `scratch` (device memory of at least
// layernorm_backward_cuda_scratch_bytes bytes; may be null when weight is null).
size_t layernorm_backward_cuda_scratch_bytes(int64_t rows, int64_t D, bool affine);
void layernorm_backward_cuda(const float* dy, const float* x, const float* mean, const float* rstd, const float* weight,
                             const float* dresidual, float* dx, float* dweight, float* dbias, int64_t rows, int64_t D,
                             void* scratch, cudaStream_t stream);

}  // namespace mvd
#endif
