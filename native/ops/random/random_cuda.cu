// CUDA version of the counter-based fill: one element per thread through random_value, the
// generator shared with the CPU op (random.h).
#include "simt/simt.h"

#include "cuda/runtime.h"
#include "random.h"

namespace mvd {
namespace {

constexpr int kThreads = 256;

__global__ void random_fill_kernel(float* out, int64_t n, RandomFill r, uint64_t key) {
  for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (int64_t)gridDim.x * blockDim.x)
    out[i] = random_value(r, key, i);
}

}  // namespace

void random_fill_cuda(float* out, int64_t n, const RandomFill& r, cudaStream_t stream) {
  if (n <= 0) return;
  const int64_t b = (n + kThreads - 1) / kThreads;
  mvd_launch(random_fill_kernel, dim3((unsigned)(b < 4096 ? b : 4096)), dim3(kThreads), 0, stream, out, n, r,
             random_key(r.seed, r.stream));
  MVD_CUDA_CHECK_LAUNCH("randomFill");
}

}  // namespace mvd
