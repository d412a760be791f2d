// Launch geometry shared by the element-wise CUDA kernels: 256-thread blocks, a grid capped at
// 4096 blocks (enough to fill an H100/H200 several times over) walked with a grid-stride loop, so
// one launch covers any size. At least one block, so an empty tensor is a no-op launch, never an
// invalid configuration.
#pragma once
#include <cstdint>

#include "simt/simt.h"

namespace mvd {
namespace grid {

constexpr int kThreads = 256;
constexpr int64_t kMaxBlocks = 4096;

inline unsigned blocks_for(int64_t n, int threads = kThreads) {
  const int64_t b = (n + threads - 1) / threads;
  return (unsigned)(b < 1 ? 1 : b < kMaxBlocks ? b : kMaxBlocks);
}

__device__ __forceinline__ int64_t thread_index() { return (int64_t)blockIdx.x * blockDim.x + threadIdx.x; }
__device__ __forceinline__ int64_t thread_stride() { return (int64_t)gridDim.x * blockDim.x; }

}  // namespace grid
}  // namespace mvd
