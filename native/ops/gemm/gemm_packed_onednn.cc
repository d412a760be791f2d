// Weights packed once for oneDNN's sgemm_compute (gemm.h, "Packed weights").
//
// Why: at the student's shapes (a few hundred rows) dnnl_sgemm spends 5–20% of each call packing
// the weight panels again (bench/NOTES.md, session 7). A frozen layer (a teacher, an encoder being
// evaluated or probed) multiplies by the same weights on every call, so it can pack them once.
//
// oneDNN exports sgemm_pack_get_size / sgemm_pack / sgemm_compute (the MKL-style packed GEMM its
// RNN primitives use) without declaring them in a public header; CMake checks that they link
// (MVD_HAVE_ONEDNN_PACK) and the prototypes below are the ones it checks. They are column-major:
// our row-major C[M,N] = A·op(B) is C^T = op(B)^T·A^T there, so our B is their packed "A".
//
// oneDNN lays a packed matrix out for the thread count it plans with, so every pack and compute
// here runs where oneDNN plans for one thread: each column block inside our own parallel region
// (oneDNN runs sequentially there), or outside one only when OpenMP has a single thread anyway.
// Any other situation takes the plain GEMM on g.B, which is always given as well.
#include <dnnl.h>
#include <omp.h>

#include <algorithm>
#include <cstring>
#include <string>

#include "../../core/errors.h"
#include "gemm_epilogue.h"

#if MVD_HAVE_ONEDNN_PACK
namespace dnnl {
namespace impl {
namespace cpu {
dnnl_status_t sgemm_pack_get_size(const char* identifier, const char* transa, const char* transb, const dnnl_dim_t* M,
                                  const dnnl_dim_t* N, const dnnl_dim_t* K, const dnnl_dim_t* lda,
                                  const dnnl_dim_t* ldb, size_t* size, bool* pack);
dnnl_status_t sgemm_pack(const char* identifier, const char* transa, const char* transb, const dnnl_dim_t* M,
                         const dnnl_dim_t* N, const dnnl_dim_t* K, const dnnl_dim_t* lda, const dnnl_dim_t* ldb,
                         const float* src, float* dst);
dnnl_status_t sgemm_compute(const char* transa, const char* transb, const dnnl_dim_t* M, const dnnl_dim_t* N,
                            const dnnl_dim_t* K, const float* A, const dnnl_dim_t* lda, const float* B,
                            const dnnl_dim_t* ldb, const float* beta, float* C, const dnnl_dim_t* ldc);
}  // namespace cpu
}  // namespace impl
}  // namespace dnnl
#endif

