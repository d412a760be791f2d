#include <algorithm>
#include <cstring>
#include <string>
#include <vector>

#include "../../core/errors.h"
#include "tokens.h"

namespace mvd {

namespace {

// Column block for reductions over rows: each thread owns whole columns, so sums need no atomics
// and come out the same for any thread count. 64 doubles stay in registers/L1.
constexpr int64_t kColBlock = 64;

// dmask[c] = sum over the rows chosen by `rows(r)` (r in [0, R)) of src_row(r)[c], accumulated in
// double so a sum over ~10^4 rows keeps full float precision.
template <typename RowPtr>
void column_sums(float* dmask, int64_t R, int64_t D, RowPtr row_ptr) {
  const int64_t nblk = (D + kColBlock - 1) / kColBlock;
#pragma omp parallel for schedule(static) if (R * D > 32768)
  for (int64_t blk = 0; blk < nblk; ++blk) {
    const int64_t c0 = blk * kColBlock, nc = std::min(kColBlock, D - c0);
    double acc[kColBlock] = {0};
    for (int64_t r = 0; r < R; ++r) {
      const float* p = row_ptr(r);
      if (!p) continue;
      p += c0;
      for (int64_t c = 0; c < nc; ++c) acc[c] += (double)p[c];
    }
    for (int64_t c = 0; c < nc; ++c) dmask[c0 + c] = (float)acc[c];
  }
}

}  // namespace

void patchify_cpu(const float* x, float* out, const PatchifyArgs& a) {
  const int64_t s = a.frame_stride;
  const int64_t Tn = a.T / (a.kt * s), Nh = a.H / a.kh, Nw = a.W / a.kw;
  const int64_t P = a.C * a.kt * a.kh * a.kw;  // values per token
  const int64_t HW = a.H * a.W, THW = a.T * HW;
  const int64_t rows = a.B * Tn * Nh;  // one parallel item = one row of tokens
#pragma omp parallel for schedule(static) if (rows * Nw * P > 65536)
  for (int64_t r = 0; r < rows; ++r) {
    const int64_t hh = r % Nh, tt = (r / Nh) % Tn, b = r / (Nh * Tn);
    float* orow = out + r * Nw * P;  // tokens (b, tt, hh, 0..Nw-1) are consecutive
    for (int64_t c = 0; c < a.C; ++c)
      for (int64_t dt = 0; dt < a.kt; ++dt) {
        const int64_t frame = (tt * a.kt + dt) * s;
        for (int64_t dy = 0; dy < a.kh; ++dy) {
          // One input row feeds kw values to each of the Nw tokens of this token row.
          const float* src = x + b * a.C * THW + c * THW + frame * HW + (hh * a.kh + dy) * a.W;
          float* dst = orow + ((c * a.kt + dt) * a.kh + dy) * a.kw;
          for (int64_t ww = 0; ww < Nw; ++ww) std::memcpy(dst + ww * P, src + ww * a.kw, sizeof(float) * a.kw);
        }
      }
  }
}

void check_token_indices(const char* op, const int32_t* idx, int64_t n, int64_t limit) {
  for (int64_t i = 0; i < n; ++i)
    if (idx[i] < 0 || idx[i] >= limit)
      throw OpError(ErrorKind::Value, op,
                    "index " + std::to_string(idx[i]) + " at position " + std::to_string(i) + " is outside [0, " +
                        std::to_string(limit) + ")");
}

void gather_tokens_cpu(const float* x, const int32_t* idx, float* out, int64_t B, int64_t N, int64_t K, int64_t D) {
  check_token_indices("gatherTokens", idx, B * K, N);
#pragma omp parallel for schedule(static) if (B * K * D > 65536)
  for (int64_t r = 0; r < B * K; ++r) {
    const int64_t b = r / K;
    std::memcpy(out + r * D, x + (b * N + idx[r]) * D, sizeof(float) * D);
  }
}

void scatter_tokens_cpu(const float* dy, const int32_t* idx, float* out, int64_t B, int64_t N, int64_t K, int64_t D) {
  check_token_indices("scatterTokens", idx, B * K, N);
#pragma omp parallel for schedule(static) if (B * N * D > 65536)
  for (int64_t r = 0; r < B * N; ++r) std::memset(out + r * D, 0, sizeof(float) * D);
  // Parallel over (sample, column block) with k ascending inside: duplicate indices accumulate
  // without races and in a fixed order, so results do not depend on the thread count.
  const int64_t nblk = (D + 255) / 256;
#pragma omp parallel for collapse(2) schedule(static) if (B * K * D > 65536)
  for (int64_t b = 0; b < B; ++b)
    for (int64_t blk = 0; blk < nblk; ++blk) {
      const int64_t c0 = blk * 256, nc = std::min<int64_t>(256, D - c0);
      for (int64_t k = 0; k < K; ++k) {
        const float* src = dy + (b * K + k) * D + c0;
        float* dst = out + (b * N + idx[b * K + k]) * D + c0;
        for (int64_t c = 0; c < nc; ++c) dst[c] += src[c];
      }
    }
}

void assemble_decoder_input_cpu(const float* vis, const int32_t* vis_idx, const int32_t* mask_idx,
                                const float* mask_token, const float* pos, float* out, int64_t B, int64_t Nv,
                                int64_t Nm, int64_t N, int64_t D) {
  check_token_indices("assembleDecoderInput", vis_idx, B * Nv, N);
  check_token_indices("assembleDecoderInput", mask_idx, B * Nm, N);
  const int64_t L = Nv + Nm;
#pragma omp parallel for schedule(static) if (B * L * D > 65536)
  for (int64_t r = 0; r < B * L; ++r) {
    const int64_t b = r / L, i = r % L;
    const float* a = i < Nv ? vis + (b * Nv + i) * D : mask_token;
    const float* p = pos + (int64_t)(i < Nv ? vis_idx[b * Nv + i] : mask_idx[b * Nm + (i - Nv)]) * D;
    float* o = out + r * D;
    for (int64_t c = 0; c < D; ++c) o[c] = a[c] + p[c];
  }
}

void assemble_decoder_input_backward_cpu(const float* dy, float* dvis, float* dmask, int64_t B, int64_t Nv, int64_t Nm,
                                         int64_t D) {
  const int64_t L = Nv + Nm;
#pragma omp parallel for schedule(static) if (B * Nv * D > 65536)
  for (int64_t b = 0; b < B; ++b) std::memcpy(dvis + b * Nv * D, dy + b * L * D, sizeof(float) * Nv * D);
  column_sums(dmask, B * Nm, D, [&](int64_t r) { return dy + ((r / Nm) * L + Nv + r % Nm) * D; });
}

namespace {
// slot[b*N + n] = i when vis_idx[b,i] == n, else -1; rejects repeated indices.
std::vector<int32_t> visible_slots(const char* op, const int32_t* vis_idx, int64_t B, int64_t Nv, int64_t N) {
  check_token_indices(op, vis_idx, B * Nv, N);
  std::vector<int32_t> slot((size_t)(B * N), -1);
  for (int64_t b = 0; b < B; ++b)
    for (int64_t i = 0; i < Nv; ++i) {
      int32_t& s = slot[b * N + vis_idx[b * Nv + i]];
      if (s >= 0)
        throw OpError(
            ErrorKind::Value, op,
            "visible index " + std::to_string(vis_idx[b * Nv + i]) + " appears twice in sample " + std::to_string(b));
      s = (int32_t)i;
    }
  return slot;
}
}  // namespace

void place_tokens_cpu(const float* vis, const int32_t* vis_idx, const float* mask_token, float* out, int64_t B,
                      int64_t Nv, int64_t N, int64_t D) {
  const std::vector<int32_t> slot = visible_slots("placeTokens", vis_idx, B, Nv, N);
#pragma omp parallel for schedule(static) if (B * N * D > 65536)
  for (int64_t r = 0; r < B * N; ++r) {
    const int32_t s = slot[r];
    const float* src = s >= 0 ? vis + ((r / N) * Nv + s) * D : mask_token;
    std::memcpy(out + r * D, src, sizeof(float) * D);
  }
}

void place_tokens_backward_cpu(const float* dy, const int32_t* vis_idx, float* dvis, float* dmask, int64_t B,
                               int64_t Nv, int64_t N, int64_t D) {
  const std::vector<int32_t> slot = visible_slots("placeTokensBackward", vis_idx, B, Nv, N);
#pragma omp parallel for schedule(static) if (B * Nv * D > 65536)
  for (int64_t r = 0; r < B * Nv; ++r)
    std::memcpy(dvis + r * D, dy + ((r / Nv) * N + vis_idx[r]) * D, sizeof(float) * D);
  const int32_t* sl = slot.data();
  column_sums(dmask, B * N, D, [&](int64_t r) -> const float* { return sl[r] >= 0 ? nullptr : dy + r * D; });
}

}  // namespace mvd
