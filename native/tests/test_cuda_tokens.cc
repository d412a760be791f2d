// The token ops' CUDA launchers against the CPU op (and float64 for the mask-token sums), on
// shapes that break any tiling, with NaN-poisoned outputs, under several thread schedules (the
// emulator) or twice (a GPU), demanding the same bits from every run. CUDA runtime API only, so the
// same file runs on a device.
#if MVD_SIMT || MVD_HAVE_CUDA
#include <cuda_runtime.h>

#include <cstring>

#include "../ops/tokens/tokens.h"
#include "check.h"
#include "cuda_harness.h"

using namespace mvd;
using namespace mvdtest;

namespace {

std::vector<int32_t> rand_idx(size_t n, int64_t limit, uint64_t seed) {
  std::mt19937_64 g(seed);
  std::vector<int32_t> v(n);
  for (auto& x : v) x = (int32_t)(g() % (uint64_t)limit);
  return v;
}

// Per sample a random permutation of [0, N): the first K entries are distinct.
std::vector<int32_t> perms(int64_t B, int64_t N, uint64_t seed) {
  std::mt19937_64 g(seed);
  std::vector<int32_t> out, p((size_t)N);
  for (int64_t b = 0; b < B; ++b) {
    for (int64_t i = 0; i < N; ++i) p[i] = (int32_t)i;
    std::shuffle(p.begin(), p.end(), g);
    out.insert(out.end(), p.begin(), p.end());
  }
  return out;
}

// Splits per-sample permutations [B,N] into [B,Nv] and [B,N-Nv].
void split(const std::vector<int32_t>& perm, int64_t B, int64_t N, int64_t Nv, std::vector<int32_t>* vi,
           std::vector<int32_t>* mi) {
  vi->clear();
  mi->clear();
  for (int64_t b = 0; b < B; ++b) {
    vi->insert(vi->end(), perm.begin() + b * N, perm.begin() + b * N + Nv);
    mi->insert(mi->end(), perm.begin() + b * N + Nv, perm.begin() + (b + 1) * N);
  }
}

// Column sums in float64 of the rows `take(r)` says to include, r in [0, R).
template <typename Row>
std::vector<double> col_sums64(int64_t R, int64_t D, Row row) {
  std::vector<double> s((size_t)D, 0.0);
  for (int64_t r = 0; r < R; ++r)
    if (const float* p = row(r))
      for (int64_t c = 0; c < D; ++c) s[c] += (double)p[c];
  return s;
}

// The mask-token gradient: the tolerance rule against float64 (a naive float32 sum is the baseline).
template <typename Row>
void check_dmask(const std::string& what, const std::vector<float>& got, int64_t R, int64_t D, Row row) {
  const std::vector<double> ref = col_sums64(R, D, row);
  std::vector<float> naive((size_t)D, 0.f);
  for (int64_t r = 0; r < R; ++r)
    if (const float* p = row(r))
      for (int64_t c = 0; c < D; ++c) naive[c] += p[c];
  expect_close(what + " dMaskToken", max_rel_err(got.data(), ref.data(), (size_t)D),
               max_rel_err(naive.data(), ref.data(), (size_t)D), 3.0, 1e-6);
}

const int64_t kNs[] = {1, 31, 33, 129, 160};

}  // namespace

MVD_TEST(cuda_tokens_patchify_matches_cpu) {
  std::vector<PatchifyArgs> shapes;
  PatchifyArgs a;
  a.B = 3;
  a.C = 3;
  a.T = 4;
  a.H = 8;
  a.W = 12;
  a.kt = 2;
  a.kh = 4;
  a.kw = 4;
  shapes.push_back(a);
  a.B = 1;
  a.C = 2;
  a.T = 6;
  a.H = 6;
  a.W = 4;
  a.kt = 1;
  a.kh = 3;
  a.kw = 2;
  a.frame_stride = 3;
  shapes.push_back(a);
  a.B = 5;
  a.C = 1;
  a.T = 1;
  a.H = 5;
  a.W = 7;
  a.kt = 1;
  a.kh = 1;
  a.kw = 7;
  a.frame_stride = 1;
  shapes.push_back(a);
  for (const PatchifyArgs& s : shapes) {
    const int64_t n_in = s.B * s.C * s.T * s.H * s.W;
    const int64_t n_out =
        s.B * (s.T / (s.kt * s.frame_stride)) * (s.H / s.kh) * (s.W / s.kw) * s.C * s.kt * s.kh * s.kw;
    const std::vector<float> x = randn((size_t)n_in, 3 + s.B);
    std::vector<float> want = poisoned((size_t)n_out);
    patchify_cpu(x.data(), want.data(), s);
    Dev<float> dx(x);
    Outs got = under_schedules("patchify", [&] {
      Dev<float> out(poisoned((size_t)n_out));
      patchify_cuda(dx.p, out.p, s, nullptr);
      return Outs{out.get()};
    });
    expect_bits("patchify B=" + std::to_string(s.B), got[0], want);
  }
}

