// GEMM through oneDNN's sgemm (row-major BLAS-like API). The bias and beta are folded into C first
// so oneDNN runs with beta = 1 (or the caller's beta when there is no bias).
//
// Threading: on the student's shapes (a few hundred rows, K up to 3072) oneDNN's own split of one
// call over the threads reached only 63–84% of its large-square rate (bench/NOTES.md, "GEMM at the
// student's shapes"). Here each OpenMP thread instead runs a single-threaded sgemm on its own block
// of columns (oneDNN runs sequentially inside a parallel region), so no thread waits on another
// and each block's bias pass and epilogue touch C while it is still in that core's cache.
#include <dnnl.h>
#include <omp.h>

#include <algorithm>
#include <string>

#include "../../core/errors.h"
#include "gemm_epilogue.h"

namespace mvd {
namespace {

void sgemm_or_throw(const GemmArgs& g, float beta) {
  dnnl_status_t st = dnnl_sgemm(g.trans_a ? 'T' : 'N', g.trans_b ? 'T' : 'N', g.M, g.N, g.K, g.alpha, g.A, g.lda, g.B,
                                g.ldb, beta, g.C, g.ldc);
  if (st != dnnl_success)
    throw OpError(ErrorKind::Native, "gemm", "dnnl_sgemm failed with status " + std::to_string((int)st));
}

// One whole call on its own, with the bias folded into C first and the GELU epilogue after.
void gemm_block(const GemmArgs& g) {
  gemm_run_block(g, [&](float beta) { sgemm_or_throw(g, beta); });
}

// Below this much work a parallel region costs more than it saves; oneDNN's own call is used.
constexpr double kMinSplitFlops = 2e7;

}  // namespace

void gemm_onednn(const GemmArgs& g) {
  const int threads = omp_in_parallel() ? 1 : omp_get_max_threads();
  const double flops = 2.0 * g.M * g.N * g.K;
  // Aᵀ·B is the weight gradient dW = dYᵀ·X, whose depth is the token count (a few hundred). Split
  // by columns, every thread packs the whole of dYᵀ again; oneDNN's own threading does not, and
  // took dW of a 768 x 768 layer at 320 tokens from 0.78-0.81 to 1.02-1.04 of the square rate,
  // the other ViT-B layers' dW staying within noise (bench/NOTES.md, session 7).
  if (threads <= 1 || g.trans_a || flops < kMinSplitFlops || g.N < kGemmColumnAlign * threads) {
    gemm_block(g);
    return;
  }
  OpError failure(ErrorKind::Native, "gemm", "");
  bool failed = false;
#pragma omp parallel num_threads(threads)
  {
    const int64_t t = omp_get_thread_num(), nt = omp_get_num_threads();
    const int64_t n0 = gemm_column_start(g.N, t, nt), n1 = gemm_column_start(g.N, t + 1, nt);
    try {
      if (n1 > n0) gemm_block(gemm_column_block(g, n0, n1));
    } catch (const OpError& e) {
#pragma omp critical(mvd_gemm_failure)
      {
        failure = e;
        failed = true;
      }
    }
  }
  if (failed) throw failure;
}

}  // namespace mvd
