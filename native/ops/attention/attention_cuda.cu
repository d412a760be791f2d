// FlashAttention-2-style attention on device pointers, same layouts as attention.h.
//
// Tensor-core path (hd = 64 or 80; both are multiples of the mma k-step of 16, so 80 needs no
// padding): blocks of 4 warps, each warp owning 16 rows, tiles of 64 along the other sequence.
//   forward   one block per (64 queries, batch·head): S = Q·Kᵀ and O += P·V with the online
//             softmax in registers (the accumulator layout of S is the A layout of P·V).
//   backward  two kernels instead of FA2's one with atomics on dQ, so every output is written by
//             exactly one thread in a fixed order (bit-reproducible runs, no scratch): dK/dV per key
//             block looping over queries, dQ per query block looping over keys, each recomputing
//             P from the stored LSE. delta = rowsum(dO∘O) is recomputed by both from O.
// Operands are rounded to bf16 when staged into shared memory (q, k, v, dO) or packed from
// registers (P, dS); every sum is fp32. Other hd (<= 128) take a plain fp32 warp-per-row kernel
// with the same roundings.
#include "simt/simt.h"
#include <cmath>
#include "simt/mma.h"
#include "cuda/runtime.h"
#include "attention.h"
#include "attention_mma.h"

namespace mvd {
namespace {

using attn::AccFrag;

constexpr float kLog2e = 1.4426950408889634f;
constexpr float kLn2 = 0.6931471805599453f;
constexpr int TILE = 64;  // rows per block and columns per step
constexpr int WARPS = 4;
constexpr int THREADS = WARPS * 32;
constexpr int TS = TILE + 8;  // bf16 stride of a transposed [hd][TILE] tile (36 words: conflict-free k pairs)

// bf16 stride of a [TILE][hd] tile: hd + 8 puts the 8 rows of a fragment load on distinct banks.
template <int HD>
__host__ __device__ constexpr int row_stride() {
  return HD + 8;
}

// Shape and scale, shared by both kernel families below.
struct Dims {
  int B, N, H, hd;
  float scale;       // hd^-0.5
  float scale_log2;  // hd^-0.5 · log2(e): softmax in base 2
};

// One parameter struct per kernel family: the forward kernels take FwdParams, the backward ones
// BwdParams, whichever head width and path they serve.
struct FwdParams {
  const float* qkv;
  float* out;
  float* lse;
  Dims dm;
};

struct BwdParams {
  const float* dout;
  const float* qkv;
  const float* out;
  const float* lse;
  float* dqkv;
  Dims dm;
};

// Rows r0..r0+TILE of one head slice (channel offset `off` inside a row of `ld` floats) into a
// [TILE][HD] bf16 tile; rows past N are zero. Consecutive threads read consecutive channels.
template <int HD>
__device__ __forceinline__ void stage_rows(uint16_t* dst, const float* base, int64_t ld, int off, int r0, int N) {
  constexpr int S = row_stride<HD>();
  for (int idx = threadIdx.x; idx < TILE * HD; idx += THREADS) {
    const int r = idx / HD, d = idx % HD;
    const float v = r0 + r < N ? base[(int64_t)(r0 + r) * ld + off + d] : 0.f;
    dst[r * S + d] = tc::to_bf16(v);
  }
}

// Same rows, transposed into [HD][TILE] (so pairs along the sequence are contiguous for the B
// operand of P·V-like products).
template <int HD>
__device__ __forceinline__ void stage_cols(uint16_t* dst, const float* base, int64_t ld, int off, int r0, int N) {
  for (int idx = threadIdx.x; idx < TILE * HD; idx += THREADS) {
    const int r = idx / HD, d = idx % HD;
    const float v = r0 + r < N ? base[(int64_t)(r0 + r) * ld + off + d] : 0.f;
    dst[d * TS + r] = tc::to_bf16(v);
  }
}

// A fragments of a warp's 16 rows (starting at row w16) of a [TILE][HD] tile, all k-steps.
template <int HD>
__device__ __forceinline__ void load_a_frags(const uint16_t* tile, int w16, uint32_t (&f)[HD / 16][4]) {
  constexpr int S = row_stride<HD>();
  const int lane = threadIdx.x & 31, g = lane >> 2, t = lane & 3;
#pragma unroll
  for (int kk = 0; kk < HD / 16; ++kk) {
    const uint16_t* r = tile + (w16 + g) * S + kk * 16 + 2 * t;
    f[kk][0] = tc::ld_bf16x2(r);
    f[kk][1] = tc::ld_bf16x2(r + 8 * S);
    f[kk][2] = tc::ld_bf16x2(r + 8);
    f[kk][3] = tc::ld_bf16x2(r + 8 * S + 8);
  }
}

// acc[nt] += A(16 x HD) · tileᵀ for NT column tiles of 8 rows of `tile` ([rows][HD], k = channel),
// starting at tile row c0.
template <int HD, int NT>
__device__ __forceinline__ void mma_rows(AccFrag<NT>& acc, const uint32_t (&a)[HD / 16][4], const uint16_t* tile,
                                         int c0) {
  constexpr int S = row_stride<HD>();
  const int lane = threadIdx.x & 31, g = lane >> 2, t = lane & 3;
#pragma unroll
  for (int kk = 0; kk < HD / 16; ++kk)
#pragma unroll
    for (int nt = 0; nt < NT; ++nt) {
      const uint16_t* r = tile + (c0 + nt * 8 + g) * S + kk * 16 + 2 * t;
      const uint32_t b[2] = {tc::ld_bf16x2(r), tc::ld_bf16x2(r + 8)};
      tc::mma_bf16_16816(acc.v[nt], a[kk], b);
    }
}

// acc (16 x HD) += P(16 x KC) · X where P is a score accumulator (its layout is the A operand's)
// and X is a transposed tile [HD][TS] whose columns k0.. are the sequence positions summed over.
template <int HD, int KC>
__device__ __forceinline__ void mma_pv(AccFrag<HD / 8>& acc, const AccFrag<KC / 8>& pf, const uint16_t* xt, int k0) {
  const auto& p = pf.v;
  const int lane = threadIdx.x & 31, g = lane >> 2, t = lane & 3;
#pragma unroll
  for (int kc = 0; kc < KC / 16; ++kc) {
    const uint32_t a[4] = {tc::pack_bf16x2(p[2 * kc][0], p[2 * kc][1]), tc::pack_bf16x2(p[2 * kc][2], p[2 * kc][3]),
                           tc::pack_bf16x2(p[2 * kc + 1][0], p[2 * kc + 1][1]),
                           tc::pack_bf16x2(p[2 * kc + 1][2], p[2 * kc + 1][3])};
#pragma unroll
    for (int nt = 0; nt < HD / 8; ++nt) {
      const uint16_t* r = xt + (nt * 8 + g) * TS + k0 + kc * 16 + 2 * t;
      const uint32_t b[2] = {tc::ld_bf16x2(r), tc::ld_bf16x2(r + 8)};
      tc::mma_bf16_16816(acc.v[nt], a, b);
    }
  }
}

// rowsum(dO∘O) of one row, fp32 in channel order: the same function in both backward kernels so
// they agree bit for bit.
__device__ __forceinline__ float row_delta(const float* dO, const float* O, int hd) {
  float s = 0.f;
  for (int d = 0; d < hd; ++d) s = fmaf(dO[d], O[d], s);
  return s;
}

template <int HD>
__global__ void __launch_bounds__(THREADS) attn_fwd_kernel(FwdParams p) {
  constexpr int S = row_stride<HD>();
  MVD_SHARED(uint16_t, Qs, TILE * S);
  MVD_SHARED(uint16_t, Ks, TILE * S);
  MVD_SHARED(uint16_t, Vt, HD * TS);
  const Dims dm = p.dm;
  const int N = dm.N, H = dm.H, D = H * HD;
  const int64_t ld = 3 * (int64_t)D;
  const int bh = blockIdx.y, b = bh / H, h = bh % H, q0 = blockIdx.x * TILE;
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31, g = lane >> 2, t = lane & 3;
  const float* base = p.qkv + (int64_t)b * N * ld;

  stage_rows<HD>(Qs, base, ld, h * HD, q0, N);
  __syncthreads();
  uint32_t qf[HD / 16][4];
  load_a_frags<HD>(Qs, warp * 16, qf);

  float m[2] = {-INFINITY, -INFINITY}, l[2] = {0.f, 0.f};
  AccFrag<HD / 8> o;
  o.zero();

  for (int j0 = 0; j0 < N; j0 += TILE) {
    __syncthreads();  // the previous step's K and V are no longer read
    stage_rows<HD>(Ks, base, ld, D + h * HD, j0, N);
    stage_cols<HD>(Vt, base, ld, 2 * D + h * HD, j0, N);
    __syncthreads();
    AccFrag<TILE / 8> s;
    s.zero();
    mma_rows<HD, TILE / 8>(s, qf, Ks, 0);

    float mx[2] = {-INFINITY, -INFINITY};
    s.for_each(t, [&](float& x, int col, int r) {
      x = j0 + col < N ? x * dm.scale_log2 : -INFINITY;
      mx[r] = fmaxf(mx[r], x);
    });
    float alpha[2];
#pragma unroll
    for (int r = 0; r < 2; ++r) {
      // The 4 lanes of a group hold one row between them.
      mx[r] = fmaxf(mx[r], __shfl_xor_sync(0xffffffffu, mx[r], 1));
      mx[r] = fmaxf(mx[r], __shfl_xor_sync(0xffffffffu, mx[r], 2));
      const float mnew = fmaxf(m[r], mx[r]);  // finite: every step has at least one real key
      alpha[r] = exp2f(m[r] - mnew);          // 0 on the first step (m = -inf)
      m[r] = mnew;
      l[r] *= alpha[r];
    }
    s.for_each(t, [&](float& x, int, int r) {
      x = exp2f(x - m[r]);
      l[r] += x;
    });
    o.for_each(t, [&](float& x, int, int r) { x *= alpha[r]; });
    mma_pv<HD, TILE>(o, s, Vt, 0);
  }

#pragma unroll
  for (int r = 0; r < 2; ++r) {
    l[r] += __shfl_xor_sync(0xffffffffu, l[r], 1);
    l[r] += __shfl_xor_sync(0xffffffffu, l[r], 2);
  }
#pragma unroll
  for (int r = 0; r < 2; ++r) {
    const int row = q0 + warp * 16 + g + 8 * r;
    if (row >= N) continue;
    o.store_row(p.out + ((int64_t)b * N + row) * D + h * HD, r, t, 1.f / l[r]);
    if (t == 0) p.lse[(int64_t)bh * N + row] = (m[r] + log2f(l[r])) * kLn2;
  }
}

// dQ for 64 queries of one (batch, head): loops over all key blocks.
template <int HD>
__global__ void __launch_bounds__(THREADS) attn_bwd_dq_kernel(BwdParams p) {
  constexpr int S = row_stride<HD>();
  MVD_SHARED(uint16_t, Ks, TILE * S);
  MVD_SHARED(uint16_t, Vs, TILE * S);
  MVD_SHARED(uint16_t, Kt, HD * TS);
  const Dims dm = p.dm;
  const int N = dm.N, H = dm.H, D = H * HD;
  const int64_t ld = 3 * (int64_t)D;
  const int bh = blockIdx.y, b = bh / H, h = bh % H, q0 = blockIdx.x * TILE;
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31, g = lane >> 2, t = lane & 3;
  const float* base = p.qkv + (int64_t)b * N * ld;
  const float* dobase = p.dout + (int64_t)b * N * D;

  // Q and dO go through the K and V buffers on their way to registers.
  stage_rows<HD>(Ks, base, ld, h * HD, q0, N);
  stage_rows<HD>(Vs, dobase, D, h * HD, q0, N);
  __syncthreads();
  uint32_t qf[HD / 16][4], dof[HD / 16][4];
  load_a_frags<HD>(Ks, warp * 16, qf);
  load_a_frags<HD>(Vs, warp * 16, dof);
  float lse2[2], delta[2];
#pragma unroll
  for (int r = 0; r < 2; ++r) {
    const int row = q0 + warp * 16 + g + 8 * r;
    if (row < N) {
      lse2[r] = p.lse[(int64_t)bh * N + row] * kLog2e;
      const int64_t at = ((int64_t)b * N + row) * D + h * HD;
      delta[r] = row_delta(p.dout + at, p.out + at, HD);
    } else {
      lse2[r] = INFINITY;  // padding rows: P = 0
      delta[r] = 0.f;
    }
  }
  AccFrag<HD / 8> dq;
  dq.zero();

  for (int j0 = 0; j0 < N; j0 += TILE) {
    __syncthreads();
    stage_rows<HD>(Ks, base, ld, D + h * HD, j0, N);
    stage_rows<HD>(Vs, base, ld, 2 * D + h * HD, j0, N);
    stage_cols<HD>(Kt, base, ld, D + h * HD, j0, N);
    __syncthreads();
    AccFrag<TILE / 8> s, dp;
    s.zero();
    dp.zero();
    mma_rows<HD, TILE / 8>(s, qf, Ks, 0);
    mma_rows<HD, TILE / 8>(dp, dof, Vs, 0);
    s.for_each_with(dp, t, [&](float& x, float& dpx, int col, int r) {
      const float pr = j0 + col < N ? exp2f(x * dm.scale_log2 - lse2[r]) : 0.f;
      x = pr * (dpx - delta[r]);  // dS
    });
    mma_pv<HD, TILE>(dq, s, Kt, 0);
  }

  const float scale = dm.scale_log2 / kLog2e;
#pragma unroll
  for (int r = 0; r < 2; ++r) {
    const int row = q0 + warp * 16 + g + 8 * r;
    if (row >= N) continue;
    dq.store_row(p.dqkv + ((int64_t)b * N + row) * ld + h * HD, r, t, scale);
  }
}

// dK and dV for 64 keys of one (batch, head): loops over all query blocks, computing the
// transposed scores Sᵀ = K·Qᵀ so that each warp's rows are its own 16 keys. Queries are taken 32
// at a time inside a staged block of 64 to keep the score accumulators small next to dK and dV.
template <int HD>
__global__ void __launch_bounds__(THREADS) attn_bwd_dkdv_kernel(BwdParams p) {
  constexpr int S = row_stride<HD>();
  constexpr int QC = 32;
  MVD_SHARED(uint16_t, Qs, TILE * S);
  MVD_SHARED(uint16_t, dOs, TILE * S);
  MVD_SHARED(uint16_t, Qt, HD * TS);
  MVD_SHARED(uint16_t, dOt, HD * TS);
  MVD_SHARED(float, lse_s, TILE);
  MVD_SHARED(float, delta_s, TILE);
  const Dims dm = p.dm;
  const int N = dm.N, H = dm.H, D = H * HD;
  const int64_t ld = 3 * (int64_t)D;
  const int bh = blockIdx.y, b = bh / H, h = bh % H, k0 = blockIdx.x * TILE;
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31, g = lane >> 2, t = lane & 3;
  const float* base = p.qkv + (int64_t)b * N * ld;
  const float* dobase = p.dout + (int64_t)b * N * D;

  stage_rows<HD>(Qs, base, ld, D + h * HD, k0, N);
  stage_rows<HD>(dOs, base, ld, 2 * D + h * HD, k0, N);
  __syncthreads();
  uint32_t kf[HD / 16][4], vf[HD / 16][4];
  load_a_frags<HD>(Qs, warp * 16, kf);
  load_a_frags<HD>(dOs, warp * 16, vf);
  AccFrag<HD / 8> dk, dv;
  dk.zero();
  dv.zero();

  for (int i0 = 0; i0 < N; i0 += TILE) {
    __syncthreads();
    stage_rows<HD>(Qs, base, ld, h * HD, i0, N);
    stage_cols<HD>(Qt, base, ld, h * HD, i0, N);
    stage_rows<HD>(dOs, dobase, D, h * HD, i0, N);
    stage_cols<HD>(dOt, dobase, D, h * HD, i0, N);
    for (int r = threadIdx.x; r < TILE; r += THREADS) {
      const int row = i0 + r;
      if (row < N) {
        lse_s[r] = p.lse[(int64_t)bh * N + row] * kLog2e;
        const int64_t at = ((int64_t)b * N + row) * D + h * HD;
        delta_s[r] = row_delta(p.dout + at, p.out + at, HD);
      } else {
        lse_s[r] = INFINITY;  // padding queries: P = 0
        delta_s[r] = 0.f;
      }
    }
    __syncthreads();
#pragma unroll
    for (int c0 = 0; c0 < TILE; c0 += QC) {
      AccFrag<QC / 8> st, dpt;
      st.zero();
      dpt.zero();
      mma_rows<HD, QC / 8>(st, kf, Qs, c0);
      mma_rows<HD, QC / 8>(dpt, vf, dOs, c0);
      st.for_each_with(dpt, t, [&](float& x, float& dx, int col, int) {
        const int q = c0 + col;
        x = exp2f(x * dm.scale_log2 - lse_s[q]);
        dx = x * (dx - delta_s[q]);  // dSᵀ
      });
      mma_pv<HD, QC>(dv, st, dOt, c0);
      mma_pv<HD, QC>(dk, dpt, Qt, c0);
    }
  }

  const float scale = dm.scale_log2 / kLog2e;
#pragma unroll
  for (int r = 0; r < 2; ++r) {
    const int key = k0 + warp * 16 + g + 8 * r;
    if (key >= N) continue;
    float* dkp = p.dqkv + ((int64_t)b * N + key) * ld + D + h * HD;
    dk.store_row(dkp, r, t, scale);
    dv.store_row(dkp + D, r, t, 1.f);
  }
}

// ---- fallback for other head widths: one warp per row, lanes across channels ----
constexpr int kMaxPerLane = (int)(kAttentionMaxHeadDim + 31) / 32;

__device__ __forceinline__ float warp_sum(float v) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  return v;
}

// Loads channel lane + 32·c of a row (0 past hd), rounded to bf16 like the tensor-core path.
__device__ __forceinline__ void load_lane(const float* row, int hd, float (&v)[kMaxPerLane]) {
  const int lane = threadIdx.x & 31;
#pragma unroll
  for (int c = 0; c < kMaxPerLane; ++c) {
    const int d = lane + 32 * c;
    v[c] = d < hd ? tc::bf16_round(row[d]) : 0.f;
  }
}

__device__ __forceinline__ float dot_lane(const float (&a)[kMaxPerLane], const float (&b)[kMaxPerLane]) {
  float s = 0.f;
#pragma unroll
  for (int c = 0; c < kMaxPerLane; ++c) s = fmaf(a[c], b[c], s);
  return warp_sum(s);
}

// One warp per (query row, batch·head); every lane runs the same loop so the shuffles match.
__global__ void attn_fwd_plain(FwdParams p) {
  const int row = blockIdx.x * (blockDim.x / 32) + (threadIdx.x >> 5), bh = blockIdx.y;
  const int lane = threadIdx.x & 31;
  const Dims pd = p.dm;
  const int N = pd.N, H = pd.H, hd = pd.hd, D = H * hd, b = bh / H, h = bh % H;
  const int64_t ld = 3 * (int64_t)D;
  if (row >= N) return;  // a whole warp at once: its shuffles stay complete
  const float* base = p.qkv + (int64_t)b * N * ld;
  float q[kMaxPerLane], k[kMaxPerLane], v[kMaxPerLane], o[kMaxPerLane];
  load_lane(base + (int64_t)row * ld + h * hd, hd, q);
  for (int c = 0; c < kMaxPerLane; ++c) o[c] = 0.f;
  float m = -INFINITY, l = 0.f;
  for (int j = 0; j < N; ++j) {
    load_lane(base + (int64_t)j * ld + D + h * hd, hd, k);
    load_lane(base + (int64_t)j * ld + 2 * D + h * hd, hd, v);
    const float x = dot_lane(q, k) * pd.scale * kLog2e;
    const float mnew = fmaxf(m, x), alpha = exp2f(m - mnew), pr = exp2f(x - mnew);
    l = l * alpha + pr;
    m = mnew;
    const float pb = tc::bf16_round(pr);
    for (int c = 0; c < kMaxPerLane; ++c) o[c] = fmaf(pb, v[c], o[c] * alpha);
  }
  float* dst = p.out + ((int64_t)b * N + row) * D + h * hd;
  for (int c = 0; c < kMaxPerLane; ++c)
    if (lane + 32 * c < hd) dst[lane + 32 * c] = o[c] / l;
  if (lane == 0) p.lse[(int64_t)bh * N + row] = (m + log2f(l)) * kLn2;
}

// mode 0: dQ for query `row`; mode 1: dK and dV for key `row`.
__global__ void attn_bwd_plain(BwdParams p, int mode) {
  const int row = blockIdx.x * (blockDim.x / 32) + (threadIdx.x >> 5), bh = blockIdx.y;
  const int lane = threadIdx.x & 31;
  const Dims pd = p.dm;
  const int N = pd.N, H = pd.H, hd = pd.hd, D = H * hd, b = bh / H, h = bh % H;
  const int64_t ld = 3 * (int64_t)D;
  if (row >= N) return;
  const float* base = p.qkv + (int64_t)b * N * ld;
  const float* dob = p.dout + (int64_t)b * N * D;
  const float* ob = p.out + (int64_t)b * N * D;
  const float* lse = p.lse;
  float x[kMaxPerLane], y[kMaxPerLane], a[kMaxPerLane], c2[kMaxPerLane], acc0[kMaxPerLane], acc1[kMaxPerLane];
  for (int c = 0; c < kMaxPerLane; ++c) acc0[c] = acc1[c] = 0.f;
  if (mode == 0) {
    load_lane(base + (int64_t)row * ld + h * hd, hd, x);  // q
    load_lane(dob + (int64_t)row * D + h * hd, hd, y);    // dO
    const float l2 = lse[(int64_t)bh * N + row] * kLog2e;
    const float delta = row_delta(dob + (int64_t)row * D + h * hd, ob + (int64_t)row * D + h * hd, hd);
    for (int j = 0; j < N; ++j) {
      load_lane(base + (int64_t)j * ld + D + h * hd, hd, a);       // k
      load_lane(base + (int64_t)j * ld + 2 * D + h * hd, hd, c2);  // v
      const float pr = exp2f(dot_lane(x, a) * pd.scale * kLog2e - l2);
      const float ds = tc::bf16_round(pr * (dot_lane(y, c2) - delta));
      for (int c = 0; c < kMaxPerLane; ++c) acc0[c] = fmaf(ds, a[c], acc0[c]);
    }
    float* dst = p.dqkv + ((int64_t)b * N + row) * ld + h * hd;
    for (int c = 0; c < kMaxPerLane; ++c)
      if (lane + 32 * c < hd) dst[lane + 32 * c] = acc0[c] * pd.scale;
  } else {
    load_lane(base + (int64_t)row * ld + D + h * hd, hd, x);      // k
    load_lane(base + (int64_t)row * ld + 2 * D + h * hd, hd, y);  // v
    for (int i = 0; i < N; ++i) {
      load_lane(base + (int64_t)i * ld + h * hd, hd, a);  // q
      load_lane(dob + (int64_t)i * D + h * hd, hd, c2);   // dO
      const float l2 = lse[(int64_t)bh * N + i] * kLog2e;
      const float delta = row_delta(dob + (int64_t)i * D + h * hd, ob + (int64_t)i * D + h * hd, hd);
      const float pr = exp2f(dot_lane(a, x) * pd.scale * kLog2e - l2);
      const float ds = tc::bf16_round(pr * (dot_lane(c2, y) - delta));
      const float pb = tc::bf16_round(pr);
      for (int c = 0; c < kMaxPerLane; ++c) {
        acc0[c] = fmaf(ds, a[c], acc0[c]);   // dK
        acc1[c] = fmaf(pb, c2[c], acc1[c]);  // dV
      }
    }
    float* dk = p.dqkv + ((int64_t)b * N + row) * ld + D + h * hd;
    float* dv = dk + D;
    for (int c = 0; c < kMaxPerLane; ++c)
      if (lane + 32 * c < hd) {
        dk[lane + 32 * c] = acc0[c] * pd.scale;
        dv[lane + 32 * c] = acc1[c];
      }
  }
}

Dims dims_of(const AttentionShape& s) {
  const float scale = (float)(1.0 / std::sqrt((double)s.hd));
  return Dims{(int)s.B, (int)s.N, (int)s.heads, (int)s.hd, scale, scale * kLog2e};
}
constexpr int kPlainWarps = 4;

// Grids: tensor-core kernels take a block per 64 rows, the plain ones a warp per row.
dim3 mma_grid(const AttentionShape& s) { return dim3((unsigned)((s.N + TILE - 1) / TILE), (unsigned)(s.B * s.heads)); }
dim3 plain_grid(const AttentionShape& s) {
  return dim3((unsigned)((s.N + kPlainWarps - 1) / kPlainWarps), (unsigned)(s.B * s.heads));
}

}  // namespace