MVD_TEST(cuda_tokens_gather_scatter_match_cpu) {
  const int64_t B = 3, D = 33;
  for (int64_t N : kNs) {
    const int64_t K = N / 2 + 1;
    const std::vector<float> x = randn((size_t)(B * N * D), 100 + N), dy = randn((size_t)(B * K * D), 200 + N);
    // Distinct indices (the masking case) and repeats (scatter must accumulate them in k order).
    std::vector<int32_t> perm = perms(B, N, N), distinct;
    for (int64_t b = 0; b < B; ++b) distinct.insert(distinct.end(), perm.begin() + b * N, perm.begin() + b * N + K);
    for (const std::vector<int32_t>& idx : {distinct, rand_idx((size_t)(B * K), N, 300 + N)}) {
      std::vector<float> g_want = poisoned((size_t)(B * K * D)), s_want = poisoned((size_t)(B * N * D));
      gather_tokens_cpu(x.data(), idx.data(), g_want.data(), B, N, K, D);
      scatter_tokens_cpu(dy.data(), idx.data(), s_want.data(), B, N, K, D);
      Dev<float> dx(x), ddy(dy);
      Dev<int32_t> di(idx);
      Dev<int32_t> scratch(std::vector<int32_t>(scatter_tokens_cuda_scratch_bytes(B, N) / sizeof(int32_t) + 1, 0x7fff));
      Outs got = under_schedules("gather/scatter N=" + std::to_string(N), [&] {
        Dev<float> g(poisoned((size_t)(B * K * D))), s(poisoned((size_t)(B * N * D)));
        Dev<int> bad(std::vector<int>{0});
        gather_tokens_cuda(dx.p, di.p, g.p, B, N, K, D, bad.p, nullptr);
        scatter_tokens_cuda(ddy.p, di.p, s.p, B, N, K, D, bad.p, scratch.p, nullptr);
        if (bad.get()[0] != 0) fail("valid indices flagged as bad");
        return Outs{g.get(), s.get()};
      });
      expect_bits("gatherTokens N=" + std::to_string(N), got[0], g_want);
      expect_bits("scatterTokens N=" + std::to_string(N), got[1], s_want);
    }
  }
}

MVD_TEST(cuda_tokens_bad_index_is_flagged_never_followed) {
  const int64_t B = 2, N = 5, K = 3, D = 4;
  const std::vector<float> x = randn((size_t)(B * N * D), 1);
  const std::vector<int32_t> idx = {0, 4, 5, -1, 2, 1};  // 5 and -1 lie outside [0, 5)
  Dev<float> dx(x), g(poisoned((size_t)(B * K * D))), s(poisoned((size_t)(B * N * D)));
  Dev<int32_t> di(idx);
  Dev<int> bad(std::vector<int>{0});
  gather_tokens_cuda(dx.p, di.p, g.p, B, N, K, D, bad.p, nullptr);
  CHECK(bad.get()[0] == 1);
  const std::vector<float> got = g.get();
  for (int64_t c = 0; c < D; ++c) {
    CHECK(std::isnan(got[2 * D + c]) && std::isnan(got[3 * D + c]));  // the two bad rows
    CHECK(got[1 * D + c] == x[4 * D + c] && got[4 * D + c] == x[(N + 2) * D + c]);
  }
  Dev<int> bad2(std::vector<int>{0});
  Dev<int32_t> scatter_scratch(std::vector<int32_t>(scatter_tokens_cuda_scratch_bytes(B, N) / sizeof(int32_t) + 1, 0));
  scatter_tokens_cuda(dx.p, di.p, s.p, B, N, K, D, bad2.p, scatter_scratch.p, nullptr);  // dy = the first B*K rows of x
  CHECK(bad2.get()[0] == 1);
  const std::vector<float> sc = s.get();
  for (int64_t c = 0; c < D; ++c) {  // sample 0 keeps its valid hits; nothing lands from the bad ones
    CHECK(sc[0 * D + c] == x[0 * D + c] && sc[4 * D + c] == x[1 * D + c]);
    CHECK(sc[(N + 2) * D + c] == x[4 * D + c] && sc[(N + 1) * D + c] == x[5 * D + c] && sc[(N + 0) * D + c] == 0.f);
  }
  // Duplicated visible indices are an error of placeTokens: flagged too.
  const std::vector<int32_t> dup = {1, 1, 0, 2, 3, 4};
  Dev<int32_t> dd(dup);
  Dev<int> bad3(std::vector<int>{0});
  Dev<float> mt(randn((size_t)D, 2)), out(poisoned((size_t)(B * N * D)));
  std::vector<int32_t> slot_init((size_t)(place_tokens_cuda_scratch_bytes(B, N) / sizeof(int32_t)) + 1, 0);
  Dev<int32_t> scratch(slot_init);
  place_tokens_cuda(dx.p, dd.p, mt.p, out.p, B, K, N, D, bad3.p, scratch.p, nullptr);
  CHECK(bad3.get()[0] == 1);
}

