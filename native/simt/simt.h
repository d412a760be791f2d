// The one header every .cu includes first. Under nvcc it adds only the few macros that let a kernel
// source also compile with g++ (MVD_SIMT=1), where native/simt/ runs each CUDA thread as a fiber on
// the CPU. Contract and rules: docs/CUDA.md.
#pragma once

#include <cstddef>
#include <utility>

#if defined(__CUDACC__)
// ---------------------------------------------------------------------------------------------
// nvcc: real CUDA.
#include <cuda_runtime.h>

// One byte array for every kernel's dynamic shared memory, so MVD_DYN_SHARED can be written more
// than once (per kernel, per type) without redeclaring an extern __shared__ symbol of another type.
extern __shared__ __align__(16) unsigned char mvd_dyn_smem_[];

#define MVD_SHARED(T, name, count)                    \
  __shared__ __align__(16) T name##_mvd_smem_[count]; \
  T* name = name##_mvd_smem_
#define MVD_DYN_SHARED(T, name) T* name = reinterpret_cast<T*>(mvd_dyn_smem_)

template <typename... P, typename... A>
inline void mvd_launch(void (*kernel)(P...), dim3 grid, dim3 block, size_t smem_bytes, cudaStream_t stream,
                       A&&... args) {
  static_assert(sizeof...(P) == sizeof...(A), "mvd_launch: argument count differs from the kernel's");
  kernel<<<grid, block, smem_bytes, stream>>>(std::forward<A>(args)...);
}

#elif MVD_SIMT
// ---------------------------------------------------------------------------------------------
// g++: the emulator.
#include "simt/emu.h"
#include "simt/intrinsics.h"

#define MVD_SHARED(T, name, count) \
  T* name = static_cast<T*>(::mvd::simt::detail::static_shared(sizeof(T) * (size_t)(count), __FILE__, __LINE__))
#define MVD_DYN_SHARED(T, name) T* name = static_cast<T*>(::mvd::simt::detail::dynamic_shared())

template <typename... P, typename... A>
inline void mvd_launch(void (*kernel)(P...), dim3 grid, dim3 block, size_t smem_bytes, cudaStream_t stream,
                       A&&... args) {
  static_assert(sizeof...(P) == sizeof...(A), "mvd_launch: argument count differs from the kernel's");
  // Converted once, like CUDA's parameter buffer; every thread then gets its own by-value copy.
  std::tuple<std::decay_t<P>...> params(std::forward<A>(args)...);
  ::mvd::simt::detail::launch(reinterpret_cast<const void*>(kernel), grid, block, smem_bytes, stream,
                              [&] { std::apply([&](const auto&... p) { kernel(p...); }, params); });
}

#else
#error "simt/simt.h: compile .cu files with nvcc, or with g++ -x c++ -DMVD_SIMT=1 (the emulator)"
#endif

// Both builds: a launch error becomes a typed OpError (defined in native/cuda/runtime.cu).
namespace mvd {
void cuda_check(cudaError_t err, const char* op);
}
#ifndef MVD_CUDA_CHECK_LAUNCH
#define MVD_CUDA_CHECK_LAUNCH(op) ::mvd::cuda_check(cudaGetLastError(), op)
#endif
