// Optimiser-step kernels over lists of tensors (SPEC §3.7): AdamW with PyTorch's exact update
// order, the global gradient norm, a finiteness check (dynamic loss scaling) and in-place scaling.
// Each call runs as one parallel loop over the concatenated elements of every tensor.
#pragma once
#include <cstdint>
#include <vector>

namespace mvd {

struct AdamWTensor {
  float* p = nullptr;
  const float* g = nullptr;
  float* m = nullptr;
  float* v = nullptr;
  int64_t n = 0;
  float lr = 0.f;
  float weight_decay = 0.f;
};

struct AdamWHyper {
  double beta1 = 0.9, beta2 = 0.999, eps = 1e-8;  // rounded to float where PyTorch rounds them
  int64_t step = 1;         // 1-based, for the bias corrections
  float grad_scale = 1.f;   // grads are multiplied by this first (1/lossScale)
};

void adamw_cpu(const std::vector<AdamWTensor>& ts, const AdamWHyper& h);

// A list of flat f32 buffers.
struct Span {
  float* data = nullptr;
  int64_t n = 0;
};

// sqrt of the sum of squares of every element, accumulated in double.
double grad_norm_cpu(const std::vector<Span>& ts);
// True when no element is NaN or ±inf.
bool all_finite_cpu(const std::vector<Span>& ts);
void scale_tensors_cpu(const std::vector<Span>& ts, float s);

}  // namespace mvd
