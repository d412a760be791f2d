// LayerNorm on CUDA: one warp per row (D is at most a few thousand, so a row is a few dozen values
// per lane and needs no shared memory). Statistics are two-pass like the CPU op: the centred second
// pass avoids the cancellation of E[x²] − E[x]².
#include "simt/simt.h"

#include "norm.h"

namespace mvd {

namespace {

constexpr int kWarps = 4;           // rows per block in the row kernels
constexpr int kColThreads = 128;    // columns per block in the column kernels
constexpr int64_t kChunkRows = 64;  // rows summed in float before a partial is stored

// Butterfly sum: every lane ends with the same bits, since each step adds the same two values
// (a + b == b + a exactly), so lanes never disagree about the statistics of their row.
__device__ __forceinline__ float warp_sum(float v) {
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  return v;
}

// With a residual, each lane writes its elements of the row's sum and later passes read them back:
// a lane only ever reads the elements it wrote itself, so no synchronisation is needed.
__global__ void ln_forward_kernel(const float* __restrict__ x, const float* __restrict__ res, float* sum,
                                  const float* __restrict__ w, const float* __restrict__ b, float* __restrict__ y,
                                  float* __restrict__ mean, float* __restrict__ rstd, int64_t rows, int D, float eps) {
  const int lane = threadIdx.x & 31;
  const int64_t r = (int64_t)blockIdx.x * kWarps + (threadIdx.x >> 5);
  if (r >= rows) return;  // a whole warp leaves together, so the shuffles below stay full-warp
  const float* xr = x + r * D;
  float* yr = y + r * D;
  const float invD = 1.f / (float)D;
  float s = 0.f;
  if (res) {
    const float* rr = res + r * D;
    float* sr = sum + r * D;
    for (int j = lane; j < D; j += 32) {
      const float v = xr[j] + rr[j];
      sr[j] = v;
      s += v;
    }
    xr = sr;
  } else {
    for (int j = lane; j < D; j += 32) s += xr[j];
  }
  const float mu = warp_sum(s) * invD;
  float ss = 0.f;
  for (int j = lane; j < D; j += 32) {
    float d = xr[j] - mu;
    ss += d * d;
  }
  const float rs = 1.f / sqrtf(warp_sum(ss) * invD + eps);
  if (w) {
    for (int j = lane; j < D; j += 32) yr[j] = (xr[j] - mu) * rs * w[j] + b[j];
  } else {
    for (int j = lane; j < D; j += 32) yr[j] = (xr[j] - mu) * rs;
  }
  if (lane == 0) {
    mean[r] = mu;
    rstd[r] = rs;
  }
}

__global__ void ln_backward_dx_kernel(const float* __restrict__ dy, const float* __restrict__ x,
                                      const float* __restrict__ mean, const float* __restrict__ rstd,
                                      const float* __restrict__ w, const float* __restrict__ dres,
                                      float* __restrict__ dx, int64_t rows, int D) {
  const int lane = threadIdx.x & 31;
  const int64_t r = (int64_t)blockIdx.x * kWarps + (threadIdx.x >> 5);
  if (r >= rows) return;
  const float* xr = x + r * D;
  const float* gr = dy + r * D;
  float* dxr = dx + r * D;
  const float mu = mean[r], rs = rstd[r], invD = 1.f / (float)D;
  float sg = 0.f, sgx = 0.f;
  for (int j = lane; j < D; j += 32) {
    float g = w ? gr[j] * w[j] : gr[j];
    sg += g;
    sgx += g * ((xr[j] - mu) * rs);
  }
  const float a = warp_sum(sg) * invD, bb = warp_sum(sgx) * invD;
  for (int j = lane; j < D; j += 32) {
    float g = w ? gr[j] * w[j] : gr[j];
    float xh = (xr[j] - mu) * rs;
    const float v = rs * (g - a - xh * bb);
    dxr[j] = dres ? v + dres[r * D + j] : v;
  }
}

// Stage 1 of dweight/dbias: thread j sums column j over one chunk of kChunkRows rows (coalesced
// across the block's threads) and stores the chunk's partial; the chunk bounds depend only on
// rows, never on which block runs when. Chunks go on grid x (up to 2^31 − 1), columns on y.
__global__ void ln_backward_dwdb_partial_kernel(const float* __restrict__ dy, const float* __restrict__ x,
                                                const float* __restrict__ mean, const float* __restrict__ rstd,
                                                float* __restrict__ part_w, float* __restrict__ part_b, int64_t rows,
                                                int D) {
  const int j = blockIdx.y * kColThreads + threadIdx.x;
  if (j >= D) return;
  const int64_t c = blockIdx.x, r0 = c * kChunkRows;
  const int64_t r1 = r0 + kChunkRows < rows ? r0 + kChunkRows : rows;
  float sw = 0.f, sb = 0.f;
  for (int64_t r = r0; r < r1; ++r) {
    const float g = dy[r * D + j];
    sw += g * ((x[r * D + j] - mean[r]) * rstd[r]);
    sb += g;
  }
  part_w[c * D + j] = sw;
  part_b[c * D + j] = sb;
}

// Stage 2: chunks added in chunk order in double, as the CPU op adds its per-thread partials.
__global__ void ln_backward_dwdb_final_kernel(const float* __restrict__ part_w, const float* __restrict__ part_b,
                                              float* __restrict__ dw, float* __restrict__ db, int64_t nchunks, int D) {
  const int j = blockIdx.x * kColThreads + threadIdx.x;
  if (j >= D) return;
  double sw = 0.0, sb = 0.0;
  for (int64_t c = 0; c < nchunks; ++c) {
    sw += (double)part_w[c * D + j];
    sb += (double)part_b[c * D + j];
  }
  dw[j] = (float)sw;
  db[j] = (float)sb;
}

inline unsigned row_blocks(int64_t rows) { return (unsigned)((rows + kWarps - 1) / kWarps); }
inline unsigned col_blocks(int64_t D) { return (unsigned)((D + kColThreads - 1) / kColThreads); }
inline int64_t chunks_of(int64_t rows) { return (rows + kChunkRows - 1) / kChunkRows; }

}  // namespace

void layernorm_forward_cuda(const float* x, const float* residual, float* sum, const float* weight, const float* bias,
                            float* y, float* mean, float* rstd, int64_t rows, int64_t D, float eps,
                            cudaStream_t stream) {
  if (rows == 0) return;
  mvd_launch(ln_forward_kernel, dim3(row_blocks(rows)), dim3(kWarps * 32), 0, stream, x, residual, sum, weight, bias, y,
             mean, rstd, rows, (int)D, eps);
  MVD_CUDA_CHECK_LAUNCH("layerNormForward");
}

size_t layernorm_backward_cuda_scratch_bytes(int64_t rows, int64_t D, bool affine) {
  return affine ? (size_t)(2 * chunks_of(rows) * D) * sizeof(float) : 0;
}

void layernorm_backward_cuda(const float* dy, const float* x, const float* mean, const float* rstd, const float* weight,
                             const float* dresidual, float* dx, float* dweight, float* dbias, int64_t rows, int64_t D,
                             void* scratch, cudaStream_t stream) {
  if (rows > 0) {
    mvd_launch(ln_backward_dx_kernel, dim3(row_blocks(rows)), dim3(kWarps * 32), 0, stream, dy, x, mean, rstd, weight,
               dresidual, dx, rows, (int)D);
    MVD_CUDA_CHECK_LAUNCH("layerNormBackward");
  }
  if (!weight) return;
  const int64_t nchunks = chunks_of(rows);
  float* part_w = static_cast<float*>(scratch);
  float* part_b = part_w + nchunks * D;
  if (nchunks > 0) {
    mvd_launch(ln_backward_dwdb_partial_kernel, dim3((unsigned)nchunks, col_blocks(D)), dim3(kColThreads), 0, stream,
               dy, x, mean, rstd, part_w, part_b, rows, (int)D);
    MVD_CUDA_CHECK_LAUNCH("layerNormBackward");
  }
  mvd_launch(ln_backward_dwdb_final_kernel, dim3(col_blocks(D)), dim3(kColThreads), 0, stream, (const float*)part_w,
             (const float*)part_b, dweight, dbias, nchunks, (int)D);
  MVD_CUDA_CHECK_LAUNCH("layerNormBackward");
}

}  // namespace mvd
