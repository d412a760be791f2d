#include <omp.h>

#include "../../core/errors.h"
#include "../elementwise/elementwise.h"
#include "gemm_epilogue.h"

namespace mvd {

void gemm_set_dense_strides(GemmArgs& g) {
  g.lda = g.trans_a ? g.M : g.K;
  g.ldb = g.trans_b ? g.K : g.N;
  g.ldc = g.N;
}

void gemm_prepare_c(const GemmArgs& g) {
  const int64_t M = g.M, N = g.N;
#pragma omp parallel for schedule(static) if (M * N > 16384)
  for (int64_t i = 0; i < M; ++i) {
    float* c = g.C + i * g.ldc;
    if (g.beta == 0.f) {
      if (g.bias)
        for (int64_t j = 0; j < N; ++j) c[j] = g.bias[j];
      else
        for (int64_t j = 0; j < N; ++j) c[j] = 0.f;
    } else if (g.beta != 1.f || g.bias) {
      if (g.bias)
        for (int64_t j = 0; j < N; ++j) c[j] = g.beta * c[j] + g.bias[j];
      else
        for (int64_t j = 0; j < N; ++j) c[j] *= g.beta;
    }
  }
}

void gemm_apply_gelu(const GemmArgs& g) {
  if (!g.gelu_out) return;
    // gelu_cpu runs serially on a row (below its parallel threshold); rows spread over the team
    // unless the caller is already one thread of a parallel region.
#pragma omp parallel for schedule(static) if (!omp_in_parallel() && g.M * g.N > 16384)
  for (int64_t i = 0; i < g.M; ++i) gelu_cpu(g.C + i * g.ldc, g.gelu_out + i * g.ldc, g.N);
}

void gemm_cpu(const GemmArgs& g) {
#ifdef MVD_HAVE_ONEDNN
  gemm_onednn(g);
#else
  gemm_portable(g);
#endif
}

#ifndef MVD_HAVE_ONEDNN
// Without oneDNN there is nothing to pack for: callers keep the plain GEMM.
int gemm_pack_b_blocks(int64_t) { return 1; }
int64_t gemm_pack_b_floats(int64_t, int64_t, bool, int) { return 0; }
void gemm_pack_b(const float*, int64_t, bool, int64_t, int64_t, int, float*, int64_t) {
  throw OpError(ErrorKind::Native, "gemmPackWeights", "this build has no packed GEMM (built without oneDNN)");
}
bool gemm_packed_b_shape(const float*, int64_t, int64_t&, int64_t&, bool&) { return false; }
void gemm_cpu_packed_fp32(const GemmArgs& g, const float*, int64_t) {
  if (!g.B) throw OpError(ErrorKind::Native, "gemm", "this build has no packed GEMM (built without oneDNN)");
  gemm_cpu(g);
}
#endif

void gemm_cpu_packed(const GemmArgs& g, const float* packed, int64_t floats) {
  int64_t n, k;
  bool t;
  if (gemm_packed_b_bf16_shape(packed, floats, n, k, t)) gemm_cpu_packed_bf16(g, packed, floats);
  else gemm_cpu_packed_fp32(g, packed, floats);
}

bool gemm_packed_b_info(const float* packed, int64_t floats, int64_t& N, int64_t& K, bool& trans_b, bool& bf16) {
  bf16 = gemm_packed_b_bf16_shape(packed, floats, N, K, trans_b);
  return bf16 || gemm_packed_b_shape(packed, floats, N, K, trans_b);
}

const char* gemm_cpu_backend() {
#ifdef MVD_HAVE_ONEDNN
  return "onednn";
#else
  return "portable";
#endif
}

}  // namespace mvd
