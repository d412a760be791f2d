// Elementwise kernels of the ViT block and its training step: exact-erf GELU (SPEC §1.3),
// residual adds, scaling, the per-sample DropPath multiplier, dropout and bias-gradient sums.
// Every kernel is a flat loop over contiguous f32 and may run in place (out == input).
#pragma once
#include <cstdint>

#include "../../core/isa.h"

namespace mvd {

// 0.5·x·(1 + erf(x/√2)) and its derivative times dy.
void gelu_cpu(const float* x, float* y, int64_t n);
void gelu_backward_cpu(const float* dy, const float* x, float* dx, int64_t n);
// Their AVX2 and AVX-512 builds (gelu_cpu_isa.cc); the two above dispatch.
MVD_ISA_DECLARE(void gelu_cpu(const float* x, float* y, int64_t n))
MVD_ISA_DECLARE(void gelu_backward_cpu(const float* dy, const float* x, float* dx, int64_t n))

// out = a + alpha·b (out may alias a).
void axpby_cpu(const float* a, const float* b, float alpha, float* out, int64_t n);
// out = s·x (out may alias x).
void scale_cpu(const float* x, float s, float* out, int64_t n);
// out[b, i] = x[b, i] + t[i] for i < inner (positional tables added to every sample).
void add_broadcast_cpu(const float* x, const float* t, float* out, int64_t batch, int64_t inner);
// out[b, i] = x[b, i] · scales[b].
void row_scale_cpu(const float* x, const float* scales, float* out, int64_t batch, int64_t inner);
// Keeps element i with probability 1 - p, decided by a hash of (seed, i) alone, so the mask does
// not depend on the thread count. mask[i] = 1 kept / 0 dropped; y = x·mask/(1-p).
void dropout_cpu(const float* x, float* y, uint8_t* mask, int64_t n, float p, uint64_t seed);
void dropout_backward_cpu(const float* dy, const uint8_t* mask, float* dx, int64_t n, float p);
// out[j] (+)= sum over rows of x[r, j]; summed in double.
void sum_rows_cpu(const float* x, float* out, int64_t rows, int64_t cols, bool accumulate);
void fill_cpu(float* x, float value, int64_t n);

}  // namespace mvd

#if MVD_HAVE_CUDA || MVD_SIMT
#include <cstddef>

#include "../../cuda/stream.h"

namespace mvd {

// The same ops over device pointers, enqueued on `stream`. dropout_cuda draws the same mask as
// dropout_cpu for the same seed (the hash of (seed, i) is shared).
void gelu_cuda(const float* x, float* y, int64_t n, cudaStream_t stream);
void gelu_backward_cuda(const float* dy, const float* x, float* dx, int64_t n, cudaStream_t stream);
void axpby_cuda(const float* a, const float* b, float alpha, float* out, int64_t n, cudaStream_t stream);
void scale_cuda(const float* x, float s, float* out, int64_t n, cudaStream_t stream);
void add_broadcast_cuda(const float* x, const float* t, float* out, int64_t batch, int64_t inner, cudaStream_t stream);
void row_scale_cuda(const float* x, const float* scales, float* out, int64_t batch, int64_t inner, cudaStream_t stream);
void dropout_cuda(const float* x, float* y, uint8_t* mask, int64_t n, float p, uint64_t seed, cudaStream_t stream);
void dropout_backward_cuda(const float* dy, const uint8_t* mask, float* dx, int64_t n, float p, cudaStream_t stream);
// Two-stage column sums (fixed row chunks in double, then chunks in order): the same bits on every
// run. `scratch`: device memory of at least sum_rows_cuda_scratch_bytes bytes.
size_t sum_rows_cuda_scratch_bytes(int64_t rows, int64_t cols);
void sum_rows_cuda(const float* x, float* out, int64_t rows, int64_t cols, bool accumulate, void* scratch,
                   cudaStream_t stream);
void fill_cuda(float* x, float value, int64_t n, cudaStream_t stream);

}  // namespace mvd
#endif
