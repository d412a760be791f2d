// The CPU GEMM's fused GELU epilogue, shared by both backends (implemented in gemm_cpu.cc).
#pragma once
#include "gemm.h"

namespace mvd {

// gelu_out = gelu(C) over the M×N block (both with leading dimension ldc); no-op without gelu_out.
// The oneDNN path calls it per thread on the column block it has just computed, so C is read back
// from that core's cache instead of memory.
void gemm_apply_gelu(const GemmArgs& g);

}  // namespace mvd
