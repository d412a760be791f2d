// gemm_cuda against float64, through the CUDA runtime API so the same file runs on a GPU. Under
// the emulator (MVD_SIMT) each case also runs under a second and third thread schedule and must
// give identical bits. Tolerance (docs/CUDA.md "Numerics"): error vs float64 at most 2x that of a
// naive loop over bf16-rounded operands with fp32 accumulation.
#include "../ops/gemm/gemm.h"
#if MVD_SIMT || MVD_HAVE_CUDA
#include <cuda_runtime.h>

#include <cstdlib>
#include <cstring>

#include "check.h"
#include "cuda_harness.h"
#if MVD_SIMT
#include "../simt/emu.h"
#endif

using namespace mvd;
using namespace mvdtest;

namespace {

// Schedules to run each case under; a GPU has only its own.
int n_schedules() {
#if MVD_SIMT
  return 3;
#else
  return 1;
#endif
}
void use_schedule(int i) {
#if MVD_SIMT
  const simt::Schedule s[] = {simt::Schedule::Forward, simt::Schedule::Reverse, simt::Schedule::Shuffle};
  simt::set_schedule(s[i], 12345);
#else
  (void)i;
#endif
}
void reset_schedule() { use_schedule(0); }

// MVD_TEST_VERBOSE=1 prints each comparison (kernel error, naive error) to see the margins.
void expect_close_v(const std::string& what, double err, double naive, double factor, double floor) {
  static const bool verbose = std::getenv("MVD_TEST_VERBOSE") != nullptr;
  if (verbose) std::printf("  %-48s err %.3g naive %.3g\n", what.c_str(), err, naive);
  mvdtest::expect_close(what, err, naive, factor, floor);
}

bool same_bits(const std::vector<float>& a, const std::vector<float>& b) {
  return a.size() == b.size() && (a.empty() || std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0);
}

double gelu_d(double x) { return 0.5 * x * (1.0 + std::erf(x / std::sqrt(2.0))); }
float gelu_f(float x) { return 0.5f * x * (1.f + std::erf(x * 0.70710678118654752f)); }

struct GemmCase {
  int64_t M, N, K;
  bool ta, tb;
  float alpha = 1.f, beta = 0.f;
  bool bias = false, gelu = false;
  int64_t pad = 0;  // extra elements per stored row of A, B and C (non-dense leading dimensions)
};

std::string name(const GemmCase& c) {
  return "M=" + std::to_string(c.M) + " N=" + std::to_string(c.N) + " K=" + std::to_string(c.K) +
         " ta=" + std::to_string(c.ta) + " tb=" + std::to_string(c.tb) + " beta=" + std::to_string(c.beta) +
         (c.bias ? " bias" : "") + (c.gelu ? " gelu" : "") + " pad=" + std::to_string(c.pad);
}

void run_case(const GemmCase& c, int schedules) {
  GemmArgs g;
  g.trans_a = c.ta;
  g.trans_b = c.tb;
  g.M = c.M;
  g.N = c.N;
  g.K = c.K;
  g.alpha = c.alpha;
  g.beta = c.beta;
  gemm_set_dense_strides(g);
  g.lda += c.pad;
  g.ldb += c.pad;
  g.ldc += c.pad;
  const int64_t a_rows = c.ta ? c.K : c.M, b_rows = c.tb ? c.N : c.K;
  const size_t na = (size_t)(a_rows * g.lda), nb = (size_t)(b_rows * g.ldb), nc = (size_t)(c.M * g.ldc);
  const auto A = randn(na, 11 + c.M), B = randn(nb, 12 + c.N), bias = randn((size_t)c.N, 13), C0 = randn(nc, 14);
  auto at = [&](int64_t i, int64_t k) { return c.ta ? A[k * g.lda + i] : A[i * g.lda + k]; };
  auto bt = [&](int64_t k, int64_t j) { return c.tb ? B[j * g.ldb + k] : B[k * g.ldb + j]; };

  std::vector<double> ref((size_t)(c.M * c.N)), gref(ref.size());
  std::vector<float> naive(ref.size()), gnaive(ref.size());
  for (int64_t i = 0; i < c.M; ++i)
    for (int64_t j = 0; j < c.N; ++j) {
      double s = 0;
      float sf = 0.f;
      for (int64_t k = 0; k < c.K; ++k) {
        s += (double)at(i, k) * bt(k, j);
        sf = std::fma(bf16r(at(i, k)), bf16r(bt(k, j)), sf);
      }
      const float c0 = C0[i * g.ldc + j];
      double r = c.alpha * s + (c.beta != 0.f ? c.beta * (double)c0 : 0.0) + (c.bias ? bias[j] : 0.0);
      float rf = c.alpha * sf;
      if (c.beta != 0.f) rf += c.beta * c0;
      if (c.bias) rf += bias[j];
      ref[i * c.N + j] = r;
      gref[i * c.N + j] = gelu_d(r);
      naive[i * c.N + j] = rf;
      gnaive[i * c.N + j] = gelu_f(rf);
    }
  const double naive_err = max_rel_err(naive.data(), ref.data(), ref.size());
  const double gnaive_err = max_rel_err(gnaive.data(), gref.data(), gref.size());

  std::vector<float> first_c, first_g;
  for (int s = 0; s < schedules; ++s) {
    use_schedule(s);
    Dev<float> dA(A), dB(B), dBias(bias), dC(c.beta != 0.f ? C0 : poisoned(nc)), dG(poisoned(nc));
    GemmArgs d = g;
    d.A = dA.p;
    d.B = dB.p;
    d.C = dC.p;
    d.bias = c.bias ? dBias.p : nullptr;
    d.gelu_out = c.gelu ? dG.p : nullptr;
    gemm_cuda(d, nullptr);
    ck(cudaDeviceSynchronize(), "sync");
    const auto hc = dC.get(), hg = dG.get();
    // Compare the M x N block only; the padding columns of C are the caller's.
    std::vector<float> outc(ref.size()), outg(ref.size());
    for (int64_t i = 0; i < c.M; ++i)
      for (int64_t j = 0; j < c.N; ++j) {
        outc[i * c.N + j] = hc[i * g.ldc + j];
        outg[i * c.N + j] = hg[i * g.ldc + j];
      }
    if (s == 0) {
      expect_close_v(name(c) + " C", max_rel_err(outc.data(), ref.data(), ref.size()), naive_err, 2.0, 1e-6);
      if (c.gelu)
        expect_close_v(name(c) + " gelu", max_rel_err(outg.data(), gref.data(), gref.size()), gnaive_err, 2.0, 1e-6);
      if (c.pad && c.beta == 0.f)  // padding of C must stay untouched (still NaN)
        for (int64_t i = 0; i < c.M; ++i)
          if (!std::isnan(hc[i * g.ldc + c.N])) fail(name(c) + ": wrote past N into C's padding");
      first_c = hc;
      first_g = hg;
    } else if (!same_bits(hc, first_c) || !same_bits(hg, first_g)) {
      fail(name(c) + ": results differ between thread schedules");
    }
  }
  reset_schedule();
}

}  // namespace

