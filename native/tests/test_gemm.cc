#include <omp.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include "../core/errors.h"
#include "../ops/gemm/gemm.h"
#include "build_config.h"
#include "check.h"

using namespace mvd;
using namespace mvdtest;

// Runs one backend on an awkward shape with transposes, alpha/beta and bias, against float64.
static void check_gemm(void (*fn)(const GemmArgs&), int64_t M, int64_t N, int64_t K, bool ta, bool tb, float alpha,
                       float beta, bool with_bias) {
  auto A = randn((size_t)(M * K), 1 + M), B = randn((size_t)(K * N), 2 + N), bias = randn((size_t)N, 3);
  auto C0 = randn((size_t)(M * N), 4);
  std::vector<float> C = beta == 0.f ? poisoned((size_t)(M * N)) : C0;
  GemmArgs g;
  g.trans_a = ta;
  g.trans_b = tb;
  g.M = M;
  g.N = N;
  g.K = K;
  g.alpha = alpha;
  g.beta = beta;
  gemm_set_dense_strides(g);
  g.A = A.data();
  g.B = B.data();
  g.C = C.data();
  g.bias = with_bias ? bias.data() : nullptr;
  fn(g);
  std::vector<double> ref((size_t)(M * N));
  for (int64_t i = 0; i < M; ++i)
    for (int64_t j = 0; j < N; ++j) {
      double s = 0;
      for (int64_t k = 0; k < K; ++k) {
        double a = ta ? A[k * M + i] : A[i * K + k];
        double b = tb ? B[j * K + k] : B[k * N + j];
        s += a * b;
      }
      ref[i * N + j] = alpha * s + (beta == 0.f ? 0.0 : beta * (double)C0[i * N + j]) + (with_bias ? bias[j] : 0.0);
    }
  double err = max_rel_err(C.data(), ref.data(), ref.size());
  // fp32 accumulation over K terms of unit-variance products: error grows like sqrt(K) * 2^-24.
  double tol = 1e-5 * std::sqrt((double)K + 1) * 4;
  if (!(err <= tol))
    fail("M=" + std::to_string(M) + " N=" + std::to_string(N) + " K=" + std::to_string(K) +
         " ta=" + std::to_string(ta) + " tb=" + std::to_string(tb) + " err=" + std::to_string(err));
}

static void sweep(void (*fn)(const GemmArgs&)) {
  const int64_t dims[][3] = {{1, 1, 1},     {7, 33, 129},  {33, 7, 1},  {129, 31, 33},
                             {1, 768, 768}, {160, 96, 64}, {5, 17, 300}};
  for (auto& d : dims)
    for (int ta = 0; ta < 2; ++ta)
      for (int tb = 0; tb < 2; ++tb) check_gemm(fn, d[0], d[1], d[2], ta, tb, 1.f, 0.f, ta == tb);
  check_gemm(fn, 33, 65, 47, false, false, 0.5f, 1.f, true);
  check_gemm(fn, 33, 65, 47, true, false, -2.f, 0.25f, false);
  check_gemm(fn, 1568, 768, 96, false, true, 1.f, 0.f, true);
}

MVD_TEST(gemm_portable_matches_float64) { sweep(gemm_portable); }
MVD_TEST(gemm_cpu_matches_float64) { sweep(gemm_cpu); }
// Shapes big enough for the per-thread column split of the oneDNN path (gemm_onednn.cc), with a
// ragged last column block, both transposes, beta != 0 and bias.
MVD_TEST(gemm_cpu_column_split_matches_float64) {
  check_gemm(gemm_cpu, 320, 200, 384, false, false, 1.f, 0.f, true);
  check_gemm(gemm_cpu, 97, 777, 300, true, true, 0.75f, 0.5f, true);
  check_gemm(gemm_cpu, 321, 129, 512, true, false, 1.f, 1.f, false);
}
MVD_TEST(gemm_k_zero_gives_beta_c_plus_bias) {
  for (auto fn : {gemm_portable, gemm_cpu}) check_gemm(fn, 3, 5, 0, false, false, 1.f, 0.5f, true);
}

