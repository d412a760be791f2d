// Machine roofs the benchmarks measure themselves, so every kernel number can be read as a
// fraction of what this CPU can do right now (the machines are shared and noisy).
#pragma once

namespace mvd {
// Peak single-precision FMA rate over `threads` threads (OpenMP), in GFLOP/s (2 flops per FMA
// lane). `width` 8 = AVX2, 16 = AVX-512 (falls back to 8 when the CPU lacks AVX-512).
double fma_peak_gflops(int threads, int width, double seconds);
// Copy bandwidth of a large memcpy (read + write bytes counted), GB/s, over `threads` threads.
double copy_bandwidth_gbs(int threads, double megabytes, double seconds);
}  // namespace mvd
