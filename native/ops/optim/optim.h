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
  int64_t step = 1;                               // 1-based, for the bias corrections
  float grad_scale = 1.f;                         // grads are multiplied by this first (1/lossScale)
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

#if MVD_HAVE_CUDA || MVD_SIMT
#include <cstddef>

#include "../../cuda/stream.h"

namespace mvd {

// The same ops over device pointers, enqueued on `stream`. Each launch covers every tensor of the
// list: a table of the tensors (pointers, sizes, first chunk) is copied into `scratch` on the
// stream and each block finds its tensor in it. Reductions are per-chunk partials over a fixed
// partition, then one block adding them in order: the same bits on every run.
// `scratch`: device memory of at least the matching *_scratch_bytes.
size_t adamw_cuda_scratch_bytes(const std::vector<AdamWTensor>& ts);
void adamw_cuda(const std::vector<AdamWTensor>& ts, const AdamWHyper& h, void* scratch, cudaStream_t stream);

size_t span_list_cuda_scratch_bytes(const std::vector<Span>& ts);
// The norm (or 1/0 for all finite) written to out[0] on the device, without waiting.
void grad_norm_cuda_to(const std::vector<Span>& ts, float* out, void* scratch, cudaStream_t stream);
void all_finite_cuda_to(const std::vector<Span>& ts, float* out, void* scratch, cudaStream_t stream);
// The same, returned to the host: these wait for the stream.
double grad_norm_cuda(const std::vector<Span>& ts, void* scratch, cudaStream_t stream);
bool all_finite_cuda(const std::vector<Span>& ts, void* scratch, cudaStream_t stream);
void scale_tensors_cuda(const std::vector<Span>& ts, float s, void* scratch, cudaStream_t stream);

}  // namespace mvd
#endif