// The fused GELU epilogue: C keeps the pre-activation, gelu_out = x·Φ(x) of it (float64 reference),
// on both backends and on the column-split path.
static void check_gemm_gelu(void (*fn)(const GemmArgs&), int64_t M, int64_t N, int64_t K) {
  auto A = randn((size_t)(M * K), 11), B = randn((size_t)(K * N), 12), bias = randn((size_t)N, 13);
  std::vector<float> C = poisoned((size_t)(M * N)), G = poisoned((size_t)(M * N));
  GemmArgs g;
  g.trans_b = true;
  g.M = M;
  g.N = N;
  g.K = K;
  gemm_set_dense_strides(g);
  g.A = A.data();
  g.B = B.data();
  g.C = C.data();
  g.bias = bias.data();
  g.gelu_out = G.data();
  fn(g);
  std::vector<double> pre((size_t)(M * N)), act((size_t)(M * N));
  for (int64_t i = 0; i < M; ++i)
    for (int64_t j = 0; j < N; ++j) {
      double s = bias[j];
      for (int64_t k = 0; k < K; ++k) s += (double)A[i * K + k] * B[j * K + k];
      pre[i * N + j] = s;
      act[i * N + j] = 0.5 * s * (1.0 + std::erf(s / std::sqrt(2.0)));
    }
  double tol = 1e-5 * std::sqrt((double)K + 1) * 4;
  double e1 = max_rel_err(C.data(), pre.data(), pre.size()), e2 = max_rel_err(G.data(), act.data(), act.size());
  if (!(e1 <= tol && e2 <= tol))
    fail("gelu epilogue M=" + std::to_string(M) + " N=" + std::to_string(N) + " K=" + std::to_string(K) +
         " pre err=" + std::to_string(e1) + " gelu err=" + std::to_string(e2));
}

MVD_TEST(gemm_gelu_epilogue_matches_float64) {
  for (auto fn : {gemm_portable, gemm_cpu}) {
    check_gemm_gelu(fn, 1, 7, 5);
    check_gemm_gelu(fn, 33, 65, 47);
    check_gemm_gelu(fn, 320, 200, 384);
  }
}

// C = A·op(B) + bias through a packed buffer alone (g.B null, so a fallback to the plain GEMM would
// crash instead of passing), and its largest error against float64 on operands passed through
// `round` (identity for fp32 packs, bf16 rounding for bf16 packs).
template <typename Round>
static double packed_product_error(const float* p, int64_t floats, const std::vector<float>& B, bool tb, int64_t M,
                                   int64_t N, int64_t K, uint64_t seed, Round round) {
  auto A = randn((size_t)(M * K), seed), bias = randn((size_t)N, seed + 1);
  auto C = poisoned((size_t)(M * N));
  GemmArgs g;
  g.trans_b = tb;
  g.M = M;
  g.N = N;
  g.K = K;
  gemm_set_dense_strides(g);
  g.A = A.data();
  g.B = nullptr;
  g.C = C.data();
  g.bias = bias.data();
  gemm_cpu_packed(g, p, floats);
  double err = 0;
  for (int64_t i = 0; i < M; ++i)
    for (int64_t j = 0; j < N; ++j) {
      double s = bias[j];
      for (int64_t kk = 0; kk < K; ++kk) s += round(A[i * K + kk]) * round(tb ? B[j * K + kk] : B[kk * N + j]);
      err = std::max(err, std::fabs(C[i * N + j] - s) / (1 + std::fabs(s)));
    }
  return err;
}