namespace mvd {
namespace {

constexpr int64_t kMagic = 0x6d76645f70616b31;  // "mvd_pak1"
constexpr int kMaxBlocks = 64;
// The row count the packs are planned for. A packed matrix carries its own blocking and serves
// any M (a /tmp driver compared M from 1 to 2000 with the plain GEMM; the tests check 1 to 1568
// against float64); planned for many rows it is also the most compact (9.45 MB for a 768 x 3072
// weight, against 12.8 MB planned for 320 rows).
constexpr dnnl_dim_t kPlanRows = 4096;

// The buffer starts with this header (int64 words, padded to kHeaderFloats floats), then the
// blocks, each at a 64-byte aligned offset.
struct Header {
  int64_t magic, N, K, trans_b, blocks;
  int64_t n0[kMaxBlocks + 1];  // block b holds columns [n0[b], n0[b+1])
  int64_t offset[kMaxBlocks];  // in floats from the buffer start
};
constexpr int64_t kHeaderFloats = (sizeof(Header) + 63) / 64 * 16;

int block_count(int64_t N) {
  const int64_t units = (N + kGemmColumnAlign - 1) / kGemmColumnAlign;
  return (int)std::max<int64_t>(1, std::min<int64_t>({(int64_t)omp_get_max_threads(), units, kMaxBlocks}));
}

// Runs fn(b) for every block where oneDNN plans for one thread: spread over an OpenMP team, or in
// this thread when it is already inside a parallel region or OpenMP has one thread anyway. A team
// of one (OMP_DYNAMIC, a thread limit) is not "in parallel" for oneDNN, so there the blocks run
// here with the thread count set to one while they do: packed-only weights (no plain B) have
// nothing else to fall back on.
template <typename F>
void for_each_block_single_threaded(int blocks, F fn) {
  if (omp_in_parallel() || omp_get_max_threads() == 1) {
    for (int b = 0; b < blocks; ++b) fn(b);
    return;
  }
  bool team_of_one = false;
#pragma omp parallel
  {
    if (omp_get_num_threads() < 2) {
      team_of_one = true;
    } else {
      for (int b = omp_get_thread_num(); b < blocks; b += omp_get_num_threads()) fn(b);
    }
  }
  if (!team_of_one) return;
  const int saved = omp_get_max_threads();
  omp_set_num_threads(1);
  for (int b = 0; b < blocks; ++b) fn(b);
  omp_set_num_threads(saved);
}

#if MVD_HAVE_ONEDNN_PACK
// Each block's status, collected per block so no two threads write one variable.
void check(const dnnl_status_t* status, int blocks, const char* what) {
  for (int b = 0; b < blocks; ++b)
    if (status[b] != dnnl_success)
      throw OpError(ErrorKind::Native, "gemm",
                    std::string(what) + " failed with status " + std::to_string((int)status[b]));
}

// Column block [n0, n1) of op(B) as their "A": rows n0.. of B [N, K] transposed, or columns n0..
// of B [K, N] as stored.
struct BlockOperand {
  const float* src;
  char trans;
  dnnl_dim_t ld;
};
BlockOperand block_operand(const float* B, int64_t ldb, bool trans_b, int64_t n0) {
  return trans_b ? BlockOperand{B + n0 * ldb, 'T', ldb} : BlockOperand{B + n0, 'N', ldb};
}
#endif

}  // namespace

#if MVD_HAVE_ONEDNN_PACK
namespace {
// Each block's packed size in floats (a multiple of 16, so every block starts 64-byte aligned);
// false when oneDNN refuses.
bool block_sizes(int64_t N, int64_t K, bool trans_b, int64_t ldb, int blocks, int64_t* sizes) {
  for_each_block_single_threaded(blocks, [&](int b) {
    dnnl_dim_t m = gemm_column_start(N, b + 1, blocks) - gemm_column_start(N, b, blocks), n = kPlanRows, k = K,
               lda = ldb, ld = K;
    size_t bytes = 0;
    const char ta = trans_b ? 'T' : 'N';
    const dnnl_status_t st =
        dnnl::impl::cpu::sgemm_pack_get_size("A", &ta, "N", &m, &n, &k, &lda, &ld, &bytes, nullptr);
    sizes[b] = st == dnnl_success && bytes > 0 ? (int64_t)((bytes + 63) / 64 * 16) : 0;
  });
  return std::all_of(sizes, sizes + blocks, [](int64_t x) { return x > 0; });
}
}  // namespace
#endif

int gemm_pack_b_blocks(int64_t N) { return block_count(N); }

int64_t gemm_pack_b_floats(int64_t N, int64_t K, bool trans_b, int blocks) {
#if MVD_HAVE_ONEDNN_PACK
  if (N <= 0 || K <= 0 || blocks < 1 || blocks > kMaxBlocks) return 0;
  int64_t sizes[kMaxBlocks] = {};
  if (!block_sizes(N, K, trans_b, trans_b ? K : N, blocks, sizes)) return 0;
  int64_t total = kHeaderFloats;
  for (int b = 0; b < blocks; ++b) total += sizes[b];
  return total;
#else
  (void)N;
  (void)K;
  (void)trans_b;
  (void)blocks;
  return 0;
#endif
}

void gemm_pack_b(const float* B, int64_t ldb, bool trans_b, int64_t N, int64_t K, int blocks, float* dst,
                 int64_t floats) {
#if MVD_HAVE_ONEDNN_PACK
  if (blocks < 1 || blocks > kMaxBlocks) throw OpError(ErrorKind::Native, "gemmPackWeights", "bad block count");
  Header h{};
  h.magic = kMagic;
  h.N = N;
  h.K = K;
  h.trans_b = trans_b;
  h.blocks = blocks;
  for (int b = 0; b <= h.blocks; ++b) h.n0[b] = gemm_column_start(N, b, (int)h.blocks);
  int64_t sizes[kMaxBlocks] = {};
  if (!block_sizes(N, K, trans_b, ldb, (int)h.blocks, sizes))
    throw OpError(ErrorKind::Native, "gemmPackWeights", "oneDNN could not size the packed weights");
  int64_t at = kHeaderFloats;
  for (int b = 0; b < h.blocks; ++b) {
    h.offset[b] = at;
    at += sizes[b];
  }
  if (at > floats) throw OpError(ErrorKind::Native, "gemmPackWeights", "packed buffer too small");
  std::memcpy(dst, &h, sizeof(h));
  dnnl_status_t status[kMaxBlocks];
  std::fill(status, status + kMaxBlocks, dnnl_success);
  for_each_block_single_threaded((int)h.blocks, [&](int b) {
    const BlockOperand op = block_operand(B, ldb, trans_b, h.n0[b]);
    dnnl_dim_t m = h.n0[b + 1] - h.n0[b], n = kPlanRows, k = K, ld = K;
    status[b] = dnnl::impl::cpu::sgemm_pack("A", &op.trans, "N", &m, &n, &k, &op.ld, &ld, op.src, dst + h.offset[b]);
  });
  check(status, (int)h.blocks, "sgemm_pack");
#else
  (void)B;
  (void)ldb;
  (void)trans_b;
  (void)N;
  (void)K;
  (void)blocks;
  (void)dst;
  (void)floats;
  throw OpError(ErrorKind::Native, "gemmPackWeights", "this build has no packed GEMM (oneDNN's pack API not found)");
#endif
}

namespace {
// The header of a buffer gemm_pack_b wrote: blocks in order, covering [0, N), inside the buffer.
bool read_header(const float* packed, int64_t floats, Header& h) {
  if (floats < kHeaderFloats) return false;
  std::memcpy(&h, packed, sizeof(h));
  if (h.magic != kMagic || h.blocks < 1 || h.blocks > kMaxBlocks || h.N < 1 || h.K < 1) return false;
  if (h.n0[0] != 0 || h.n0[h.blocks] != h.N) return false;
  for (int64_t b = 0; b < h.blocks; ++b)
    if (h.n0[b + 1] < h.n0[b] || h.offset[b] < kHeaderFloats || h.offset[b] >= floats) return false;
  return true;
}
}  // namespace

bool gemm_packed_b_shape(const float* packed, int64_t floats, int64_t& N, int64_t& K, bool& trans_b) {
  Header h;
  if (!read_header(packed, floats, h)) return false;
  N = h.N;
  K = h.K;
  trans_b = h.trans_b != 0;
  return true;
}

void gemm_cpu_packed_fp32(const GemmArgs& g, const float* packed, int64_t floats) {
#if MVD_HAVE_ONEDNN_PACK
  Header h;
  if (!read_header(packed, floats, h))
    throw OpError(ErrorKind::Value, "gemm", "packedB is not a buffer from gemmPackWeights");
  // sgemm_compute has no alpha; and anything but what was packed takes the plain GEMM on g.B (the
  // binding prevents a shape mismatch; the plain GEMM is right either way). Packed-only weights
  // (g.B null: the plain copy was released) serve C = A·op(B) + bias alone.
  const bool as_packed = g.alpha == 1.f && !g.trans_a && h.N == g.N && h.K == g.K && (h.trans_b != 0) == g.trans_b;
  if (!as_packed && !g.B)
    throw OpError(ErrorKind::Value, "gemm",
                  "packed-only weights serve C = A·op(B) + bias with the packed shape, alpha 1 and A not transposed");
  if (!as_packed) {
    gemm_onednn(g);
    return;
  }
  if (g.M == 0 || g.N == 0) return;
  dnnl_status_t status[kMaxBlocks];
  std::fill(status, status + kMaxBlocks, dnnl_success);
  for_each_block_single_threaded((int)h.blocks, [&](int b) {
    if (h.n0[b + 1] <= h.n0[b]) return;
    const GemmArgs blk = gemm_column_block(g, h.n0[b], h.n0[b + 1]);
    gemm_run_block(blk, [&](float beta) {
      dnnl_dim_t m = blk.N, n = g.M, k = g.K, lda = g.ldb, ldb = g.lda, ldc = g.ldc;
      status[b] = dnnl::impl::cpu::sgemm_compute("P", "N", &m, &n, &k, packed + h.offset[b], &lda, g.A, &ldb, &beta,
                                                 blk.C, &ldc);
    });
  });
  check(status, (int)h.blocks, "sgemm_compute");
#else
  (void)packed;
  (void)floats;
  if (!g.B) throw OpError(ErrorKind::Native, "gemm", "this build has no packed GEMM (oneDNN's pack API not found)");
  gemm_onednn(g);
#endif
}

}  // namespace mvd
