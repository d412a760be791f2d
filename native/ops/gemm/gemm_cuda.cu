// Tensor-core GEMM on f32 device pointers with gemm_cpu's semantics (gemm.h). 128x128 block tiles,
// k-steps of 32, 8 warps each owning a 64x32 piece (4x4 mma.sync m16n8k16 tiles, 64 accumulators
// per thread). Operands are read as f32 from global memory, rounded to bf16 and stored into shared
// memory with k contiguous for both A and B, so every fragment is a 32-bit load of a k pair; the
// next k-step's f32 values are fetched into registers while the current one is multiplied
// (two shared buffers, one barrier per step).
#include "simt/simt.h"
#include "simt/mma.h"
#include "cuda/runtime.h"
#include "gemm.h"

namespace mvd {
namespace {

constexpr int BM = 128, BN = 128, BK = 32;
// Row stride of a shared tile in bf16: 40 = 20 words, so the 8 rows x 4 k-pairs a fragment load
// touches hit 32 distinct banks.
constexpr int SK = BK + 8;
constexpr int THREADS = 256;
constexpr int PER_THREAD = BM * BK / THREADS;  // 16 elements of A and of B per thread per step

struct Params {
  int64_t M, N, K, lda, ldb, ldc;
  float alpha, beta;
  const float* A;
  const float* B;
  float* C;
  const float* bias;
  float* gelu_out;
};

// Element (row, k) of a logical [rows, K] operand stored either with k contiguous
// (p[row·ld + k]) or rows contiguous (p[k·ld + row]). Consecutive threads take consecutive
// addresses in either case, so the reads coalesce. Thread tid's i-th element is (row, k) =
// (tid/32 + 8i, tid%32) when k is contiguous and (tid%128, tid/128 + 2i) otherwise: one base
// pointer plus a fixed stride, which keeps address registers out of the way of the accumulators.
template <bool KCONTIG>
__device__ __forceinline__ void fetch(const float* p, int64_t ld, int64_t rows, int64_t K, int64_t r0, int64_t k0,
                                      float (&v)[PER_THREAD]) {
  const int tid = threadIdx.x;
  if (KCONTIG) {
    const int64_t gr = r0 + tid / BK, gk = k0 + tid % BK;
    const float* q = p + gr * ld + gk;
    const bool kok = gk < K;
#pragma unroll
    for (int i = 0; i < PER_THREAD; ++i) v[i] = (kok && gr + 8 * i < rows) ? q[(int64_t)(8 * i) * ld] : 0.f;
  } else {
    const int64_t gr = r0 + tid % BM, gk = k0 + tid / BM;
    const float* q = p + gk * ld + gr;
    const bool rok = gr < rows;
#pragma unroll
    for (int i = 0; i < PER_THREAD; ++i) v[i] = (rok && gk + 2 * i < K) ? q[(int64_t)(2 * i) * ld] : 0.f;
  }
}

template <bool KCONTIG>
__device__ __forceinline__ void stash(uint16_t* tile, const float (&v)[PER_THREAD]) {
  const int tid = threadIdx.x;
  uint16_t* d = KCONTIG ? tile + (tid / BK) * SK + tid % BK : tile + (tid % BM) * SK + tid / BM;
#pragma unroll
  for (int i = 0; i < PER_THREAD; ++i) d[KCONTIG ? 8 * i * SK : 2 * i] = tc::to_bf16(v[i]);
}

__device__ __forceinline__ float gelu_erf(float x) { return 0.5f * x * (1.f + erff(x * 0.70710678118654752f)); }

template <bool A_KCONTIG, bool B_KCONTIG>
__global__ void __launch_bounds__(THREADS) gemm_tc_kernel(Params p) {
  MVD_SHARED(uint16_t, As, 2 * BM * SK);
  MVD_SHARED(uint16_t, Bs, 2 * BN * SK);
  const int64_t m0 = (int64_t)blockIdx.y * BM, n0 = (int64_t)blockIdx.x * BN;
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31, g = lane >> 2, t = lane & 3;
  const int wm = warp >> 2, wn = warp & 3;  // 2 x 4 warps of 64 x 32

  float acc[4][4][4];
#pragma unroll
  for (int a = 0; a < 4; ++a)
#pragma unroll
    for (int b = 0; b < 4; ++b)
#pragma unroll
      for (int c = 0; c < 4; ++c) acc[a][b][c] = 0.f;

  const int ktiles = (int)((p.K + BK - 1) / BK);
  float ra[PER_THREAD], rb[PER_THREAD];
  if (ktiles > 0) {
    fetch<A_KCONTIG>(p.A, p.lda, p.M, p.K, m0, 0, ra);
    fetch<B_KCONTIG>(p.B, p.ldb, p.N, p.K, n0, 0, rb);
    stash<A_KCONTIG>(As, ra);
    stash<B_KCONTIG>(Bs, rb);
  }
  __syncthreads();
  for (int kt = 0; kt < ktiles; ++kt) {
    const int cur = kt & 1;
    const bool more = kt + 1 < ktiles;
    if (more) {
      fetch<A_KCONTIG>(p.A, p.lda, p.M, p.K, m0, (int64_t)(kt + 1) * BK, ra);
      fetch<B_KCONTIG>(p.B, p.ldb, p.N, p.K, n0, (int64_t)(kt + 1) * BK, rb);
    }
    const uint16_t* as = As + cur * BM * SK;
    const uint16_t* bs = Bs + cur * BN * SK;
#pragma unroll
    for (int kk = 0; kk < BK; kk += 16) {
      uint32_t af[4][4], bf[4][2];
#pragma unroll
      for (int mt = 0; mt < 4; ++mt) {
        const uint16_t* r = as + (wm * 64 + mt * 16 + g) * SK + kk + 2 * t;
        af[mt][0] = tc::ld_bf16x2(r);
        af[mt][1] = tc::ld_bf16x2(r + 8 * SK);
        af[mt][2] = tc::ld_bf16x2(r + 8);
        af[mt][3] = tc::ld_bf16x2(r + 8 * SK + 8);
      }
#pragma unroll
      for (int nt = 0; nt < 4; ++nt) {
        const uint16_t* r = bs + (wn * 32 + nt * 8 + g) * SK + kk + 2 * t;
        bf[nt][0] = tc::ld_bf16x2(r);
        bf[nt][1] = tc::ld_bf16x2(r + 8);
      }
#pragma unroll
      for (int mt = 0; mt < 4; ++mt)
#pragma unroll
        for (int nt = 0; nt < 4; ++nt) tc::mma_bf16_16816(acc[mt][nt], af[mt], bf[nt]);
    }
    if (more) {
      stash<A_KCONTIG>(As + (cur ^ 1) * BM * SK, ra);
      stash<B_KCONTIG>(Bs + (cur ^ 1) * BN * SK, rb);
    }
    __syncthreads();
  }

#pragma unroll
  for (int mt = 0; mt < 4; ++mt)
#pragma unroll
    for (int nt = 0; nt < 4; ++nt)
#pragma unroll
      for (int i = 0; i < 4; ++i) {
        const int64_t row = m0 + wm * 64 + mt * 16 + g + (i >= 2 ? 8 : 0);
        const int64_t col = n0 + wn * 32 + nt * 8 + 2 * t + (i & 1);
        if (row >= p.M || col >= p.N) continue;
        const int64_t at = row * p.ldc + col;
        float v = p.alpha * acc[mt][nt][i];
        // beta == 0 never reads C, so an uninitialised (NaN) C cannot leak through.
        if (p.beta != 0.f) v += p.beta * p.C[at];
        if (p.bias) v += p.bias[col];
        p.C[at] = v;
        if (p.gelu_out) p.gelu_out[at] = gelu_erf(v);
      }
}

__global__ void mma_probe_kernel(const float* A, const float* B, float* D) {
  const int lane = threadIdx.x & 31, g = lane >> 2, t = lane & 3;
  uint32_t a[4], b[2];
  a[0] = tc::pack_bf16x2(A[g * 16 + 2 * t], A[g * 16 + 2 * t + 1]);
  a[1] = tc::pack_bf16x2(A[(g + 8) * 16 + 2 * t], A[(g + 8) * 16 + 2 * t + 1]);
  a[2] = tc::pack_bf16x2(A[g * 16 + 2 * t + 8], A[g * 16 + 2 * t + 9]);
  a[3] = tc::pack_bf16x2(A[(g + 8) * 16 + 2 * t + 8], A[(g + 8) * 16 + 2 * t + 9]);
  b[0] = tc::pack_bf16x2(B[(2 * t) * 8 + g], B[(2 * t + 1) * 8 + g]);
  b[1] = tc::pack_bf16x2(B[(2 * t + 8) * 8 + g], B[(2 * t + 9) * 8 + g]);
  float c[4] = {0.f, 0.f, 0.f, 0.f};
  tc::mma_bf16_16816(c, a, b);
  D[g * 8 + 2 * t] = c[0];
  D[g * 8 + 2 * t + 1] = c[1];
  D[(g + 8) * 8 + 2 * t] = c[2];
  D[(g + 8) * 8 + 2 * t + 1] = c[3];
}

}  // namespace

void gemm_cuda(const GemmArgs& g, cudaStream_t s) {
  if (g.M <= 0 || g.N <= 0) return;
  Params p{g.M, g.N, g.K, g.lda, g.ldb, g.ldc, g.alpha, g.beta, g.A, g.B, g.C, g.bias, g.gelu_out};
  const dim3 grid((unsigned)((g.N + BN - 1) / BN), (unsigned)((g.M + BM - 1) / BM));
  const dim3 block(THREADS);
  // A is k-contiguous unless transposed; op(B) is [K, N], so B is k-contiguous only when transposed.
  if (!g.trans_a && g.trans_b) mvd_launch(gemm_tc_kernel<true, true>, grid, block, 0, s, p);
  else if (!g.trans_a) mvd_launch(gemm_tc_kernel<true, false>, grid, block, 0, s, p);
  else if (g.trans_b) mvd_launch(gemm_tc_kernel<false, true>, grid, block, 0, s, p);
  else mvd_launch(gemm_tc_kernel<false, false>, grid, block, 0, s, p);
  MVD_CUDA_CHECK_LAUNCH("gemm");
}

void gemm_cuda_mma_probe(const float* A, const float* B, float* D, cudaStream_t s) {
  mvd_launch(mma_probe_kernel, dim3(1), dim3(32), 0, s, A, B, D);
  MVD_CUDA_CHECK_LAUNCH("gemm_mma_probe");
}

}  // namespace mvd
