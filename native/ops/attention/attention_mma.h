// What the attention kernels (attention_cuda.cu) share about the tensor cores: the accumulator
// fragment of mma.sync m16n8k16 (bf16 inputs, fp32 sums) and the one switch from a run-time head
// width to the width the tensor-core kernels are compiled for. Included by that file only.
//
// Fragment layout (PTX ISA, "Matrix fragments for mma.m16n8k16"): lane = 4·g + t holds, for each
// 8-column tile nt, the elements at (row g, columns 2t and 2t+1) in [0] and [1] and at (row g + 8,
// the same columns) in [2] and [3]. Spelling that out once keeps the kernels' masking, softmax and
// stores from each re-deriving it.
#pragma once
#include <cstdint>
#include <type_traits>

namespace mvd {
namespace attn {

// A warp's 16 rows × NT·8 columns of fp32 sums, as mma_bf16_16816 accumulates them.
template <int NT>
struct AccFrag {
  float v[NT][4];

  // Column (inside the NT·8) of element i of tile nt, for the lane's t = lane % 4.
  __device__ __forceinline__ static int col(int nt, int i, int t) { return nt * 8 + 2 * t + (i & 1); }

  __device__ __forceinline__ void zero() {
#pragma unroll
    for (int nt = 0; nt < NT; ++nt)
#pragma unroll
      for (int i = 0; i < 4; ++i) v[nt][i] = 0.f;
  }

  // f(element, its column, which of the lane's rows: 0 for g, 1 for g + 8) over every element.
  template <class F>
  __device__ __forceinline__ void for_each(int t, F&& f) {
#pragma unroll
    for (int nt = 0; nt < NT; ++nt)
#pragma unroll
      for (int i = 0; i < 4; ++i) f(v[nt][i], col(nt, i, t), i >> 1);
  }

  // for_each over two fragments of one shape: f(element, the same element of `other`, column, row).
  template <class F>
  __device__ __forceinline__ void for_each_with(AccFrag& other, int t, F&& f) {
#pragma unroll
    for (int nt = 0; nt < NT; ++nt)
#pragma unroll
      for (int i = 0; i < 4; ++i) f(v[nt][i], other.v[nt][i], col(nt, i, t), i >> 1);
  }

  // The lane's elements of row `half` (0: g, 1: g + 8) times s, to dst[column].
  __device__ __forceinline__ void store_row(float* dst, int half, int t, float s) const {
#pragma unroll
    for (int nt = 0; nt < NT; ++nt) {
      dst[nt * 8 + 2 * t] = v[nt][2 * half] * s;
      dst[nt * 8 + 2 * t + 1] = v[nt][2 * half + 1] * s;
    }
  }
};

// The head widths with tensor-core kernels (multiples of the mma k-step of 16: no padding).
// Calls f(std::integral_constant<int, HD>{}) and returns true, or returns false for any other
// width, which the plain kernels take.
template <class F>
bool with_mma_head_dim(int64_t hd, F&& f) {
  switch (hd) {
    case 64:
      f(std::integral_constant<int, 64>{});
      return true;
    case 80:
      f(std::integral_constant<int, 80>{});
      return true;
    default:
      return false;
  }
}

}  // namespace attn
}  // namespace mvd
