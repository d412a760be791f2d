// Our own blocked GEMM, used when oneDNN is absent. Goto-style: pack a KC-deep slice of A into
// MR-row micro-panels and of B into NR-column micro-panels, then a register-tiled MR x NR kernel
// (GCC vector extensions, so it vectorises for whatever -march the build uses). Correct on any
// shape and stride; on this machine it reaches roughly half of oneDNN (see bench/NOTES.md).
#include <algorithm>
#include <cstring>
#include <vector>

#include "gemm_epilogue.h"

namespace mvd {
namespace {

constexpr int MR = 6;
constexpr int NR = 16;
constexpr int64_t KC = 256;
constexpr int64_t NC = 1024;
constexpr int64_t MC = 96;  // multiple of MR

typedef float v8 __attribute__((vector_size(32)));

inline v8 load8(const float* p) {
  v8 v;
  std::memcpy(&v, p, sizeof(v));
  return v;
}
inline void store8(float* p, v8 v) { std::memcpy(p, &v, sizeof(v)); }

// Element (i, k) of op(A) and (k, j) of op(B).
inline float a_at(const GemmArgs& g, int64_t i, int64_t k) {
  return g.trans_a ? g.A[k * g.lda + i] : g.A[i * g.lda + k];
}
inline float b_at(const GemmArgs& g, int64_t k, int64_t j) {
  return g.trans_b ? g.B[j * g.ldb + k] : g.B[k * g.ldb + j];
}

// Packs rows [i0, i0+MR) x depth [k0, k0+kc) of op(A), zero-padding rows beyond M.
void pack_a_panel(const GemmArgs& g, int64_t i0, int64_t k0, int64_t kc, float* dst) {
  const int64_t rows = std::min<int64_t>(MR, g.M - i0);
  for (int64_t k = 0; k < kc; ++k) {
    float* d = dst + k * MR;
    int64_t r = 0;
    for (; r < rows; ++r) d[r] = a_at(g, i0 + r, k0 + k);
    for (; r < MR; ++r) d[r] = 0.f;
  }
}

void pack_b_panel(const GemmArgs& g, int64_t k0, int64_t kc, int64_t j0, float* dst) {
  const int64_t cols = std::min<int64_t>(NR, g.N - j0);
  if (!g.trans_b && cols == NR) {
    for (int64_t k = 0; k < kc; ++k) std::memcpy(dst + k * NR, g.B + (k0 + k) * g.ldb + j0, NR * sizeof(float));
    return;
  }
  for (int64_t k = 0; k < kc; ++k) {
    float* d = dst + k * NR;
    int64_t c = 0;
    for (; c < cols; ++c) d[c] = b_at(g, k0 + k, j0 + c);
    for (; c < NR; ++c) d[c] = 0.f;
  }
}

// C[0:mr, 0:nr] += alpha * Ap(MR x kc) * Bp(kc x NR)
void micro_kernel(int64_t kc, const float* Ap, const float* Bp, float* C, int64_t ldc, float alpha, int64_t mr,
                  int64_t nr) {
  v8 acc[MR][2];
  for (int r = 0; r < MR; ++r) acc[r][0] = acc[r][1] = v8{};
  for (int64_t k = 0; k < kc; ++k) {
    const v8 b0 = load8(Bp + k * NR), b1 = load8(Bp + k * NR + 8);
    const float* a = Ap + k * MR;
    for (int r = 0; r < MR; ++r) {
      const v8 av = v8{} + a[r];
      acc[r][0] += av * b0;
      acc[r][1] += av * b1;
    }
  }
  if (mr == MR && nr == NR) {
    for (int r = 0; r < MR; ++r) {
      float* c = C + r * ldc;
      store8(c, load8(c) + alpha * acc[r][0]);
      store8(c + 8, load8(c + 8) + alpha * acc[r][1]);
    }
    return;
  }
  float tmp[MR][NR];
  for (int r = 0; r < MR; ++r) {
    store8(tmp[r], acc[r][0]);
    store8(tmp[r] + 8, acc[r][1]);
  }
  for (int64_t r = 0; r < mr; ++r)
    for (int64_t c = 0; c < nr; ++c) C[r * ldc + c] += alpha * tmp[r][c];
}

// C += alpha * op(A) op(B), C already holding beta*C + bias.
void accumulate_product(const GemmArgs& g) {
  const int64_t m_panels = (g.M + MR - 1) / MR;
  // Packed buffers live for the process: no allocation per call once they have grown.
  static thread_local std::vector<float> a_pack, b_pack;
  a_pack.resize((size_t)(m_panels * MR * KC));
  b_pack.resize((size_t)(((NC + NR - 1) / NR) * NR * KC));
  float* Apack = a_pack.data();
  float* Bpack = b_pack.data();

  for (int64_t jc = 0; jc < g.N; jc += NC) {
    const int64_t nc = std::min(NC, g.N - jc);
    const int64_t n_panels = (nc + NR - 1) / NR;
    for (int64_t pc = 0; pc < g.K; pc += KC) {
      const int64_t kc = std::min(KC, g.K - pc);
#pragma omp parallel
      {
#pragma omp for schedule(static) nowait
        for (int64_t q = 0; q < n_panels; ++q) pack_b_panel(g, pc, kc, jc + q * NR, Bpack + q * NR * kc);
#pragma omp for schedule(static)
        for (int64_t p = 0; p < m_panels; ++p) pack_a_panel(g, p * MR, pc, kc, Apack + p * MR * kc);
        // Tiles of MC rows x one NR panel; rows inner so a thread reuses its B panel from L1.
        const int64_t m_blocks = (g.M + MC - 1) / MC;
#pragma omp for collapse(2) schedule(static)
        for (int64_t q = 0; q < n_panels; ++q) {
          for (int64_t mb = 0; mb < m_blocks; ++mb) {
            const int64_t j0 = jc + q * NR;
            const int64_t nr = std::min<int64_t>(NR, g.N - j0);
            const int64_t i_end = std::min(g.M, (mb + 1) * MC);
            for (int64_t i0 = mb * MC; i0 < i_end; i0 += MR) {
              micro_kernel(kc, Apack + (i0 / MR) * MR * kc, Bpack + q * NR * kc, g.C + i0 * g.ldc + j0, g.ldc, g.alpha,
                           std::min<int64_t>(MR, g.M - i0), nr);
            }
          }
        }
      }
    }
  }
}

}  // namespace

void gemm_portable(const GemmArgs& g) {
  if (g.M == 0 || g.N == 0) return;
  gemm_prepare_c(g);
  if (g.K > 0 && g.alpha != 0.f) accumulate_product(g);
  gemm_apply_gelu(g);
}

}  // namespace mvd
