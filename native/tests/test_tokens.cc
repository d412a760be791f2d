#include <algorithm>
#include <cstring>
#include <stdexcept>

#include "../ops/tokens/tokens.h"
#include "check.h"

using namespace mvd;
using namespace mvdtest;

namespace {

std::vector<int32_t> rand_idx(size_t n, int64_t limit, uint64_t seed) {
  std::mt19937_64 g(seed);
  std::vector<int32_t> v(n);
  for (auto& x : v) x = (int32_t)(g() % (uint64_t)limit);
  return v;
}

// Per sample, a random subset of size K of [0, N) (distinct), in random order.
std::vector<int32_t> rand_distinct(int64_t B, int64_t K, int64_t N, uint64_t seed) {
  std::mt19937_64 g(seed);
  std::vector<int32_t> out;
  std::vector<int32_t> perm((size_t)N);
  for (int64_t b = 0; b < B; ++b) {
    for (int64_t i = 0; i < N; ++i) perm[i] = (int32_t)i;
    std::shuffle(perm.begin(), perm.end(), g);
    out.insert(out.end(), perm.begin(), perm.begin() + K);
  }
  return out;
}

double dot(const float* a, const float* b, size_t n) {
  double s = 0;
  for (size_t i = 0; i < n; ++i) s += (double)a[i] * (double)b[i];
  return s;
}

template <typename F>
void expect_throws(F f, const char* what) {
  bool threw = false;
  try {
    f();
  } catch (const std::exception&) { threw = true; }
  if (!threw) fail(std::string("expected an exception: ") + what);
}

// patchify + a double GEMM against weight [D, C, kt, kh, kw] must equal a direct double Conv3d
// with stride = kernel (over frames 0, s, 2s, ... when frame_stride s > 1).
void check_patchify(PatchifyArgs a, int64_t D, uint64_t seed) {
  const int64_t s = a.frame_stride, Tn = a.T / (a.kt * s), Nh = a.H / a.kh, Nw = a.W / a.kw;
  const int64_t P = a.C * a.kt * a.kh * a.kw, ntok = Tn * Nh * Nw;
  auto x = randn((size_t)(a.B * a.C * a.T * a.H * a.W), seed);
  auto w = randn((size_t)(D * P), seed + 1);
  auto out = poisoned((size_t)(a.B * ntok * P));
  patchify_cpu(x.data(), out.data(), a);
  std::vector<double> got((size_t)(a.B * ntok * D)), ref(got.size());
  for (int64_t r = 0; r < a.B * ntok; ++r)
    for (int64_t d = 0; d < D; ++d) {
      double acc = 0;
      for (int64_t k = 0; k < P; ++k) acc += (double)out[r * P + k] * (double)w[d * P + k];
      got[r * D + d] = acc;
    }
  for (int64_t b = 0; b < a.B; ++b)
    for (int64_t tt = 0; tt < Tn; ++tt)
      for (int64_t hh = 0; hh < Nh; ++hh)
        for (int64_t ww = 0; ww < Nw; ++ww)
          for (int64_t d = 0; d < D; ++d) {
            double acc = 0;
            for (int64_t c = 0; c < a.C; ++c)
              for (int64_t dt = 0; dt < a.kt; ++dt)
                for (int64_t dy = 0; dy < a.kh; ++dy)
                  for (int64_t dx = 0; dx < a.kw; ++dx) {
                    const int64_t f = (tt * a.kt + dt) * s, yy = hh * a.kh + dy, xx = ww * a.kw + dx;
                    acc += (double)x[(((b * a.C + c) * a.T + f) * a.H + yy) * a.W + xx] *
                           (double)w[(((d * a.C + c) * a.kt + dt) * a.kh + dy) * a.kw + dx];
                  }
            ref[((b * Tn + tt) * Nh * Nw + hh * Nw + ww) * D + d] = acc;
          }
  double err = 0;
  for (size_t i = 0; i < ref.size(); ++i) err = std::max(err, std::fabs(got[i] - ref[i]) / (1 + std::fabs(ref[i])));
  if (!(err <= 1e-12)) fail("patchify conv mismatch err=" + std::to_string(err));
}

}  // namespace

MVD_TEST(tokens_patchify_equals_double_conv3d) {
  PatchifyArgs a;
  a.B = 3;
  a.C = 2;
  a.T = 6;
  a.H = 15;
  a.W = 21;
  a.kt = 3;
  a.kh = 5;
  a.kw = 7;
  check_patchify(a, 5, 11);
  a.B = 1;
  a.C = 3;
  a.T = 4;
  a.H = 32;
  a.W = 48;
  a.kt = 2;
  a.kh = 16;
  a.kw = 16;
  check_patchify(a, 4, 12);
  a.B = 2;
  a.C = 3;
  a.T = 1;
  a.H = 17;
  a.W = 23;
  a.kt = 1;
  a.kh = 17;
  a.kw = 23;  // one token
  check_patchify(a, 3, 13);
}

