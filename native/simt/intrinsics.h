// CUDA device built-ins for kernels compiled by g++ against the emulator: thread indices, barriers,
// warp shuffles and votes, atomics, and the fast-math intrinsics (mapped to the accurate functions
// so a test compares semantics, not ULP-level shortcuts). Included by simt.h only.
#pragma once
#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <cmath>
#include <cstdint>
#include <cstring>

#include "simt/emu.h"

// CUDA's headers leave these empty for a host compiler; plain __shared__ would become an ordinary
// local (or a static leaking data between blocks), so it is turned into a readable compile error.
#undef __shared__
#define __shared__ mvd_simt_plain___shared___is_unsupported_use_MVD_SHARED_or_MVD_DYN_SHARED
#ifndef __launch_bounds__
#define __launch_bounds__(...)
#endif

#undef threadIdx
#undef blockIdx
#undef blockDim
#undef gridDim
#undef warpSize
#define threadIdx (::mvd::simt::detail::ctx("threadIdx").tid)
#define blockIdx (::mvd::simt::detail::ctx("blockIdx").bid)
#define blockDim (::mvd::simt::detail::ctx("blockDim").bdim)
#define gridDim (::mvd::simt::detail::ctx("gridDim").gdim)
#define warpSize 32

#define MVD_SIMT_SITE const char *mvd_file_ = __builtin_FILE(), int mvd_line_ = __builtin_LINE()

// ---- barriers ----------------------------------------------------------------------------------
inline void __syncthreads(MVD_SIMT_SITE) { ::mvd::simt::detail::block_barrier(0, 0, mvd_file_, mvd_line_); }
inline int __syncthreads_count(int pred, MVD_SIMT_SITE) {
  return ::mvd::simt::detail::block_barrier(1, pred != 0, mvd_file_, mvd_line_);
}
inline int __syncthreads_and(int pred, MVD_SIMT_SITE) {
  return ::mvd::simt::detail::block_barrier(2, pred != 0, mvd_file_, mvd_line_);
}
inline int __syncthreads_or(int pred, MVD_SIMT_SITE) {
  return ::mvd::simt::detail::block_barrier(3, pred != 0, mvd_file_, mvd_line_);
}
inline void __syncwarp(unsigned mask = 0xffffffffu, MVD_SIMT_SITE) {
  ::mvd::simt::detail::warp_collective(mask, nullptr, 0, nullptr, "__syncwarp", mvd_file_, mvd_line_);
}
// One thread runs at a time and blocks run in turn, so every fence is already satisfied.
inline void __threadfence() {}
inline void __threadfence_block() {}
inline void __threadfence_system() {}
inline void __nanosleep(unsigned) {}
[[noreturn]] inline void __trap() { ::mvd::simt::detail::trap("__trap()"); }

// ---- warp shuffles and votes -------------------------------------------------------------------
namespace mvd {
namespace simt {
namespace detail {

enum class ShflMode { Idx, Up, Down, Xor };

template <typename T>
T shfl(unsigned mask, T var, int arg, int width, ShflMode mode, const char* what, const char* file, int line) {
  static_assert(std::is_trivially_copyable<T>::value && sizeof(T) <= 16, "shuffle of an unsupported type");
  if (width <= 0 || width > 32 || (width & (width - 1))) trap("shuffle width must be a power of two <= 32");
  unsigned char all[32 * sizeof(T)];
  unsigned took_part = warp_collective(mask, &var, sizeof(T), all, what, file, line);
  int lane = (int)ctx(what).lane, base = lane & ~(width - 1), src = lane;
  switch (mode) {
    case ShflMode::Idx:
      src = base + (((arg % width) + width) % width);
      break;
    case ShflMode::Up:
      src = lane - arg >= base ? lane - arg : lane;
      break;
    case ShflMode::Down:
      src = lane + arg < base + width ? lane + arg : lane;
      break;
    case ShflMode::Xor:
      src = (lane ^ arg) < base + width ? (lane ^ arg) : lane;
      break;
  }
  T out;
  // Reading a lane outside the mask is undefined in CUDA: give all-ones bits (NaN for floats) so
  // a result that depends on it is visibly wrong.
  if (src < 0 || src > 31 || !((took_part >> src) & 1u)) std::memset(&out, 0xFF, sizeof(T));
  else std::memcpy(&out, all + (size_t)src * sizeof(T), sizeof(T));
  return out;
}

// Each lane's int (a predicate or a value) from every lane that took part.
inline unsigned gather_ints(unsigned mask, int mine, int* all, const char* what, const char* file, int line) {
  return warp_collective(mask, &mine, sizeof(int), all, what, file, line);
}

}  // namespace detail
}  // namespace simt
}  // namespace mvd

