// CPU attention: every product is a small tile GEMM with a register-tiled MR x 16 kernel (GCC vector
// extensions, like gemm_portable) on 64x64 tiles. Compiled twice (native/core/isa.h): 8-lane
// vectors and MR = 6 for AVX2, 16-lane vectors and MR = 12 for AVX-512, same code. The forward
// reads K and V in place from qkv and transposes only its own Q tile; the backward copies a head's
// Q and dO once, and each key tile once, into zero-padded per-thread buffers. Copies cost O(N·hd)
// against O(N²·hd) arithmetic and buy unit strides and padding, so odd N and any hd <= 128 run
// through the same full-width code.
#include <algorithm>
#include <array>
#include <cmath>
#include <cstring>
#include <utility>
#include <vector>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "attention.h"
#include "../../core/isa_target.h"  // last: see isa.h

namespace mvd {
namespace MVD_ISA_NS {
namespace {

constexpr int VW = MVD_ISA_LEVEL == 4 ? 16 : 8;  // float lanes per vector
constexpr int64_t BLK = 64;                      // query rows and key columns per tile; a multiple of NR and VW
// Rows per micro-tile: enough independent accumulators (MR · NR / VW) to cover the FMA latency of
// two pipes, within 16 (AVX2) or 32 (AVX-512) vector registers.
constexpr int MR = VW == 16 ? 12 : 6;
constexpr int NR = 16;
constexpr int NV = NR / VW;  // vectors per micro-tile row

typedef float vf __attribute__((vector_size(VW * 4)));
typedef int32_t vi __attribute__((vector_size(VW * 4)));

inline vf loadv(const float* p) {
  vf v;
  std::memcpy(&v, p, sizeof(v));
  return v;
}
inline void storev(float* p, vf v) { std::memcpy(p, &v, sizeof(v)); }
// x - 0 is x for every x (also -0), so this folds to a broadcast; vf{} + x would not (0 + -0 = +0).
inline vf splat(float x) { return x - vf{}; }
inline int64_t round16(int64_t x) { return (x + 15) & ~int64_t(15); }

// exp for one vector. std::exp does not vectorise without -ffast-math, and the exponentials are a
// third of the work at hd = 64. Range reduction x = n·ln2 + r with ln2 split in two so n·ln2_hi
// is exact, then a degree-7 series for e^r on |r| <= ln2/2 (about 1 ulp). Inputs below -87.3
// (including -inf) give exactly 0: those are beneath float's normal range anyway.
inline vf expv(vf x) {
  const vi tiny = x < splat(-87.3f);
  vf xc = x > splat(88.3f) ? splat(88.3f) : x;
  xc = xc < splat(-87.3f) ? splat(-87.3f) : xc;
  // Adding 1.5·2^23 rounds to the nearest integer in the low mantissa bits.
  const vf t = xc * 1.44269504088896341f + 12582912.f;
  const vf n = t - 12582912.f;
  vf r = xc - n * 0.693359375f;
  r = r + n * 2.12194440e-4f;
  vf p = splat(1.9875691500e-4f);
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  const vf y = (r * r) * p + r + 1.f;
  const vi bits = (__builtin_convertvector(n, vi) + 127) << 23;
  vf two_n;
  std::memcpy(&two_n, &bits, sizeof(two_n));
  const vf e = y * two_n;
  return tiny ? splat(0.f) : e;
}

// C[0:M, 0:16] (+)= Σ_k A(r, k) · B[k, 0:16], with A(r, k) = A[r·ars + k·aks] so one kernel serves
// both A and Aᵀ (the backward's Pᵀ·dO and dSᵀ·Q). `Acc` is a template argument so that the zeroing
// path needs no branch and GCC keeps all the accumulators in registers.
template <int M, bool Acc>
inline void micro(int64_t K, const float* A, int64_t ars, int64_t aks, const float* B, int64_t ldb, float* C,
                  int64_t ldc) {
  vf c[M][NV];
#pragma GCC unroll 12
  for (int r = 0; r < M; ++r)
    for (int v = 0; v < NV; ++v) c[r][v] = Acc ? loadv(C + r * ldc + v * VW) : vf{};
  for (int64_t k = 0; k < K; ++k) {
    vf b[NV];
    for (int v = 0; v < NV; ++v) b[v] = loadv(B + k * ldb + v * VW);
    const float* a = A + k * aks;
#pragma GCC unroll 12
    for (int r = 0; r < M; ++r) {
      const vf av = splat(a[r * ars]);
      for (int v = 0; v < NV; ++v) c[r][v] += av * b[v];
    }
  }
#pragma GCC unroll 12
  for (int r = 0; r < M; ++r)
    for (int v = 0; v < NV; ++v) storev(C + r * ldc + v * VW, c[r][v]);
}

using MicroFn = void (*)(int64_t, const float*, int64_t, int64_t, const float*, int64_t, float*, int64_t);
// micro<1..MR-1>: the last rows of a tile, indexed by their count - 1.
template <bool Acc, int... Ms>
constexpr std::array<MicroFn, sizeof...(Ms)> tail_kernels(std::integer_sequence<int, Ms...>) {
  return {&micro<Ms + 1, Acc>...};
}

// C[M, N] (+)= op(A)[M, K] · B[K, N] for any M and N a multiple of 16. Column panels outer, so a
// K x 16 panel of B stays in L1 while every row block streams past it.
template <bool Acc>
void tile_mm_impl(int64_t M, int64_t N, int64_t K, const float* A, int64_t ars, int64_t aks, const float* B,
                  int64_t ldb, float* C, int64_t ldc) {
  static constexpr auto tails = tail_kernels<Acc>(std::make_integer_sequence<int, MR - 1>{});
  for (int64_t j = 0; j < N; j += NR) {
    int64_t i = 0;
    for (; i + MR <= M; i += MR) micro<MR, Acc>(K, A + i * ars, ars, aks, B + j, ldb, C + i * ldc + j, ldc);
    if (i < M) tails[M - i - 1](K, A + i * ars, ars, aks, B + j, ldb, C + i * ldc + j, ldc);
  }
}

void tile_mm(int64_t M, int64_t N, int64_t K, const float* A, int64_t ars, int64_t aks, const float* B, int64_t ldb,
             float* C, int64_t ldc, bool accumulate) {
  if (accumulate) tile_mm_impl<true>(M, N, K, A, ars, aks, B, ldb, C, ldc);
  else tile_mm_impl<false>(M, N, K, A, ars, aks, B, ldb, C, ldc);
}

// Columns [bc, BLK) of a key tile are padding: they must be finite for the products and zero in
// every probability row.
inline void zero_pad_cols(float* row, int64_t bc) {
  for (int64_t c = bc; c < BLK; ++c) row[c] = 0.f;
}

// Key tile j0..j0+bc of head h, transposed: Kt[d·BLK + c] = k[j0 + c][d]; padding columns zero.
void load_transposed(const float* base, int64_t ld, int64_t off, int64_t j0, int64_t bc, int64_t hd, float* Kt) {
  for (int64_t c = 0; c < BLK; ++c) {
    if (c < bc) {
      const float* src = base + (j0 + c) * ld + off;
      for (int64_t d = 0; d < hd; ++d) Kt[d * BLK + c] = src[d];
    } else {
      for (int64_t d = 0; d < hd; ++d) Kt[d * BLK + c] = 0.f;
    }
  }
}

// Rows j0..j0+BLK of a head slice into a [BLK, hdp] tile; padding rows and columns zero.
void load_rows(const float* base, int64_t ld, int64_t off, int64_t j0, int64_t rows, int64_t n_valid, int64_t hd,
               int64_t hdp, float* T) {
  for (int64_t c = 0; c < rows; ++c) {
    float* dst = T + c * hdp;
    int64_t d = 0;
    if (c < n_valid) {
      std::memcpy(dst, base + (j0 + c) * ld + off, (size_t)hd * sizeof(float));
      d = hd;
    }
    for (; d < hdp; ++d) dst[d] = 0.f;
  }
}

float* grow(std::vector<float>& v, size_t n) {
  if (v.size() < n) v.resize(n);
  return v.data();
}

}  // namespace

void attention_forward_cpu(const AttentionShape& s, const float* qkv, float* out, float* lse) {
  const int64_t B = s.B, N = s.N, H = s.heads, hd = s.hd, D = s.D(), ld = 3 * D, hdp = round16(hd);
  if (B == 0 || N == 0 || H == 0) return;
  const int64_t nqb = (N + BLK - 1) / BLK;
  const float scale = (float)(1.0 / std::sqrt((double)hd));
  // The scores are computed transposed, Sᵀ = K·Qᵀ (keys down, queries across): Q is transposed
  // once per task, K and V are read in place from qkv (V is copied only when hd is not a multiple
  // of 16), and the softmax statistics of VW queries sit in one vector.
  const bool v_in_place = hd == hdp;
#pragma omp parallel
  {
    static thread_local std::vector<float> scratch;
    float* Qt = grow(scratch, (size_t)(3 * BLK * hdp + BLK * BLK + 2 * BLK));
    float* V = Qt + BLK * hdp;  // [BLK, hdp], only for hd % 16 != 0
    float* O = V + BLK * hdp;   // [BLK, hdp] unnormalised output
    float* St = O + BLK * hdp;  // [BLK keys, BLK queries] scores, then probabilities
    float* m = St + BLK * BLK;  // running max per query
    float* l = m + BLK;         // running sum per query
#pragma omp for collapse(3) schedule(static)
    for (int64_t b = 0; b < B; ++b)
      for (int64_t h = 0; h < H; ++h)
        for (int64_t qb = 0; qb < nqb; ++qb) {
          const float* base = qkv + b * N * ld;
          const int64_t i0 = qb * BLK, br = std::min(BLK, N - i0);
          load_transposed(base, ld, h * hd, i0, br, hd, Qt);
          for (int64_t r = 0; r < BLK; ++r) {
            m[r] = -INFINITY;
            l[r] = 0.f;
          }
          std::memset(O, 0, sizeof(float) * (size_t)(br * hdp));
          for (int64_t j0 = 0; j0 < N; j0 += BLK) {
            const int64_t bc = std::min(BLK, N - j0);
            const float* Kj = base + j0 * ld + D + h * hd;
            const float* Vj = base + j0 * ld + 2 * D + h * hd;
            int64_t ldv = ld;
            if (!v_in_place) {
              load_rows(base, ld, 2 * D + h * hd, j0, bc, bc, hd, hdp, V);
              Vj = V;
              ldv = hdp;
            }
            tile_mm(bc, BLK, hd, Kj, ld, 1, Qt, BLK, St, BLK, false);
            for (int64_t c = 0; c < BLK; c += VW) {
              vf mx = loadv(m + c);
              for (int64_t j = 0; j < bc; ++j) {
                const vf x = loadv(St + j * BLK + c) * scale;
                storev(St + j * BLK + c, x);
                mx = x > mx ? x : mx;
              }
              const vf alpha = expv(loadv(m + c) - mx);  // 0 on the first tile (m = -inf)
              vf sum = vf{};
              for (int64_t j = 0; j < bc; ++j) {
                const vf p = expv(loadv(St + j * BLK + c) - mx);
                storev(St + j * BLK + c, p);
                sum += p;
              }
              storev(l + c, loadv(l + c) * alpha + sum);
              storev(m + c, mx);
              for (int r = 0; r < VW && c + r < br; ++r) {
                float* o = O + (c + r) * hdp;
                const float a = alpha[r];
                for (int64_t d = 0; d < hdp; ++d) o[d] *= a;
              }
            }
            tile_mm(br, hdp, bc, St, 1, BLK, Vj, ldv, O, hdp, true);
          }
          float* lse_bh = lse + (b * H + h) * N;
          for (int64_t r = 0; r < br; ++r) {
            const float inv = 1.f / l[r];
            float* dst = out + (b * N + i0 + r) * D + h * hd;
            const float* o = O + r * hdp;
            for (int64_t d = 0; d < hd; ++d) dst[d] = o[d] * inv;
            lse_bh[i0 + r] = m[r] + std::log(l[r]);
          }
        }
  }
}

void attention_backward_cpu(const AttentionShape& s, const float* dout, const float* qkv, const float* out,
                            const float* lse, float* dqkv) {
  const int64_t B = s.B, N = s.N, H = s.heads, hd = s.hd, D = s.D(), ld = 3 * D, hdp = round16(hd);
  if (B == 0 || N == 0 || H == 0) return;
  const int64_t nblk = (N + BLK - 1) / BLK, Np = nblk * BLK, BH = B * H;
  const float scale = (float)(1.0 / std::sqrt((double)hd));
#ifdef _OPENMP
  const int64_t threads = omp_get_max_threads();
#else
  const int64_t threads = 1;
#endif
  // With fewer (batch, head) pairs than threads, the key blocks of a head are split over G tasks;
  // dK and dV of a key block stay with one task, but dQ then gets contributions from G tasks and
  // is summed with atomics into a zeroed output.
  const int64_t G = std::min(nblk, std::max<int64_t>(1, (2 * threads + BH - 1) / BH));
  if (G > 1) {
#pragma omp parallel for schedule(static)
    for (int64_t t = 0; t < B * N; ++t)
      for (int64_t h = 0; h < H; ++h) std::memset(dqkv + t * ld + h * hd, 0, sizeof(float) * (size_t)hd);
  }
#pragma omp parallel
  {
    static thread_local std::vector<float> scratch;
    float* Qc = grow(scratch, (size_t)(3 * Np * hdp + 2 * Np + 5 * BLK * hdp + 2 * BLK * BLK));
    float* dOc = Qc + Np * hdp;   // dO of this head, [Np, hdp]
    float* dQc = dOc + Np * hdp;  // unscaled dQ accumulator
    float* Dv = dQc + Np * hdp;   // rowsum(dO ∘ O)
    float* L = Dv + Np;           // lse
    float* Kt = L + Np;           // [hdp, BLK]
    float* Vt = Kt + BLK * hdp;   // [hdp, BLK]
    float* Ks = Vt + BLK * hdp;   // [BLK, hdp]
    float* dK = Ks + BLK * hdp;   // [BLK, hdp]
    float* dV = dK + BLK * hdp;   // [BLK, hdp]
    float* P = dV + BLK * hdp;    // [BLK, BLK]
    float* dS = P + BLK * BLK;    // [BLK, BLK] dP, then dS in place
#pragma omp for collapse(2) schedule(dynamic, 1)
    for (int64_t bh = 0; bh < BH; ++bh)
      for (int64_t g = 0; g < G; ++g) {
        const int64_t b = bh / H, h = bh % H;
        const float* base = qkv + b * N * ld;
        const float* obase = out + b * N * D;
        const float* dobase = dout + b * N * D;
        const float* lse_bh = lse + bh * N;
        load_rows(base, ld, h * hd, 0, Np, N, hd, hdp, Qc);
        load_rows(dobase, D, h * hd, 0, Np, N, hd, hdp, dOc);
        std::memset(dQc, 0, sizeof(float) * (size_t)(Np * hdp));
        for (int64_t i = 0; i < N; ++i) {
          const float* o = obase + i * D + h * hd;
          const float* d_o = dOc + i * hdp;
          double acc = 0;
          for (int64_t d = 0; d < hd; ++d) acc += (double)d_o[d] * o[d];
          Dv[i] = (float)acc;
          L[i] = lse_bh[i];
        }
        const int64_t kb_begin = g * nblk / G, kb_end = (g + 1) * nblk / G;
        for (int64_t kb = kb_begin; kb < kb_end; ++kb) {
          const int64_t j0 = kb * BLK, bc = std::min(BLK, N - j0);
          load_transposed(base, ld, D + h * hd, j0, bc, hd, Kt);
          load_transposed(base, ld, 2 * D + h * hd, j0, bc, hd, Vt);
          load_rows(base, ld, D + h * hd, j0, BLK, bc, hd, hdp, Ks);
          std::memset(dK, 0, sizeof(float) * (size_t)(BLK * hdp));
          std::memset(dV, 0, sizeof(float) * (size_t)(BLK * hdp));
          for (int64_t i0 = 0; i0 < N; i0 += BLK) {
            const int64_t br = std::min(BLK, N - i0);
            const float* Qi = Qc + i0 * hdp;
            const float* dOi = dOc + i0 * hdp;
            tile_mm(br, BLK, hd, Qi, hdp, 1, Kt, BLK, P, BLK, false);
            tile_mm(br, BLK, hd, dOi, hdp, 1, Vt, BLK, dS, BLK, false);
            for (int64_t r = 0; r < br; ++r) {
              float* prow = P + r * BLK;
              float* dsrow = dS + r * BLK;
              const float li = L[i0 + r], di = Dv[i0 + r];
              for (int64_t c = 0; c < BLK; c += VW) {
                const vf p = expv(loadv(prow + c) * scale - li);
                storev(prow + c, p);
                storev(dsrow + c, p * (loadv(dsrow + c) - di));
              }
              if (bc < BLK) {
                zero_pad_cols(prow, bc);
                zero_pad_cols(dsrow, bc);
              }
            }
            tile_mm(bc, hdp, br, P, 1, BLK, dOi, hdp, dV, hdp, true);
            tile_mm(br, hdp, bc, dS, BLK, 1, Ks, hdp, dQc + i0 * hdp, hdp, true);
            tile_mm(bc, hdp, br, dS, 1, BLK, Qi, hdp, dK, hdp, true);
          }
          float* dbase = dqkv + b * N * ld;
          for (int64_t c = 0; c < bc; ++c) {
            float* dk = dbase + (j0 + c) * ld + D + h * hd;
            float* dv = dbase + (j0 + c) * ld + 2 * D + h * hd;
            for (int64_t d = 0; d < hd; ++d) {
              dk[d] = dK[c * hdp + d] * scale;
              dv[d] = dV[c * hdp + d];
            }
          }
        }
        float* dbase = dqkv + b * N * ld;
        for (int64_t i = 0; i < N; ++i) {
          float* dq = dbase + i * ld + h * hd;
          const float* src = dQc + i * hdp;
          if (G == 1) {
            for (int64_t d = 0; d < hd; ++d) dq[d] = src[d] * scale;
          } else {
            for (int64_t d = 0; d < hd; ++d) {
#pragma omp atomic
              dq[d] += src[d] * scale;
            }
          }
        }
      }
  }
}

}  // namespace MVD_ISA_NS
}  // namespace mvd
