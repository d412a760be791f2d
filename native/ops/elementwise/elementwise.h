// Elementwise kernels of the ViT block and its training step: exact-erf GELU (SPEC §1.3),
// residual adds, scaling, the per-sample DropPath multiplier, dropout and bias-gradient sums.
// Every kernel is a flat loop over contiguous f32 and may run in place (out == input).
#pragma once
#include <cstdint>

namespace mvd {

// 0.5·x·(1 + erf(x/√2)) and its derivative times dy.
void gelu_cpu(const float* x, float* y, int64_t n);
void gelu_backward_cpu(const float* dy, const float* x, float* dx, int64_t n);

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