MVD_TEST(cuda_tokens_assemble_decoder_input_forward_backward_match_cpu) {
  const int64_t B = 3, D = 24;
  for (int64_t N : kNs) {
    const int64_t Nv = (N + 3) / 4, Nm = N - Nv, L = Nv + Nm;
    std::vector<int32_t> vi, mi;
    split(perms(B, N, 40 + N), B, N, Nv, &vi, &mi);
    const std::vector<float> vis = randn((size_t)(B * Nv * D), 500 + N), mt = randn((size_t)D, 600 + N),
                             pos = randn((size_t)(N * D), 700 + N), dy = randn((size_t)(B * L * D), 800 + N);
    std::vector<float> want = poisoned((size_t)(B * L * D)), dv_want = poisoned((size_t)(B * Nv * D)),
                       dm_cpu = poisoned((size_t)D);
    assemble_decoder_input_cpu(vis.data(), vi.data(), mi.data(), mt.data(), pos.data(), want.data(), B, Nv, Nm, N, D);
    assemble_decoder_input_backward_cpu(dy.data(), dv_want.data(), dm_cpu.data(), B, Nv, Nm, D);
    Dev<float> dvis(vis), dmt(mt), dpos(pos), ddy(dy);
    Dev<int32_t> dvi(vi), dmi(mi);
    const size_t sb = assemble_decoder_input_backward_cuda_scratch_bytes(B, Nm, D);
    Dev<double> scratch(std::vector<double>(sb / sizeof(double) + 1, NAN));
    Outs got = under_schedules("assembleDecoderInput N=" + std::to_string(N), [&] {
      Dev<float> out(poisoned((size_t)(B * L * D))), dv(poisoned((size_t)(B * Nv * D))), dm(poisoned((size_t)D));
      Dev<int> bad(std::vector<int>{0});
      assemble_decoder_input_cuda(dvis.p, dvi.p, dmi.p, dmt.p, dpos.p, out.p, B, Nv, Nm, N, D, bad.p, nullptr);
      assemble_decoder_input_backward_cuda(ddy.p, dv.p, dm.p, B, Nv, Nm, D, scratch.p, nullptr);
      if (bad.get()[0] != 0) fail("valid indices flagged as bad");
      return Outs{out.get(), dv.get(), dm.get()};
    });
    const std::string tag = "assembleDecoderInput N=" + std::to_string(N);
    expect_bits(tag, got[0], want);
    expect_bits(tag + " dVis", got[1], dv_want);
    auto masked_row = [&](int64_t r) { return dy.data() + ((r / Nm) * L + Nv + r % Nm) * D; };
    check_dmask(tag, got[2], B * Nm, D, masked_row);
  }
}

MVD_TEST(cuda_tokens_place_tokens_forward_backward_match_cpu) {
  const int64_t B = 3, D = 20;
  for (int64_t N : kNs) {
    const int64_t Nv = (N + 3) / 4;
    std::vector<int32_t> vi, unused;
    split(perms(B, N, 90 + N), B, N, Nv, &vi, &unused);
    const std::vector<float> vis = randn((size_t)(B * Nv * D), 900 + N), mt = randn((size_t)D, 1000 + N),
                             dy = randn((size_t)(B * N * D), 1100 + N);
    std::vector<float> want = poisoned((size_t)(B * N * D)), dv_want = poisoned((size_t)(B * Nv * D)),
                       dm_cpu = poisoned((size_t)D);
    place_tokens_cpu(vis.data(), vi.data(), mt.data(), want.data(), B, Nv, N, D);
    place_tokens_backward_cpu(dy.data(), vi.data(), dv_want.data(), dm_cpu.data(), B, Nv, N, D);
    Dev<float> dvis(vis), dmt(mt), ddy(dy);
    Dev<int32_t> dvi(vi);
    const size_t sf = place_tokens_cuda_scratch_bytes(B, N), sb = place_tokens_backward_cuda_scratch_bytes(B, N, D);
    Dev<double> scratch(std::vector<double>(std::max(sf, sb) / sizeof(double) + 1, NAN));
    Outs got = under_schedules("placeTokens N=" + std::to_string(N), [&] {
      Dev<float> out(poisoned((size_t)(B * N * D))), dv(poisoned((size_t)(B * Nv * D))), dm(poisoned((size_t)D));
      Dev<int> bad(std::vector<int>{0});
      place_tokens_cuda(dvis.p, dvi.p, dmt.p, out.p, B, Nv, N, D, bad.p, scratch.p, nullptr);
      place_tokens_backward_cuda(ddy.p, dvi.p, dv.p, dm.p, B, Nv, N, D, bad.p, scratch.p, nullptr);
      if (bad.get()[0] != 0) fail("valid indices flagged as bad");
      return Outs{out.get(), dv.get(), dm.get()};
    });
    const std::string tag = "placeTokens N=" + std::to_string(N);
    expect_bits(tag, got[0], want);
    expect_bits(tag + " dVis", got[1], dv_want);
    std::vector<char> visible((size_t)(B * N), 0);
    for (int64_t r = 0; r < B * Nv; ++r) visible[(r / Nv) * N + vi[r]] = 1;
    auto unplaced_row = [&](int64_t r) -> const float* { return visible[r] ? nullptr : dy.data() + r * D; };
    check_dmask(tag, got[2], B * N, D, unplaced_row);
  }
}

#endif  // MVD_SIMT || MVD_HAVE_CUDA
