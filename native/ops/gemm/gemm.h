// C[M,N] = alpha * op(A) op(B) + beta * C + bias   (row-major; op = optional transpose; bias per column)
// The CPU entry point dispatches to oneDNN when the build found it, else to our blocked GEMM.
#pragma once
#include <cstdint>

namespace mvd {

struct GemmArgs {
  bool trans_a = false, trans_b = false;
  int64_t M = 0, N = 0, K = 0;
  float alpha = 1.f, beta = 0.f;
  const float* A = nullptr; int64_t lda = 0;  // leading dimension of A as stored
  const float* B = nullptr; int64_t ldb = 0;
  float* C = nullptr; int64_t ldc = 0;
  const float* bias = nullptr;                 // [N] or null
};

// Fills in lda/ldb/ldc for dense row-major operands.
void gemm_set_dense_strides(GemmArgs& g);

void gemm_cpu(const GemmArgs& g);
void gemm_portable(const GemmArgs& g);
#ifdef MVD_HAVE_ONEDNN
void gemm_onednn(const GemmArgs& g);
#endif
// "onednn" or "portable": the backend gemm_cpu uses.
const char* gemm_cpu_backend();

// C = beta*C + bias (beta == 0 overwrites, so NaNs in an uninitialised C never leak through).
void gemm_prepare_c(const GemmArgs& g);

}  // namespace mvd
