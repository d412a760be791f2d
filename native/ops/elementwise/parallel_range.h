// One contiguous slice of [0, n) per OpenMP thread, for the elementwise kernels.
#pragma once
#include <omp.h>

#include <cstdint>

namespace mvd {

constexpr int64_t kParallelMin = 1 << 15;

// Splits [0, n) into one contiguous slice per thread; fn(lo, hi) holds a plain inner loop, which
// gcc vectorises more reliably than a combined "parallel for simd".
template <typename Fn>
inline void parallel_range(int64_t n, Fn&& fn) {
  if (n <= kParallelMin) {
    fn(int64_t(0), n);
    return;
  }
#pragma omp parallel
  {
    const int64_t t = omp_get_thread_num(), nt = omp_get_num_threads();
    fn(n * t / nt, n * (t + 1) / nt);
  }
}

}  // namespace mvd