void attention_forward_cuda(const AttentionShape& s, const float* qkv, float* out, float* lse, cudaStream_t st) {
  if (s.B == 0 || s.N == 0 || s.heads == 0) return;
  const FwdParams p{qkv, out, lse, dims_of(s)};
  const bool mma = attn::with_mma_head_dim(
      s.hd, [&](auto hd) { mvd_launch(attn_fwd_kernel<decltype(hd)::value>, mma_grid(s), dim3(THREADS), 0, st, p); });
  if (!mma) mvd_launch(attn_fwd_plain, plain_grid(s), dim3(32 * kPlainWarps), 0, st, p);
  MVD_CUDA_CHECK_LAUNCH("attentionForward");
}

void attention_backward_cuda(const AttentionShape& s, const float* dout, const float* qkv, const float* out,
                             const float* lse, float* dqkv, cudaStream_t st) {
  if (s.B == 0 || s.N == 0 || s.heads == 0) return;
  const BwdParams p{dout, qkv, out, lse, dqkv, dims_of(s)};
  const bool mma = attn::with_mma_head_dim(s.hd, [&](auto hd) {
    constexpr int HD = decltype(hd)::value;
    mvd_launch(attn_bwd_dkdv_kernel<HD>, mma_grid(s), dim3(THREADS), 0, st, p);
    mvd_launch(attn_bwd_dq_kernel<HD>, mma_grid(s), dim3(THREADS), 0, st, p);
  });
  if (!mma) {
    mvd_launch(attn_bwd_plain, plain_grid(s), dim3(32 * kPlainWarps), 0, st, p, 0);
    mvd_launch(attn_bwd_plain, plain_grid(s), dim3(32 * kPlainWarps), 0, st, p, 1);
  }
  MVD_CUDA_CHECK_LAUNCH("attentionBackward");
}

}  // namespace mvd