template <typename T>
inline T __shfl_sync(unsigned mask, T var, int src_lane, int width = 32, MVD_SIMT_SITE) {
  return ::mvd::simt::detail::shfl(mask, var, src_lane, width, ::mvd::simt::detail::ShflMode::Idx, "__shfl_sync",
                                   mvd_file_, mvd_line_);
}
template <typename T>
inline T __shfl_up_sync(unsigned mask, T var, unsigned delta, int width = 32, MVD_SIMT_SITE) {
  return ::mvd::simt::detail::shfl(mask, var, (int)delta, width, ::mvd::simt::detail::ShflMode::Up, "__shfl_up_sync",
                                   mvd_file_, mvd_line_);
}
template <typename T>
inline T __shfl_down_sync(unsigned mask, T var, unsigned delta, int width = 32, MVD_SIMT_SITE) {
  return ::mvd::simt::detail::shfl(mask, var, (int)delta, width, ::mvd::simt::detail::ShflMode::Down,
                                   "__shfl_down_sync", mvd_file_, mvd_line_);
}
template <typename T>
inline T __shfl_xor_sync(unsigned mask, T var, int lane_mask, int width = 32, MVD_SIMT_SITE) {
  return ::mvd::simt::detail::shfl(mask, var, lane_mask, width, ::mvd::simt::detail::ShflMode::Xor, "__shfl_xor_sync",
                                   mvd_file_, mvd_line_);
}

inline unsigned __ballot_sync(unsigned mask, int pred, MVD_SIMT_SITE) {
  int all[32];
  unsigned took = ::mvd::simt::detail::gather_ints(mask, pred != 0, all, "__ballot_sync", mvd_file_, mvd_line_);
  unsigned r = 0;
  for (int l = 0; l < 32; ++l)
    if (((took >> l) & 1u) && all[l]) r |= 1u << l;
  return r;
}
inline int __any_sync(unsigned mask, int pred, MVD_SIMT_SITE) {
  return __ballot_sync(mask, pred, mvd_file_, mvd_line_) != 0;
}
inline int __all_sync(unsigned mask, int pred, MVD_SIMT_SITE) {
  int all[32];
  unsigned took = ::mvd::simt::detail::gather_ints(mask, pred != 0, all, "__all_sync", mvd_file_, mvd_line_);
  for (int l = 0; l < 32; ++l)
    if (((took >> l) & 1u) && !all[l]) return 0;
  return 1;
}
// Lanes of the warp that have not exited (the emulator never splits a warp otherwise).
unsigned __activemask();

