// GEMM through oneDNN's sgemm (row-major BLAS-like API). The bias and beta are folded into C first
// so oneDNN runs with beta = 1 (or the caller's beta when there is no bias).
#include <dnnl.h>

#include <string>

#include "../../core/errors.h"
#include "gemm.h"

namespace mvd {

void gemm_onednn(const GemmArgs& g) {
  if (g.M == 0 || g.N == 0) return;
  float beta = g.beta;
  if (g.bias || g.K == 0) {
    gemm_prepare_c(g);
    beta = 1.f;
  }
  if (g.K == 0) return;
  dnnl_status_t st = dnnl_sgemm(g.trans_a ? 'T' : 'N', g.trans_b ? 'T' : 'N', g.M, g.N, g.K, g.alpha, g.A, g.lda,
                                g.B, g.ldb, beta, g.C, g.ldc);
  if (st != dnnl_success)
    throw OpError(ErrorKind::Native, "gemm", "dnnl_sgemm failed with status " + std::to_string((int)st));
}

}  // namespace mvd
