// What the CPU GEMM paths share around their multiply: the GELU epilogue (both backends), and the
// column blocks the oneDNN paths (plain and packed weights) give each thread.
#pragma once
#include "gemm.h"

namespace mvd {

// gelu_out = gelu(C) over the M×N block (both with leading dimension ldc); no-op without gelu_out.
// The oneDNN path calls it per thread on the column block it has just computed, so C is read back
// from that core's cache instead of memory.
void gemm_apply_gelu(const GemmArgs& g);

}  // namespace mvd

namespace mvd {

// Column blocks stay multiples of oneDNN's widest register tile so no block has a ragged edge.
constexpr int64_t kGemmColumnAlign = 64;

// Where column block b of `blocks` over N columns starts (block b ends where b + 1 starts).
inline int64_t gemm_column_start(int64_t N, int64_t b, int64_t blocks) {
  const int64_t units = (N + kGemmColumnAlign - 1) / kGemmColumnAlign;
  const int64_t start = units * b / blocks * kGemmColumnAlign;
  return start < N ? start : N;
}

// Columns [n0, n1) of the product as a GEMM of its own: B, C, bias and gelu_out shift by n0 columns.
inline GemmArgs gemm_column_block(const GemmArgs& g, int64_t n0, int64_t n1) {
  GemmArgs b = g;
  b.N = n1 - n0;
  b.B = g.B ? (g.trans_b ? g.B + n0 * g.ldb : g.B + n0) : nullptr;
  b.C = g.C + n0;
  if (g.bias) b.bias = g.bias + n0;
  if (g.gelu_out) b.gelu_out = g.gelu_out + n0;
  return b;
}

// One block end to end: the bias (and beta, or zeros when K == 0) folded into C first, then
// multiply(beta) accumulates op(A)·op(B) with the beta left to apply, then the GELU epilogue.
template <typename Multiply>
void gemm_run_block(const GemmArgs& g, Multiply multiply) {
  if (g.M == 0 || g.N == 0) return;
  float beta = g.beta;
  if (g.bias || g.K == 0) {
    gemm_prepare_c(g);
    beta = 1.f;
  }
  if (g.K > 0) multiply(beta);
  gemm_apply_gelu(g);
}

}  // namespace mvd
