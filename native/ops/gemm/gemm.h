// C[M,N] = alpha * op(A) op(B) + beta * C + bias   (row-major; op = optional transpose; bias per column)
// The CPU entry point dispatches to oneDNN when the build found it, else to our blocked GEMM.
#pragma once
#include <cstdint>
#include <string>
#if MVD_HAVE_CUDA || MVD_SIMT
#include "../../cuda/stream.h"
#endif

namespace mvd {

struct GemmArgs {
  bool trans_a = false, trans_b = false;
  int64_t M = 0, N = 0, K = 0;
  float alpha = 1.f, beta = 0.f;
  const float* A = nullptr;
  int64_t lda = 0;  // leading dimension of A as stored
  const float* B = nullptr;
  int64_t ldb = 0;
  float* C = nullptr;
  int64_t ldc = 0;
  const float* bias = nullptr;  // [N] or null
  // Fused GELU epilogue (exact erf): when set, C receives the pre-activation alpha·op(A)op(B) +
  // beta·C + bias and gelu_out receives gelu of it, with C's shape and leading dimension ldc.
  float* gelu_out = nullptr;
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

#if MVD_HAVE_CUDA || MVD_SIMT
// The same GEMM on device pointers: operands rounded to bf16 as they are staged for the tensor
// cores, fp32 accumulation, bias/beta/GELU fused into the epilogue. Enqueued on `s`.
void gemm_cuda(const GemmArgs& g, cudaStream_t s);
// Test hook for the mma.sync fragment layout: D[16x8] = A[16x16]·B[16x8] (row-major f32 device
// pointers, operands rounded to bf16) through one mma_bf16_16816 on one warp.
void gemm_cuda_mma_probe(const float* A, const float* B, float* D, cudaStream_t s);
#endif

// ---- Packed weights: op(B) packed once for many products with the same B (frozen layers) ----
// Built on oneDNN's packed GEMM (gemm_packed_onednn.cc); where the build lacks it,
// gemm_pack_b_floats returns 0 and callers keep the plain GEMM.
// op(B) ([K, N]) is packed in column blocks, one per thread of the products to come.
int gemm_pack_b_blocks(int64_t N);
// Floats a packed copy of op(B) in that many blocks needs, or 0 where the build cannot pack.
int64_t gemm_pack_b_floats(int64_t N, int64_t K, bool trans_b, int blocks);
// Packs op(B) into dst (`floats` long, from gemm_pack_b_floats), behind a header with N, K, trans_b.
void gemm_pack_b(const float* B, int64_t ldb, bool trans_b, int64_t N, int64_t K, int blocks, float* dst,
                 int64_t floats);
// N, K and trans_b from a packed buffer's header; false when `packed` is not one.
bool gemm_packed_b_shape(const float* packed, int64_t floats, int64_t& N, int64_t& K, bool& trans_b);
// gemm_cpu with op(B) read from `packed` (either precision below; throws when it is not a packed
// buffer). fp32: g.B should still point at the plain B, for the products the packed path cannot
// serve (alpha != 1, Aᵀ, another shape); with g.B null (packed-only weights) those throw instead.
// bf16: C = A·op(B) + bias (beta 0) only, g.B unused.
void gemm_cpu_packed(const GemmArgs& g, const float* packed, int64_t floats);
void gemm_cpu_packed_fp32(const GemmArgs& g, const float* packed, int64_t floats);
// N, K, trans_b and the precision of either kind of packed buffer; false when `packed` is not one.
bool gemm_packed_b_info(const float* packed, int64_t floats, int64_t& N, int64_t& K, bool& trans_b, bool& bf16);

// ---- bf16 weights (gemm_bf16_onednn.cc): op(B) rounded to bf16 once, in oneDNN's blocked layout ----
// For frozen layers (teachers): half the memory of fp32 weights, and products that round A to bf16
// and accumulate in fp32 at up to twice the fp32 rate on CPUs with AVX512-BF16.
// Empty when this process can use them; else why not (no oneDNN, no AVX512-BF16, MVD_CPU_ISA=avx2).
std::string gemm_bf16_unavailable_reason();
// Floats a bf16 copy of op(B) needs (header included), or 0 where gemm_bf16_unavailable_reason() says.
int64_t gemm_pack_b_bf16_floats(int64_t N, int64_t K);
void gemm_pack_b_bf16(const float* B, int64_t ldb, bool trans_b, int64_t N, int64_t K, float* dst, int64_t floats);
bool gemm_packed_b_bf16_shape(const float* packed, int64_t floats, int64_t& N, int64_t& K, bool& trans_b);
void gemm_cpu_packed_bf16(const GemmArgs& g, const float* packed, int64_t floats);

// C = beta*C + bias (beta == 0 overwrites, so NaNs in an uninitialised C never leak through).
void gemm_prepare_c(const GemmArgs& g);

}  // namespace mvd
