// Tensor-core instructions behind small functions: inline PTX under nvcc for sm_80+, and an
// emulated body under MVD_SIMT that reproduces the documented PTX fragment layouts, so kernels that
// depend on which lane holds which element (row statistics over accumulators in attention) can be
// checked on the CPU. Include after simt/simt.h.
//
// m16n8k16, A row-major 16x16, B column-major 16x8, C/D 16x8 fp32 (PTX ISA, "Matrix Fragments for
// mma.m16n8k16 with floating point type"). With g = lane >> 2 and t = lane % 4:
//   A: 4 registers, each two bf16 (lower element index in the low half):
//      a[0] = A[g][2t, 2t+1]      a[1] = A[g+8][2t, 2t+1]
//      a[2] = A[g][2t+8, 2t+9]    a[3] = A[g+8][2t+8, 2t+9]
//   B: 2 registers:  b[0] = B[2t, 2t+1][g]   b[1] = B[2t+8, 2t+9][g]   (k pairs of column g)
//   C: 4 floats:     c[0..1] = C[g][2t, 2t+1]   c[2..3] = C[g+8][2t, 2t+1]
// The accumulator layout of one n8 tile pair equals the A layout of one k16 step, which is how a
// score tile becomes the A operand of the next product without leaving registers.
#pragma once
#include "simt/simt.h"

#include <cmath>
#include <cstdint>
#include <cstring>

namespace mvd {
namespace tc {

// float -> bf16 bits, round to nearest even; NaN stays NaN (quiet). Host and emulator helper, also
// the rounding the tests' reference applies.
__host__ __device__ __forceinline__ uint16_t bf16_bits_rne(float x) {
  uint32_t u;
  std::memcpy(&u, &x, 4);
  if ((u & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((u >> 16) | 0x40u);
  u += 0x7fffu + ((u >> 16) & 1u);
  return (uint16_t)(u >> 16);
}

__host__ __device__ __forceinline__ float bf16_to_float(uint16_t h) {
  uint32_t u = (uint32_t)h << 16;
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}

__host__ __device__ __forceinline__ float bf16_round(float x) { return bf16_to_float(bf16_bits_rne(x)); }

// One float as bf16 bits.
__device__ __forceinline__ uint16_t to_bf16(float x) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
  uint16_t r;
  asm("cvt.rn.bf16.f32 %0, %1;" : "=h"(r) : "f"(x));
  return r;
#elif defined(__CUDA_ARCH__)
  return bf16_bits_rne(x);
#else  // MVD_SIMT (and nvcc's host pass, which never runs it)
  return bf16_bits_rne(x);
#endif
}

// Two floats as one register of two bf16: lo in bits 0..15.
__device__ __forceinline__ uint32_t pack_bf16x2(float lo, float hi) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
  uint32_t r;
  // cvt.rn.bf16x2.f32 d, a, b puts a in the upper half.
  asm("cvt.rn.bf16x2.f32 %0, %1, %2;" : "=r"(r) : "f"(hi), "f"(lo));
  return r;
#else  // MVD_SIMT, pre-sm_80 device code and the host pass
  return (uint32_t)bf16_bits_rne(lo) | ((uint32_t)bf16_bits_rne(hi) << 16);
#endif
}

// Two adjacent bf16 in shared memory as one register (4-byte aligned address).
__device__ __forceinline__ uint32_t ld_bf16x2(const uint16_t* p) {
#if defined(__CUDA_ARCH__)
  // nvcc only knows 2-byte alignment from the pointer type: memcpy would become two 16-bit loads.
  return *reinterpret_cast<const uint32_t*>(p);
#else
  uint32_t r;
  std::memcpy(&r, p, 4);
  return r;
#endif
}

// The emulator checks that all lanes reach a collective from the same source line; passing the
// caller's line through makes that check name the kernel's line instead of this header's.
#if MVD_SIMT && !defined(__CUDACC__)
#define MVD_MMA_SITE , const char *mma_file_ = __builtin_FILE(), int mma_line_ = __builtin_LINE()
#else
#define MVD_MMA_SITE
#endif

// acc += A·B for one warp (every lane of the warp must call it, from the same line).
__device__ __forceinline__ void mma_bf16_16816(float (&acc)[4], const uint32_t (&a)[4],
                                               const uint32_t (&b)[2] MVD_MMA_SITE) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
  asm volatile(
      "mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, "
      "{%0,%1,%2,%3};\n"
      : "+f"(acc[0]), "+f"(acc[1]), "+f"(acc[2]), "+f"(acc[3])
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]));
#elif defined(__CUDA_ARCH__)
  __trap();  // the build targets sm_80 and sm_90 only
#elif MVD_SIMT && !defined(__CUDACC__)
  struct Regs {
    uint32_t a[4];
    uint32_t b[2];
  };
  Regs mine;
  for (int i = 0; i < 4; ++i) mine.a[i] = a[i];
  for (int i = 0; i < 2; ++i) mine.b[i] = b[i];
  Regs all[32];
  mvd::simt::warp_exchange(&mine, sizeof(Regs), all, mma_file_, mma_line_);
  // Reassemble the whole 16x16 A and 16x8 B from the lanes' registers by the layout above.
  float A[16][16], Bm[16][8];
  for (int L = 0; L < 32; ++L) {
    const int g = L >> 2, t = L & 3;
    for (int i = 0; i < 8; ++i) {
      const int row = g + ((i & 2) ? 8 : 0), col = 2 * t + (i & 1) + ((i & 4) ? 8 : 0);
      const uint32_t reg = all[L].a[i >> 1];
      A[row][col] = bf16_to_float((uint16_t)((i & 1) ? reg >> 16 : reg & 0xffffu));
    }
    for (int i = 0; i < 4; ++i) {
      const int k = 2 * t + (i & 1) + ((i & 2) ? 8 : 0);
      const uint32_t reg = all[L].b[i >> 1];
      Bm[k][g] = bf16_to_float((uint16_t)((i & 1) ? reg >> 16 : reg & 0xffffu));
    }
  }
  const int lane = mvd::simt::lane_id(), g = lane >> 2, t = lane & 3;
  for (int i = 0; i < 4; ++i) {
    const int row = g + (i >= 2 ? 8 : 0), col = 2 * t + (i & 1);
    // bf16 x bf16 is exact in fp32; the hardware's internal summation order is unspecified, so a
    // plain fp32 chain over k stands in for it.
    float s = acc[i];
    for (int k = 0; k < 16; ++k) s = std::fma(A[row][k], Bm[k][col], s);
    acc[i] = s;
  }
#endif
}

}  // namespace tc
}  // namespace mvd