#define MVD_SIMT_REDUCE(name, T, init, combine)                                                           \
  inline T name(unsigned mask, T value, MVD_SIMT_SITE) {                                                  \
    int all[32];                                                                                          \
    unsigned took = ::mvd::simt::detail::gather_ints(mask, (int)value, all, #name, mvd_file_, mvd_line_); \
    T r = init;                                                                                           \
    for (int l = 0; l < 32; ++l)                                                                          \
      if ((took >> l) & 1u) {                                                                             \
        T v = (T)all[l];                                                                                  \
        r = combine;                                                                                      \
      }                                                                                                   \
    return r;                                                                                             \
  }
MVD_SIMT_REDUCE(__reduce_add_sync, unsigned, 0u, r + v)
MVD_SIMT_REDUCE(__reduce_min_sync, unsigned, 0xffffffffu, v < r ? v : r)
MVD_SIMT_REDUCE(__reduce_max_sync, unsigned, 0u, v > r ? v : r)
MVD_SIMT_REDUCE(__reduce_and_sync, unsigned, 0xffffffffu, r& v)
MVD_SIMT_REDUCE(__reduce_or_sync, unsigned, 0u, r | v)
MVD_SIMT_REDUCE(__reduce_xor_sync, unsigned, 0u, r ^ v)
#undef MVD_SIMT_REDUCE

// ---- atomics (fibers never preempt each other, so read-modify-write is atomic as written) -------
#define MVD_SIMT_ATOMIC(name, T, expr) \
  inline T name(T* address, T val) {   \
    T old = *address;                  \
    *address = (expr);                 \
    return old;                        \
  }
MVD_SIMT_ATOMIC(atomicAdd, float, old + val)
MVD_SIMT_ATOMIC(atomicAdd, double, old + val)
MVD_SIMT_ATOMIC(atomicAdd, int, (int)((unsigned)old + (unsigned)val))
MVD_SIMT_ATOMIC(atomicAdd, unsigned, old + val)
MVD_SIMT_ATOMIC(atomicAdd, unsigned long long, old + val)
MVD_SIMT_ATOMIC(atomicSub, int, (int)((unsigned)old - (unsigned)val))
MVD_SIMT_ATOMIC(atomicSub, unsigned, old - val)
MVD_SIMT_ATOMIC(atomicExch, int, val)
MVD_SIMT_ATOMIC(atomicExch, unsigned, val)
MVD_SIMT_ATOMIC(atomicExch, unsigned long long, val)
MVD_SIMT_ATOMIC(atomicExch, float, val)
MVD_SIMT_ATOMIC(atomicMax, int, old > val ? old : val)
MVD_SIMT_ATOMIC(atomicMax, unsigned, old > val ? old : val)
MVD_SIMT_ATOMIC(atomicMax, long long, old > val ? old : val)
MVD_SIMT_ATOMIC(atomicMax, unsigned long long, old > val ? old : val)
MVD_SIMT_ATOMIC(atomicMin, int, old < val ? old : val)
MVD_SIMT_ATOMIC(atomicMin, unsigned, old < val ? old : val)
MVD_SIMT_ATOMIC(atomicMin, long long, old < val ? old : val)
MVD_SIMT_ATOMIC(atomicMin, unsigned long long, old < val ? old : val)
MVD_SIMT_ATOMIC(atomicAnd, int, old& val)
MVD_SIMT_ATOMIC(atomicAnd, unsigned, old& val)
MVD_SIMT_ATOMIC(atomicOr, int, old | val)
MVD_SIMT_ATOMIC(atomicOr, unsigned, old | val)
MVD_SIMT_ATOMIC(atomicXor, int, old ^ val)
MVD_SIMT_ATOMIC(atomicXor, unsigned, old ^ val)
MVD_SIMT_ATOMIC(atomicInc, unsigned, old >= val ? 0u : old + 1u)
MVD_SIMT_ATOMIC(atomicDec, unsigned, (old == 0u || old > val) ? val : old - 1u)
#undef MVD_SIMT_ATOMIC
#define MVD_SIMT_CAS(T)                              \
  inline T atomicCAS(T* address, T compare, T val) { \
    T old = *address;                                \
    if (old == compare) *address = val;              \
    return old;                                      \
  }
MVD_SIMT_CAS(int)
MVD_SIMT_CAS(unsigned)
MVD_SIMT_CAS(unsigned long long)
MVD_SIMT_CAS(unsigned short)
#undef MVD_SIMT_CAS

// ---- integer and bit intrinsics ----------------------------------------------------------------
inline int min(int a, int b) { return a < b ? a : b; }
inline unsigned min(unsigned a, unsigned b) { return a < b ? a : b; }
inline long long min(long long a, long long b) { return a < b ? a : b; }
inline unsigned long long min(unsigned long long a, unsigned long long b) { return a < b ? a : b; }
inline float min(float a, float b) { return fminf(a, b); }
inline double min(double a, double b) { return fmin(a, b); }
inline int max(int a, int b) { return a > b ? a : b; }
inline unsigned max(unsigned a, unsigned b) { return a > b ? a : b; }
inline long long max(long long a, long long b) { return a > b ? a : b; }
inline unsigned long long max(unsigned long long a, unsigned long long b) { return a > b ? a : b; }
inline float max(float a, float b) { return fmaxf(a, b); }
inline double max(double a, double b) { return fmax(a, b); }
inline int __popc(unsigned x) { return __builtin_popcount(x); }
inline int __popcll(unsigned long long x) { return __builtin_popcountll(x); }
inline int __clz(int x) { return x ? __builtin_clz((unsigned)x) : 32; }
inline int __clzll(long long x) { return x ? __builtin_clzll((unsigned long long)x) : 64; }
inline int __ffs(int x) { return __builtin_ffs(x); }
inline int __ffsll(long long x) { return __builtin_ffsll(x); }
inline unsigned __brev(unsigned x) {
  unsigned r = 0;
  for (int i = 0; i < 32; ++i) r |= ((x >> i) & 1u) << (31 - i);
  return r;
}
inline int __mul24(int a, int b) { return (int)((long long)((a << 8) >> 8) * ((b << 8) >> 8)); }
inline unsigned __umulhi(unsigned a, unsigned b) { return (unsigned)(((unsigned long long)a * b) >> 32); }
inline int __mulhi(int a, int b) { return (int)(((long long)a * b) >> 32); }
template <typename T>
inline T __ldg(const T* p) {
  return *p;
}
template <typename T>
inline T __ldcs(const T* p) {
  return *p;
}
template <typename T>
inline T __ldcg(const T* p) {
  return *p;
}
template <typename T>
inline void __stcs(T* p, T v) {
  *p = v;
}
template <typename T>
inline void __stcg(T* p, T v) {
  *p = v;
}
long long clock64();

// ---- float intrinsics (accurate stand-ins) -----------------------------------------------------
inline float __int_as_float(int x) {
  float f;
  std::memcpy(&f, &x, 4);
  return f;
}
inline float __uint_as_float(unsigned x) {
  float f;
  std::memcpy(&f, &x, 4);
  return f;
}
inline int __float_as_int(float f) {
  int x;
  std::memcpy(&x, &f, 4);
  return x;
}
inline unsigned __float_as_uint(float f) {
  unsigned x;
  std::memcpy(&x, &f, 4);
  return x;
}
inline double __longlong_as_double(long long x) {
  double f;
  std::memcpy(&f, &x, 8);
  return f;
}
inline long long __double_as_longlong(double f) {
  long long x;
  std::memcpy(&x, &f, 8);
  return x;
}
inline float __expf(float x) { return expf(x); }
inline float __exp10f(float x) { return powf(10.f, x); }
inline float __logf(float x) { return logf(x); }
inline float __log2f(float x) { return log2f(x); }
inline float __log10f(float x) { return log10f(x); }
inline float __sinf(float x) { return sinf(x); }
inline float __cosf(float x) { return cosf(x); }
inline float __tanf(float x) { return tanf(x); }
inline void __sincosf(float x, float* s, float* c) {
  *s = sinf(x);
  *c = cosf(x);
}
inline float __powf(float x, float y) { return powf(x, y); }
inline float __fdividef(float a, float b) { return a / b; }
inline float __frcp_rn(float x) { return 1.f / x; }
inline float __fsqrt_rn(float x) { return sqrtf(x); }
inline float rsqrtf(float x) { return 1.f / sqrtf(x); }
inline double rsqrt(double x) { return 1.0 / sqrt(x); }
inline float __frsqrt_rn(float x) { return 1.f / sqrtf(x); }
inline float __fmaf_rn(float a, float b, float c) { return fmaf(a, b, c); }
inline float __fadd_rn(float a, float b) { return a + b; }
inline float __fsub_rn(float a, float b) { return a - b; }
inline float __fmul_rn(float a, float b) { return a * b; }
inline float __fdiv_rn(float a, float b) { return a / b; }
inline float __saturatef(float x) { return x != x ? 0.f : fminf(fmaxf(x, 0.f), 1.f); }
inline int __float2int_rn(float x) { return (int)nearbyintf(x); }
inline int __float2int_rz(float x) { return (int)x; }
inline int __float2int_rd(float x) { return (int)floorf(x); }
inline int __float2int_ru(float x) { return (int)ceilf(x); }
inline float __int2float_rn(int x) { return (float)x; }
inline float normcdff(float x) { return 0.5f * erfcf(-x * 0.70710678118654752f); }

#undef MVD_SIMT_SITE
