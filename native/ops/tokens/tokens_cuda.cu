// CUDA versions of the token ops (tokens.h). All are memory-bound gathers and scatters: one
// thread per output value in grid-stride loops, consecutive threads on consecutive columns so
// every warp touches whole rows. Reductions over rows (the mask-token gradients) use fixed row
// chunks and a fixed final order, never float atomics, so results do not depend on scheduling.
#include "simt/simt.h"

#include <algorithm>
#include <cmath>

#include "cuda/grid.h"
#include "cuda/runtime.h"
#include "tokens.h"

namespace mvd {
namespace {

using namespace grid;

constexpr int kSumThreads = 128;

// Grid-stride loops keep the grid bounded for any size.

__device__ __forceinline__ bool index_ok(int32_t j, int64_t limit, int* bad) {
  const bool ok = j >= 0 && j < limit;
  if (!ok && bad) *bad = 1;  // every writer stores the same value: a benign race
  return ok;
}

__global__ void patchify_kernel(const float* x, float* out, PatchifyArgs a, int64_t Tn, int64_t Nh, int64_t Nw,
                                int64_t P, int64_t total) {
  const int64_t HW = a.H * a.W, THW = a.T * HW;
  for (int64_t o = thread_index(); o < total; o += thread_stride()) {
    const int64_t k = o % P, tok = o / P;
    const int64_t dx = k % a.kw, dy = (k / a.kw) % a.kh, dt = (k / (a.kw * a.kh)) % a.kt, c = k / (a.kw * a.kh * a.kt);
    const int64_t ww = tok % Nw, hh = (tok / Nw) % Nh, tt = (tok / (Nw * Nh)) % Tn, b = tok / (Nw * Nh * Tn);
    const int64_t frame = (tt * a.kt + dt) * a.frame_stride;
    out[o] = x[(b * a.C + c) * THW + frame * HW + (hh * a.kh + dy) * a.W + ww * a.kw + dx];
  }
}

__global__ void gather_kernel(const float* x, const int32_t* idx, float* out, int64_t N, int64_t K, int64_t D,
                              int64_t total, int* bad) {
  for (int64_t o = thread_index(); o < total; o += thread_stride()) {
    const int64_t r = o / D, c = o % D;
    const int32_t j = idx[r];
    out[o] = index_ok(j, N, bad) ? x[((r / K) * N + j) * D + c] : NAN;
  }
}

__global__ void fill_int_kernel(int32_t* out, int32_t v, int64_t n) {
  for (int64_t o = thread_index(); o < n; o += thread_stride()) out[o] = v;
}

// hits[b*N + n] = how many k have idx[b,k] == n; slot[b*N + n] = the largest such k. Integer
// atomics, so the same values in any order.
__global__ void count_hits_kernel(const int32_t* idx, int32_t* hits, int32_t* slot, int64_t N, int64_t K, int64_t total,
                                  int* bad) {
  for (int64_t o = thread_index(); o < total; o += thread_stride()) {
    const int32_t j = idx[o];
    if (!index_ok(j, N, bad)) continue;
    const int64_t r = (o / K) * N + j;
    atomicAdd(&hits[r], 1);
    atomicMax(&slot[r], (int)(o % K));
  }
}

// Per output value: no hit is 0, one hit a copy (the masking case: indices are permutations, so
// this is a plain parallel scatter), repeated hits a sum over k ascending: the CPU op's order.
__global__ void scatter_kernel(const float* dy, const int32_t* idx, const int32_t* hits, const int32_t* slot,
                               float* out, int64_t N, int64_t K, int64_t D, int64_t total) {
  for (int64_t o = thread_index(); o < total; o += thread_stride()) {
    const int64_t r = o / D, c = o % D, b = r / N, n = r % N;
    const int32_t h = hits[r];
    float v = 0.f;
    if (h == 1) {
      v = dy[(b * K + slot[r]) * D + c];
    } else if (h > 1) {
      for (int64_t k = 0; k < K; ++k)
        if (idx[b * K + k] == n) v += dy[(b * K + k) * D + c];
    }
    out[o] = v;
  }
}

__global__ void assemble_kernel(const float* vis, const int32_t* vis_idx, const int32_t* mask_idx,
                                const float* mask_token, const float* pos, float* out, int64_t Nv, int64_t Nm,
                                int64_t N, int64_t D, int64_t total, int* bad) {
  const int64_t L = Nv + Nm;
  for (int64_t o = thread_index(); o < total; o += thread_stride()) {
    const int64_t r = o / D, c = o % D, b = r / L, i = r % L;
    const bool visible = i < Nv;
    const int32_t j = visible ? vis_idx[b * Nv + i] : mask_idx[b * Nm + (i - Nv)];
    const float a = visible ? vis[(b * Nv + i) * D + c] : mask_token[c];
    out[o] = index_ok(j, N, bad) ? a + pos[(int64_t)j * D + c] : NAN;
  }
}

// dvis[b, i, :] = dy[b, i, :]: the visible head (i < Nv) of each assembled sequence.
__global__ void dvis_from_assembled_kernel(const float* dy, float* dvis, int64_t Nv, int64_t L, int64_t D,
                                           int64_t total) {
  for (int64_t o = thread_index(); o < total; o += thread_stride()) {
    const int64_t r = o / D, c = o % D;
    dvis[o] = dy[((r / Nv) * L + r % Nv) * D + c];
  }
}

__global__ void dvis_from_placed_kernel(const float* dy, const int32_t* vis_idx, float* dvis, int64_t Nv, int64_t N,
                                        int64_t D, int64_t total, int* bad) {
  for (int64_t o = thread_index(); o < total; o += thread_stride()) {
    const int64_t r = o / D, c = o % D;
    const int32_t j = vis_idx[r];
    dvis[o] = index_ok(j, N, bad) ? dy[((r / Nv) * N + j) * D + c] : NAN;
  }
}

// slot[b*N + n] = the largest i with vis_idx[b,i] == n (atomicMax: the same winner in any
// order), or -1.
__global__ void mark_slots_kernel(const int32_t* vis_idx, int32_t* slot, int64_t Nv, int64_t N, int64_t total,
                                  int* bad) {
  for (int64_t o = thread_index(); o < total; o += thread_stride()) {
    const int32_t j = vis_idx[o];
    if (index_ok(j, N, bad)) atomicMax(&slot[(o / Nv) * N + j], (int)(o % Nv));
  }
}

// A visible index that lost the atomicMax appears twice in its sample.
__global__ void check_slots_kernel(const int32_t* vis_idx, const int32_t* slot, int64_t Nv, int64_t N, int64_t total,
                                   int* bad) {
  for (int64_t o = thread_index(); o < total; o += thread_stride()) {
    const int32_t j = vis_idx[o];
    if (j >= 0 && j < N && slot[(o / Nv) * N + j] != (int32_t)(o % Nv)) *bad = 1;
  }
}

__global__ void place_kernel(const float* vis, const int32_t* slot, const float* mask_token, float* out, int64_t Nv,
                             int64_t N, int64_t D, int64_t total) {
  for (int64_t o = thread_index(); o < total; o += thread_stride()) {
    const int64_t r = o / D, c = o % D;
    const int32_t s = slot[r];
    out[o] = s >= 0 ? vis[((r / N) * Nv + s) * D + c] : mask_token[c];
  }
}

// Rows r in [0, B*Nm) of the masked part of an assembled sequence.
struct MaskedRows {
  const float* dy;
  int64_t Nv, Nm, D;
  __device__ const float* row(int64_t r) const { return dy + ((r / Nm) * (Nv + Nm) + Nv + r % Nm) * D; }
};

// Rows r in [0, B*N) of a placed sequence that hold the mask token.
struct UnplacedRows {
  const float* dy;
  const int32_t* slot;
  int64_t D;
  __device__ const float* row(int64_t r) const { return slot[r] >= 0 ? nullptr : dy + r * D; }
};

// Chunk sizes depend only on the shape, so the summation order is fixed.
int64_t sum_chunk_rows(int64_t R) { return std::max<int64_t>(32, (R + 1023) / 1024); }
int64_t sum_chunks(int64_t R) { return (R + sum_chunk_rows(R) - 1) / sum_chunk_rows(R); }

// partial[s, c] = sum over rows of chunk s of row(r)[c], in double, rows ascending.
template <typename Rows>
__global__ void column_partials_kernel(Rows rows, double* partial, int64_t R, int64_t chunk, int64_t D) {
  const int64_t c = (int64_t)blockIdx.x * blockDim.x + threadIdx.x, s = blockIdx.y;
  if (c >= D) return;
  const int64_t r1 = (s + 1) * chunk < R ? (s + 1) * chunk : R;
  double acc = 0;
  for (int64_t r = s * chunk; r < r1; ++r) {
    const float* p = rows.row(r);
    if (p) acc += (double)p[c];
  }
  partial[s * D + c] = acc;
}

__global__ void column_finish_kernel(const double* partial, float* out, int64_t S, int64_t D) {
  for (int64_t c = thread_index(); c < D; c += thread_stride()) {
    double acc = 0;
    for (int64_t s = 0; s < S; ++s) acc += partial[s * D + c];
    out[c] = (float)acc;
  }
}

template <typename Rows>
void column_sums(const Rows& rows, float* out, int64_t R, int64_t D, double* partial, cudaStream_t stream,
                 const char* op) {
  if (D == 0) return;
  const int64_t S = R > 0 ? sum_chunks(R) : 0;
  if (S > 0) {
    const dim3 grid((unsigned)((D + kSumThreads - 1) / kSumThreads), (unsigned)S);
    mvd_launch(column_partials_kernel<Rows>, grid, dim3(kSumThreads), 0, stream, rows, partial, R, sum_chunk_rows(R),
               D);
    MVD_CUDA_CHECK_LAUNCH(op);
  }
  mvd_launch(column_finish_kernel, dim3(blocks_for(D, kSumThreads)), dim3(kSumThreads), 0, stream, partial, out, S, D);
  MVD_CUDA_CHECK_LAUNCH(op);
}

size_t column_sums_bytes(int64_t R, int64_t D) { return (size_t)((R > 0 ? sum_chunks(R) : 0) * D) * sizeof(double); }

// slot map [B*N] for place_tokens(+backward).
void build_slots(const int32_t* vis_idx, int32_t* slot, int64_t B, int64_t Nv, int64_t N, int* bad, cudaStream_t stream,
                 const char* op) {
  if (B * N > 0) {
    mvd_launch(fill_int_kernel, dim3(blocks_for(B * N)), dim3(kThreads), 0, stream, slot, (int32_t)-1, B * N);
    MVD_CUDA_CHECK_LAUNCH(op);
  }
  if (B * Nv == 0) return;
  mvd_launch(mark_slots_kernel, dim3(blocks_for(B * Nv)), dim3(kThreads), 0, stream, vis_idx, slot, Nv, N, B * Nv, bad);
  MVD_CUDA_CHECK_LAUNCH(op);
  if (bad) {
    mvd_launch(check_slots_kernel, dim3(blocks_for(B * Nv)), dim3(kThreads), 0, stream, vis_idx, slot, Nv, N, B * Nv,
               bad);
    MVD_CUDA_CHECK_LAUNCH(op);
  }
}

size_t align_up(size_t n) { return (n + 255) & ~(size_t)255; }

}  // namespace

void patchify_cuda(const float* x, float* out, const PatchifyArgs& a, cudaStream_t stream) {
  const int64_t Tn = a.T / (a.kt * a.frame_stride), Nh = a.H / a.kh, Nw = a.W / a.kw;
  const int64_t P = a.C * a.kt * a.kh * a.kw, total = a.B * Tn * Nh * Nw * P;
  if (total == 0) return;
  mvd_launch(patchify_kernel, dim3(blocks_for(total)), dim3(kThreads), 0, stream, x, out, a, Tn, Nh, Nw, P, total);
  MVD_CUDA_CHECK_LAUNCH("patchify");
}

void gather_tokens_cuda(const float* x, const int32_t* idx, float* out, int64_t B, int64_t N, int64_t K, int64_t D,
                        int* bad, cudaStream_t stream) {
  const int64_t total = B * K * D;
  if (total == 0) return;
  mvd_launch(gather_kernel, dim3(blocks_for(total)), dim3(kThreads), 0, stream, x, idx, out, N, K, D, total, bad);
  MVD_CUDA_CHECK_LAUNCH("gatherTokens");
}

size_t scatter_tokens_cuda_scratch_bytes(int64_t B, int64_t N) {
  return 2 * align_up((size_t)(B * N) * sizeof(int32_t));
}

void scatter_tokens_cuda(const float* dy, const int32_t* idx, float* out, int64_t B, int64_t N, int64_t K, int64_t D,
                         int* bad, void* scratch, cudaStream_t stream) {
  const char* op = "scatterTokens";
  const int64_t rows = B * N, total = rows * D;
  if (total == 0) return;
  int32_t* hits = static_cast<int32_t*>(scratch);
  int32_t* slot = reinterpret_cast<int32_t*>(static_cast<char*>(scratch) + align_up((size_t)rows * sizeof(int32_t)));
  mvd_launch(fill_int_kernel, dim3(blocks_for(rows)), dim3(kThreads), 0, stream, hits, (int32_t)0, rows);
  MVD_CUDA_CHECK_LAUNCH(op);
  mvd_launch(fill_int_kernel, dim3(blocks_for(rows)), dim3(kThreads), 0, stream, slot, (int32_t)-1, rows);
  MVD_CUDA_CHECK_LAUNCH(op);
  if (B * K > 0) {
    mvd_launch(count_hits_kernel, dim3(blocks_for(B * K)), dim3(kThreads), 0, stream, idx, hits, slot, N, K, B * K,
               bad);
    MVD_CUDA_CHECK_LAUNCH(op);
  }
  mvd_launch(scatter_kernel, dim3(blocks_for(total)), dim3(kThreads), 0, stream, dy, idx, hits, slot, out, N, K, D,
             total);
  MVD_CUDA_CHECK_LAUNCH(op);
}

void assemble_decoder_input_cuda(const float* vis, const int32_t* vis_idx, const int32_t* mask_idx,
                                 const float* mask_token, const float* pos, float* out, int64_t B, int64_t Nv,
                                 int64_t Nm, int64_t N, int64_t D, int* bad, cudaStream_t stream) {
  const int64_t total = B * (Nv + Nm) * D;
  if (total == 0) return;
  mvd_launch(assemble_kernel, dim3(blocks_for(total)), dim3(kThreads), 0, stream, vis, vis_idx, mask_idx, mask_token,
             pos, out, Nv, Nm, N, D, total, bad);
  MVD_CUDA_CHECK_LAUNCH("assembleDecoderInput");
}

size_t assemble_decoder_input_backward_cuda_scratch_bytes(int64_t B, int64_t Nm, int64_t D) {
  return column_sums_bytes(B * Nm, D);
}

void assemble_decoder_input_backward_cuda(const float* dy, float* dvis, float* dmask, int64_t B, int64_t Nv, int64_t Nm,
                                          int64_t D, void* scratch, cudaStream_t stream) {
  const char* op = "assembleDecoderInputBackward";
  if (B * Nv * D > 0) {
    mvd_launch(dvis_from_assembled_kernel, dim3(blocks_for(B * Nv * D)), dim3(kThreads), 0, stream, dy, dvis, Nv,
               Nv + Nm, D, B * Nv * D);
    MVD_CUDA_CHECK_LAUNCH(op);
  }
  column_sums(MaskedRows{dy, Nv, Nm, D}, dmask, B * Nm, D, static_cast<double*>(scratch), stream, op);
}

size_t place_tokens_cuda_scratch_bytes(int64_t B, int64_t N) { return align_up((size_t)(B * N) * sizeof(int32_t)); }

void place_tokens_cuda(const float* vis, const int32_t* vis_idx, const float* mask_token, float* out, int64_t B,
                       int64_t Nv, int64_t N, int64_t D, int* bad, void* scratch, cudaStream_t stream) {
  const char* op = "placeTokens";
  int32_t* slot = static_cast<int32_t*>(scratch);
  build_slots(vis_idx, slot, B, Nv, N, bad, stream, op);
  const int64_t total = B * N * D;
  if (total == 0) return;
  mvd_launch(place_kernel, dim3(blocks_for(total)), dim3(kThreads), 0, stream, vis, slot, mask_token, out, Nv, N, D,
             total);
  MVD_CUDA_CHECK_LAUNCH(op);
}

size_t place_tokens_backward_cuda_scratch_bytes(int64_t B, int64_t N, int64_t D) {
  return align_up(column_sums_bytes(B * N, D)) + align_up((size_t)(B * N) * sizeof(int32_t));
}

void place_tokens_backward_cuda(const float* dy, const int32_t* vis_idx, float* dvis, float* dmask, int64_t B,
                                int64_t Nv, int64_t N, int64_t D, int* bad, void* scratch, cudaStream_t stream) {
  const char* op = "placeTokensBackward";
  double* partial = static_cast<double*>(scratch);
  int32_t* slot = reinterpret_cast<int32_t*>(static_cast<char*>(scratch) + align_up(column_sums_bytes(B * N, D)));
  build_slots(vis_idx, slot, B, Nv, N, bad, stream, op);
  if (B * Nv * D > 0) {
    mvd_launch(dvis_from_placed_kernel, dim3(blocks_for(B * Nv * D)), dim3(kThreads), 0, stream, dy, vis_idx, dvis, Nv,
               N, D, B * Nv * D, bad);
    MVD_CUDA_CHECK_LAUNCH(op);
  }
  column_sums(UnplacedRows{dy, slot, D}, dmask, B * N, D, partial, stream, op);
}

}  // namespace mvd