MVD_TEST(tokens_patchify_frame_stride_equals_conv2d_on_even_frames) {
  PatchifyArgs a;
  a.B = 3;
  a.C = 3;
  a.T = 6;
  a.H = 12;
  a.W = 20;
  a.kt = 1;
  a.kh = 4;
  a.kw = 5;
  a.frame_stride = 2;
  check_patchify(a, 4, 21);
  a.T = 16;
  a.H = 28;
  a.W = 28;
  a.kh = 14;
  a.kw = 14;
  a.frame_stride = 2;
  a.B = 1;
  check_patchify(a, 2, 22);
}

MVD_TEST(tokens_gather_scatter_exact_and_adjoint) {
  const int64_t Ns[] = {1, 31, 33, 160, 1568};
  uint64_t seed = 100;
  for (int64_t N : Ns)
    for (int64_t B : {1, 3}) {
      const int64_t D = N == 1568 ? 96 : 37, K = N == 1 ? 3 : N / 2 + 1;
      auto x = randn((size_t)(B * N * D), seed++), y = randn((size_t)(B * K * D), seed++);
      auto idx = rand_idx((size_t)(B * K), N, seed++);  // with repeats: scatter must accumulate
      auto g = poisoned((size_t)(B * K * D)), s = poisoned((size_t)(B * N * D));
      gather_tokens_cpu(x.data(), idx.data(), g.data(), B, N, K, D);
      scatter_tokens_cpu(y.data(), idx.data(), s.data(), B, N, K, D);
      for (int64_t b = 0; b < B; ++b)
        for (int64_t k = 0; k < K; ++k)
          CHECK(std::memcmp(&g[(b * K + k) * D], &x[(b * N + idx[b * K + k]) * D], sizeof(float) * D) == 0);
      std::vector<double> sref((size_t)(B * N * D), 0.0);
      for (int64_t b = 0; b < B; ++b)
        for (int64_t k = 0; k < K; ++k)
          for (int64_t c = 0; c < D; ++c) sref[(b * N + idx[b * K + k]) * D + c] += y[(b * K + k) * D + c];
      CHECK(max_rel_err(s.data(), sref.data(), sref.size()) < 1e-6);
      const double lhs = dot(g.data(), y.data(), g.size()), rhs = dot(x.data(), s.data(), x.size());
      if (!(std::fabs(lhs - rhs) <= 1e-5 * (1 + std::fabs(lhs))))
        fail("gather/scatter adjoint N=" + std::to_string(N) + ": " + std::to_string(lhs) + " vs " +
             std::to_string(rhs));
    }
}

MVD_TEST(tokens_index_out_of_range_throws) {
  std::vector<float> x(2 * 4 * 3, 1.f), out(2 * 2 * 3);
  std::vector<int32_t> bad{0, 1, 4, 2};
  expect_throws([&] { gather_tokens_cpu(x.data(), bad.data(), out.data(), 2, 4, 2, 3); }, "gather idx 4 of 4");
  bad[2] = -1;
  expect_throws([&] { scatter_tokens_cpu(out.data(), bad.data(), x.data(), 2, 4, 2, 3); }, "scatter idx -1");
  std::vector<int32_t> dup{1, 1, 0, 2};
  std::vector<float> mt(3, 0.f);
  expect_throws([&] { place_tokens_cpu(out.data(), dup.data(), mt.data(), x.data(), 2, 2, 4, 3); }, "place duplicate");
}