// The fragment layout on its own: one mma.sync on integers small enough that every product and
// sum is exact, so any misplaced element shows as an exact mismatch.
MVD_TEST(cuda_mma_fragment_layout_matches_plain_matmul) {
  std::vector<float> A(16 * 16), B(16 * 8);
  for (int i = 0; i < 16; ++i)
    for (int k = 0; k < 16; ++k) A[i * 16 + k] = (float)((i * 7 + k * 3) % 9 - 4) + (k == i ? 16.f : 0.f);
  for (int k = 0; k < 16; ++k)
    for (int j = 0; j < 8; ++j) B[k * 8 + j] = (float)((k * 5 + j * 11) % 7 - 3) + (k == j ? 32.f : 0.f);
  for (int s = 0; s < n_schedules(); ++s) {
    use_schedule(s);
    Dev<float> dA(A), dB(B), dD(poisoned(16 * 8));
    gemm_cuda_mma_probe(dA.p, dB.p, dD.p, nullptr);
    ck(cudaDeviceSynchronize(), "sync");
    const auto D = dD.get();
    for (int i = 0; i < 16; ++i)
      for (int j = 0; j < 8; ++j) {
        double r = 0;
        for (int k = 0; k < 16; ++k) r += (double)A[i * 16 + k] * B[k * 8 + j];
        if (D[i * 8 + j] != (float)r)
          fail("D[" + std::to_string(i) + "][" + std::to_string(j) + "] = " + std::to_string(D[i * 8 + j]) + ", want " +
               std::to_string(r));
      }
  }
  reset_schedule();
}

MVD_TEST(cuda_gemm_edges_all_transposes) {
  const int64_t dims[] = {1, 31, 33, 129};
  int n = 0;
  for (int64_t M : dims)
    for (int64_t N : dims)
      for (int64_t K : dims) {
        GemmCase c{M, N, K, (n & 1) != 0, (n & 2) != 0};
        c.bias = (n % 3) == 0;
        // The biggest shapes run under one schedule only: the emulator pays per fiber switch.
        run_case(c, M * N * K > 33 * 33 * 33 ? 1 : n_schedules());
        ++n;
      }
}

MVD_TEST(cuda_gemm_every_transpose_on_one_awkward_shape) {
  for (int ta = 0; ta < 2; ++ta)
    for (int tb = 0; tb < 2; ++tb) run_case(GemmCase{129, 33, 65, ta != 0, tb != 0, 1.f, 0.f, true}, n_schedules());
}

MVD_TEST(cuda_gemm_alpha_beta_bias_gelu_strides) {
  run_case(GemmCase{33, 65, 47, false, false, 0.5f, 1.f, true, true}, n_schedules());
  run_case(GemmCase{33, 65, 47, true, false, -2.f, 0.25f, false, true}, n_schedules());
  run_case(GemmCase{31, 40, 33, false, true, 1.f, 0.f, true, true, 3}, n_schedules());
  run_case(GemmCase{31, 40, 33, true, true, 1.f, 0.5f, true, false, 5}, 1);
}

MVD_TEST(cuda_gemm_k_zero_gives_beta_c_plus_bias) {
  run_case(GemmCase{3, 5, 0, false, false, 1.f, 0.5f, true, true}, n_schedules());
  run_case(GemmCase{3, 5, 0, false, true, 1.f, 0.f, true, false}, 1);
}

// Linear layers of a ViT-S student on one clip of visible tokens (157 = 1568 · 10%), cut down
// in N to keep the emulator quick; multiple 128-tiles along M and K.
MVD_TEST(cuda_gemm_vit_like_shapes) {
  run_case(GemmCase{157, 96, 384, false, true, 1.f, 0.f, true, false}, 1);    // qkv/proj/fc1: x·Wᵀ + b
  run_case(GemmCase{157, 64, 384, false, true, 1.f, 0.f, true, true}, 1);     // fc1 with GELU
  run_case(GemmCase{384, 96, 157, true, false, 1.f, 1.f, false, false}, 1);   // weight grad: dYᵀ·X accumulated
  run_case(GemmCase{157, 384, 96, false, false, 1.f, 0.f, false, false}, 1);  // input grad: dY·W
}

#endif
