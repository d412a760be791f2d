// CUDA versions of the positional tables: one thread per element through the formulas shared with
// the CPU op (tables.h). Built once per model, so double precision costs nothing that matters.
#include "simt/simt.h"

#include "cuda/grid.h"
#include "cuda/runtime.h"
#include "tables.h"

namespace mvd {
namespace {

using namespace grid;

__global__ void sincos3d_kernel(float* out, int64_t d, int64_t h, int64_t w, int64_t total) {
  for (int64_t o = thread_index(); o < total; o += thread_stride()) out[o] = sincos3d_value(d, h, w, o / d, o % d);
}

__global__ void sinusoid1d_kernel(float* out, int64_t d, int64_t total) {
  for (int64_t o = thread_index(); o < total; o += thread_stride()) out[o] = sinusoid1d_value(d, o / d, o % d);
}

// With cls, row 0 is zeros and grid cell i sits in row i + 1.
__global__ void sincos2d_kernel(float* out, int64_t d, int64_t g, int64_t first, int64_t total) {
  for (int64_t o = thread_index(); o < total; o += thread_stride()) {
    const int64_t row = o / d, j = o % d;
    out[o] = row < first ? 0.f : sincos2d_value(d, g, row - first, j);
  }
}

}  // namespace

void sincos3d_table_cuda(float* out, int64_t d, int64_t t, int64_t h, int64_t w, cudaStream_t stream) {
  const int64_t total = t * h * w * d;
  if (total == 0) return;
  mvd_launch(sincos3d_kernel, dim3(blocks_for(total)), dim3(kThreads), 0, stream, out, d, h, w, total);
  MVD_CUDA_CHECK_LAUNCH("sincos3dTable");
}

void sinusoid1d_table_cuda(float* out, int64_t n, int64_t d, cudaStream_t stream) {
  const int64_t total = n * d;
  if (total == 0) return;
  mvd_launch(sinusoid1d_kernel, dim3(blocks_for(total)), dim3(kThreads), 0, stream, out, d, total);
  MVD_CUDA_CHECK_LAUNCH("sinusoid1dTable");
}

void sincos2d_table_cuda(float* out, int64_t d, int64_t g, bool cls, cudaStream_t stream) {
  const int64_t first = cls ? 1 : 0, total = (first + g * g) * d;
  if (total == 0) return;
  mvd_launch(sincos2d_kernel, dim3(blocks_for(total)), dim3(kThreads), 0, stream, out, d, g, first, total);
  MVD_CUDA_CHECK_LAUNCH("sincos2dTable");
}

}  // namespace mvd