// Linear part (vis, mask token) -> out of assembleDecoderInput; pos is a constant.
MVD_TEST(tokens_assemble_decoder_input_forward_adjoint_fd) {
  struct S {
    int64_t B, Nv, Nm, D;
  } shapes[] = {{1, 1, 0, 8}, {3, 5, 26, 33}, {1, 16, 144, 64}, {2, 160, 1408, 48}};
  uint64_t seed = 300;
  for (auto sh : shapes) {
    const int64_t B = sh.B, Nv = sh.Nv, Nm = sh.Nm, D = sh.D, N = Nv + Nm, L = Nv + Nm;
    std::vector<int32_t> vi, mi;
    auto perm = rand_distinct(B, N, N, seed++);
    for (int64_t b = 0; b < B; ++b) {
      vi.insert(vi.end(), perm.begin() + b * N, perm.begin() + b * N + Nv);
      mi.insert(mi.end(), perm.begin() + b * N + Nv, perm.begin() + (b + 1) * N);
    }
    auto vis = randn((size_t)(B * Nv * D), seed++), mt = randn((size_t)D, seed++), pos = randn((size_t)(N * D), seed++);
    auto out = poisoned((size_t)(B * L * D));
    assemble_decoder_input_cpu(vis.data(), vi.data(), mi.data(), mt.data(), pos.data(), out.data(), B, Nv, Nm, N, D);
    for (int64_t b = 0; b < B; ++b)
      for (int64_t i = 0; i < L; ++i)
        for (int64_t c = 0; c < D; ++c) {
          const float a = i < Nv ? vis[(b * Nv + i) * D + c] : mt[c];
          const int32_t p = i < Nv ? vi[b * Nv + i] : mi[b * Nm + i - Nv];
          CHECK(out[(b * L + i) * D + c] == a + pos[p * D + c]);
        }
    auto dy = randn((size_t)(B * L * D), seed++);
    auto dvis = poisoned(vis.size()), dmt = poisoned((size_t)D);
    assemble_decoder_input_backward_cpu(dy.data(), dvis.data(), dmt.data(), B, Nv, Nm, D);
    // <A(vis, mt), dy> = <vis, dVis> + <mt, dMaskToken>, with A the pos-free linear map.
    double lhs = 0;
    for (int64_t b = 0; b < B; ++b)
      for (int64_t i = 0; i < L; ++i)
        for (int64_t c = 0; c < D; ++c)
          lhs += (double)(i < Nv ? vis[(b * Nv + i) * D + c] : mt[c]) * (double)dy[(b * L + i) * D + c];
    const double rhs = dot(vis.data(), dvis.data(), vis.size()) + dot(mt.data(), dmt.data(), (size_t)D);
    if (!(std::fabs(lhs - rhs) <= 1e-5 * (1 + std::fabs(lhs)))) fail("assemble adjoint " + std::to_string(lhs - rhs));
    // Finite differences of loss = <out, dy> with respect to a few mask-token and vis entries.
    if (B * L * D < 20000) {
      auto loss = [&]() {
        std::vector<float> o((size_t)(B * L * D));
        assemble_decoder_input_cpu(vis.data(), vi.data(), mi.data(), mt.data(), pos.data(), o.data(), B, Nv, Nm, N, D);
        return dot(o.data(), dy.data(), o.size());
      };
      const float h = 1e-2f;
      for (int64_t c : {int64_t(0), D - 1}) {
        const float keep = mt[c];
        mt[c] = keep + h;
        double lp = loss();
        mt[c] = keep - h;
        double lm = loss();
        mt[c] = keep;
        const double fd = (lp - lm) / (2.0 * h);
        if (!(std::fabs(fd - dmt[c]) <= 2e-3 * (1 + std::fabs(fd))))
          fail("assemble fd dMaskToken " + std::to_string(fd) + " vs " + std::to_string(dmt[c]));
        const float kv = vis[c];
        vis[c] = kv + h;
        lp = loss();
        vis[c] = kv - h;
        lm = loss();
        vis[c] = kv;
        const double fv = (lp - lm) / (2.0 * h);
        if (!(std::fabs(fv - dvis[c]) <= 2e-3 * (1 + std::fabs(fv)))) fail("assemble fd dVis");
      }
    }
  }
}

MVD_TEST(tokens_place_tokens_forward_adjoint_fd) {
  struct S {
    int64_t B, Nv, N, D;
  } shapes[] = {{1, 1, 1, 8}, {3, 7, 31, 33}, {1, 16, 33, 64}, {2, 49, 196, 40}, {1, 160, 1568, 24}};
  uint64_t seed = 500;
  for (auto sh : shapes) {
    const int64_t B = sh.B, Nv = sh.Nv, N = sh.N, D = sh.D;
    auto vi = rand_distinct(B, Nv, N, seed++);
    auto vis = randn((size_t)(B * Nv * D), seed++), mt = randn((size_t)D, seed++);
    auto out = poisoned((size_t)(B * N * D));
    place_tokens_cpu(vis.data(), vi.data(), mt.data(), out.data(), B, Nv, N, D);
    std::vector<float> ref((size_t)(B * N * D));
    for (int64_t r = 0; r < B * N; ++r) std::memcpy(&ref[r * D], mt.data(), sizeof(float) * D);
    for (int64_t b = 0; b < B; ++b)
      for (int64_t i = 0; i < Nv; ++i)
        std::memcpy(&ref[(b * N + vi[b * Nv + i]) * D], &vis[(b * Nv + i) * D], sizeof(float) * D);
    CHECK(std::memcmp(ref.data(), out.data(), sizeof(float) * ref.size()) == 0);
    auto dy = randn(out.size(), seed++);
    auto dvis = poisoned(vis.size()), dmt = poisoned((size_t)D);
    place_tokens_backward_cpu(dy.data(), vi.data(), dvis.data(), dmt.data(), B, Nv, N, D);
    const double lhs = dot(out.data(), dy.data(), out.size());
    const double rhs = dot(vis.data(), dvis.data(), vis.size()) + dot(mt.data(), dmt.data(), (size_t)D);
    if (!(std::fabs(lhs - rhs) <= 1e-5 * (1 + std::fabs(lhs)))) fail("place adjoint " + std::to_string(lhs - rhs));
    if (B * N * D < 20000) {
      const float h = 1e-2f;
      auto loss = [&]() {
        std::vector<float> o(out.size());
        place_tokens_cpu(vis.data(), vi.data(), mt.data(), o.data(), B, Nv, N, D);
        return dot(o.data(), dy.data(), o.size());
      };
      for (int64_t c : {int64_t(0), D / 2}) {
        const float keep = mt[c];
        mt[c] = keep + h;
        const double lp = loss();
        mt[c] = keep - h;
        const double lm = loss();
        mt[c] = keep;
        const double fd = (lp - lm) / (2.0 * h);
        if (!(std::fabs(fd - dmt[c]) <= 2e-3 * (1 + std::fabs(fd)))) fail("place fd dMaskToken");
      }
    }
  }
}