// Packed weights, packed under one thread count and multiplied under another, with g.B null so a
// fallback to the plain GEMM would crash instead of passing: the packed path itself is checked.
MVD_TEST(gemm_packed_weights_across_thread_counts) {
  // Built with the pack API exactly when the build says so; without it there is nothing to test.
  const bool can_pack = std::strstr(MVD_GEMM_DETAIL, "packed weights") != nullptr;
  CHECK((gemm_pack_b_floats(64, 64, true, 1) > 0) == can_pack);
  if (!can_pack) return;
  const int saved = omp_get_max_threads();
  const int64_t N = 300, K = 129;
  for (int pack_threads : {1, 2, 3})
    for (int run_threads : {1, 2, 4})
      for (bool tb : {true, false}) {
        auto B = randn((size_t)(N * K), 7 + pack_threads);
        omp_set_num_threads(pack_threads);
        const int blocks = gemm_pack_b_blocks(N);
        const int64_t floats = gemm_pack_b_floats(N, K, tb, blocks);
        CHECK(floats > N * K);
        std::vector<float> P((size_t)floats + 16);
        // The packs want 64-byte alignment, as the tensor storage gives them.
        float* p = P.data() + (16 - ((uintptr_t)P.data() / 4) % 16) % 16;
        gemm_pack_b(B.data(), tb ? K : N, tb, N, K, blocks, p, floats);
        int64_t n = 0, k = 0;
        bool t = !tb;
        CHECK(gemm_packed_b_shape(p, floats, n, k, t) && n == N && k == K && t == tb);
        omp_set_num_threads(run_threads);
        for (int64_t M : {1, 33, 160}) {
          const double err = packed_product_error(p, floats, B, tb, M, N, K, 11 + M, [](float x) { return (double)x; });
          if (!(err <= 1e-5 * std::sqrt((double)K + 1) * 4))
            fail("pack threads " + std::to_string(pack_threads) + ", run threads " + std::to_string(run_threads) +
                 ", M " + std::to_string(M) + ": err " + std::to_string(err));
        }
      }
  omp_set_num_threads(saved);
}

// bf16 weights: packed once, multiplied at several row counts and thread counts with g.B null,
// against float64 on the bf16-rounded operands (so only fp32 accumulation separates them); and the
// products they cannot serve are refused rather than computed from weights that are not there.
static double round_bf16(float x) {
  uint32_t u;
  std::memcpy(&u, &x, 4);
  u = ((u + 0x7fffu + ((u >> 16) & 1u)) >> 16) << 16;
  float r;
  std::memcpy(&r, &u, 4);
  return r;
}

MVD_TEST(gemm_bf16_weights_against_rounded_float64) {
  if (!gemm_bf16_unavailable_reason().empty()) return;  // no AVX512-BF16 here: the TS tests say so by name
  const int saved = omp_get_max_threads();
  const int64_t N = 200, K = 96;
  for (bool tb : {true, false}) {
    auto B = randn((size_t)(N * K), 21);
    const int64_t floats = gemm_pack_b_bf16_floats(N, K);
    CHECK(floats > 0 && floats < N * K);
    std::vector<float> P((size_t)floats + 16);
    float* p = P.data() + (16 - ((uintptr_t)P.data() / 4) % 16) % 16;
    gemm_pack_b_bf16(B.data(), tb ? K : N, tb, N, K, p, floats);
    int64_t n = 0, k = 0;
    bool t = !tb, bf16 = false;
    CHECK(gemm_packed_b_info(p, floats, n, k, t, bf16) && bf16 && n == N && k == K && t == tb);
    for (int run_threads : {1, 2})
      for (int64_t M : {1, 33, 160}) {
        omp_set_num_threads(run_threads);
        const double err = packed_product_error(p, floats, B, tb, M, N, K, 31 + M, round_bf16);
        if (!(err <= 1e-5 * std::sqrt((double)K + 1) * 4))
          fail("bf16 tb " + std::to_string(tb) + ", M " + std::to_string(M) + ", threads " +
               std::to_string(run_threads) + ": err " + std::to_string(err));
        auto A = randn((size_t)(M * K), 41);
        auto C = poisoned((size_t)(M * N));
        GemmArgs scaled;
        scaled.trans_b = tb;
        scaled.M = M;
        scaled.N = N;
        scaled.K = K;
        scaled.alpha = 2.f;
        gemm_set_dense_strides(scaled);
        scaled.A = A.data();
        scaled.C = C.data();
        bool refused = false;
        try {
          gemm_cpu_packed(scaled, p, floats);
        } catch (const OpError&) { refused = true; }
        CHECK(refused);
      }
  }
  omp_set_num_threads(saved);
}
