// Elementwise ops on CUDA: grid-stride loops over int64 indices (a tensor may exceed 2^31
// elements), so each launch uses a bounded grid whatever n is.
#include "simt/simt.h"

#include "cuda/grid.h"
#include "elementwise.h"

namespace mvd {

namespace {

using namespace grid;

constexpr int kColThreads = 128;
constexpr int64_t kSumChunkRows = 256;  // rows per double partial in sum_rows

constexpr float kInvSqrt2 = 0.70710678118654752f;
constexpr float kInvSqrt2Pi = 0.39894228040143268f;

// Φ(x) through erfc(−x/√2): for negative x, 1 + erf(x/√2) would cancel; erfc does not.
__device__ __forceinline__ float phi(float x) { return 0.5f * erfcf(-x * kInvSqrt2); }

// No __restrict__ on the elementwise kernels: every op of this family may run in place
// (elementwise.h).
__global__ void gelu_kernel(const float* x, float* y, int64_t n) {
  for (int64_t i = thread_index(); i < n; i += thread_stride()) {
    const float v = x[i];
    y[i] = v * phi(v);
  }
}

__global__ void gelu_backward_kernel(const float* dy, const float* x, float* dx, int64_t n) {
  for (int64_t i = thread_index(); i < n; i += thread_stride()) {
    const float v = x[i];
    dx[i] = dy[i] * (phi(v) + v * kInvSqrt2Pi * expf(-0.5f * v * v));
  }
}

__global__ void axpby_kernel(const float* a, const float* b, float alpha, float* out, int64_t n) {
  for (int64_t i = thread_index(); i < n; i += thread_stride()) out[i] = a[i] + alpha * b[i];
}

__global__ void add_kernel(const float* a, const float* b, float* out, int64_t n) {
  for (int64_t i = thread_index(); i < n; i += thread_stride()) out[i] = a[i] + b[i];
}

__global__ void scale_kernel(const float* x, float s, float* out, int64_t n) {
  for (int64_t i = thread_index(); i < n; i += thread_stride()) out[i] = s * x[i];
}

// Per-sample kernels walk samples on grid y and the sample's elements on grid x, so no element
// needs a 64-bit division to find its sample.
__global__ void add_broadcast_kernel(const float* x, const float* t, float* out, int64_t batch, int64_t inner) {
  for (int64_t b = blockIdx.y; b < batch; b += gridDim.y)
    for (int64_t i = thread_index(); i < inner; i += thread_stride()) out[b * inner + i] = x[b * inner + i] + t[i];
}

__global__ void row_scale_kernel(const float* x, const float* scales, float* out, int64_t batch, int64_t inner) {
  for (int64_t b = blockIdx.y; b < batch; b += gridDim.y) {
    const float s = scales[b];
    for (int64_t i = thread_index(); i < inner; i += thread_stride()) out[b * inner + i] = x[b * inner + i] * s;
  }
}

// Grid for a [batch, inner] walk: x covers inner, y covers batch, within kMaxBlocks in total.
inline dim3 sample_grid(int64_t batch, int64_t inner) {
  const unsigned bx = blocks_for(inner);
  int64_t by = kMaxBlocks / bx;
  by = by < 1 ? 1 : by > batch ? batch : by;
  by = by > 65535 ? 65535 : by;
  return dim3(bx, (unsigned)by);
}

// The hash of dropout_cpu (elementwise_cpu.cc), bit for bit, so both devices draw one mask.
__host__ __device__ __forceinline__ uint32_t mix32(uint32_t h) {
  h ^= h >> 16;
  h *= 0x85ebca6bu;
  h ^= h >> 13;
  h *= 0xc2b2ae35u;
  h ^= h >> 16;
  return h;
}

__global__ void dropout_kernel(const float* x, float* y, uint8_t* mask, int64_t n, uint32_t thr, bool drop_all,
                               float keep_scale, uint32_t k0, uint32_t k1) {
  for (int64_t i = thread_index(); i < n; i += thread_stride()) {
    uint32_t h = mix32((uint32_t)i * 0x9e3779b1u ^ k0);
    h = mix32(h ^ k1 ^ (uint32_t)((uint64_t)i >> 32));
    const bool keep = !drop_all && h >= thr;
    mask[i] = (uint8_t)keep;
    y[i] = x[i] * (keep ? keep_scale : 0.f);
  }
}

__global__ void dropout_backward_kernel(const float* dy, const uint8_t* mask, float* dx, int64_t n, float keep_scale) {
  for (int64_t i = thread_index(); i < n; i += thread_stride()) dx[i] = dy[i] * (mask[i] ? keep_scale : 0.f);
}

__global__ void fill_kernel(float* x, float value, int64_t n) {
  for (int64_t i = thread_index(); i < n; i += thread_stride()) x[i] = value;
}

// Stage 1 of sum_rows: thread j sums column j over one fixed chunk of rows in double.
// Chunks on grid x, column blocks on grid y.
__global__ void sum_rows_partial_kernel(const float* __restrict__ x, double* __restrict__ part, int64_t rows,
                                        int64_t cols) {
  const int64_t j = (int64_t)blockIdx.y * kColThreads + threadIdx.x;
  if (j >= cols) return;
  const int64_t c = blockIdx.x, r0 = c * kSumChunkRows;
  const int64_t r1 = r0 + kSumChunkRows < rows ? r0 + kSumChunkRows : rows;
  double s = 0.0;
  for (int64_t r = r0; r < r1; ++r) s += (double)x[r * cols + j];
  part[c * cols + j] = s;
}

// Stage 2: chunks in chunk order, after out's old value when accumulating.
__global__ void sum_rows_final_kernel(const double* __restrict__ part, float* out, int64_t nchunks, int64_t cols,
                                      bool accumulate) {
  const int64_t j = (int64_t)blockIdx.x * kColThreads + threadIdx.x;
  if (j >= cols) return;
  double s = accumulate ? (double)out[j] : 0.0;
  for (int64_t c = 0; c < nchunks; ++c) s += part[c * cols + j];
  out[j] = (float)s;
}

inline int64_t sum_chunks(int64_t rows) { return (rows + kSumChunkRows - 1) / kSumChunkRows; }

}  // namespace

void gelu_cuda(const float* x, float* y, int64_t n, cudaStream_t stream) {
  if (n == 0) return;
  mvd_launch(gelu_kernel, dim3(blocks_for(n)), dim3(kThreads), 0, stream, x, y, n);
  MVD_CUDA_CHECK_LAUNCH("gelu");
}

void gelu_backward_cuda(const float* dy, const float* x, float* dx, int64_t n, cudaStream_t stream) {
  if (n == 0) return;
  mvd_launch(gelu_backward_kernel, dim3(blocks_for(n)), dim3(kThreads), 0, stream, dy, x, dx, n);
  MVD_CUDA_CHECK_LAUNCH("geluBackward");
}

void axpby_cuda(const float* a, const float* b, float alpha, float* out, int64_t n, cudaStream_t stream) {
  if (n == 0) return;
  // alpha = 1 gets its own kernel so a + b is one add, as on the CPU, rather than an FMA with 1.
  if (alpha == 1.f) mvd_launch(add_kernel, dim3(blocks_for(n)), dim3(kThreads), 0, stream, a, b, out, n);
  else mvd_launch(axpby_kernel, dim3(blocks_for(n)), dim3(kThreads), 0, stream, a, b, alpha, out, n);
  MVD_CUDA_CHECK_LAUNCH("add");
}

void scale_cuda(const float* x, float s, float* out, int64_t n, cudaStream_t stream) {
  if (n == 0) return;
  mvd_launch(scale_kernel, dim3(blocks_for(n)), dim3(kThreads), 0, stream, x, s, out, n);
  MVD_CUDA_CHECK_LAUNCH("scale");
}

void add_broadcast_cuda(const float* x, const float* t, float* out, int64_t batch, int64_t inner, cudaStream_t stream) {
  const int64_t n = batch * inner;
  if (n == 0) return;
  mvd_launch(add_broadcast_kernel, sample_grid(batch, inner), dim3(kThreads), 0, stream, x, t, out, batch, inner);
  MVD_CUDA_CHECK_LAUNCH("addBroadcast");
}

void row_scale_cuda(const float* x, const float* scales, float* out, int64_t batch, int64_t inner,
                    cudaStream_t stream) {
  const int64_t n = batch * inner;
  if (n == 0) return;
  mvd_launch(row_scale_kernel, sample_grid(batch, inner), dim3(kThreads), 0, stream, x, scales, out, batch, inner);
  MVD_CUDA_CHECK_LAUNCH("rowScale");
}

void dropout_cuda(const float* x, float* y, uint8_t* mask, int64_t n, float p, uint64_t seed, cudaStream_t stream) {
  if (n == 0) return;
  // Threshold, scale and keys exactly as dropout_cpu derives them.
  const double pd = p <= 0.f ? 0.0 : p >= 1.f ? 1.0 : (double)p;
  const uint64_t thr64 = (uint64_t)(pd * 4294967296.0);
  const bool drop_all = thr64 >= 4294967296ull;
  const uint32_t thr = drop_all ? 0xffffffffu : (uint32_t)thr64;
  const float keep_scale = pd < 1.0 ? (float)(1.0 / (1.0 - pd)) : 0.f;
  const uint32_t k0 = mix32((uint32_t)seed ^ 0x9e3779b9u), k1 = mix32((uint32_t)(seed >> 32) + 0x7f4a7c15u);
  mvd_launch(dropout_kernel, dim3(blocks_for(n)), dim3(kThreads), 0, stream, x, y, mask, n, thr, drop_all, keep_scale,
             k0, k1);
  MVD_CUDA_CHECK_LAUNCH("dropout");
}

void dropout_backward_cuda(const float* dy, const uint8_t* mask, float* dx, int64_t n, float p, cudaStream_t stream) {
  if (n == 0) return;
  const float keep_scale = p < 1.f ? (float)(1.0 / (1.0 - (double)(p > 0.f ? p : 0.f))) : 0.f;
  mvd_launch(dropout_backward_kernel, dim3(blocks_for(n)), dim3(kThreads), 0, stream, dy, mask, dx, n, keep_scale);
  MVD_CUDA_CHECK_LAUNCH("dropoutBackward");
}

size_t sum_rows_cuda_scratch_bytes(int64_t rows, int64_t cols) {
  return (size_t)(sum_chunks(rows) * cols) * sizeof(double);
}

void sum_rows_cuda(const float* x, float* out, int64_t rows, int64_t cols, bool accumulate, void* scratch,
                   cudaStream_t stream) {
  if (cols == 0) return;
  const int64_t nchunks = sum_chunks(rows);
  const unsigned col_blocks = (unsigned)((cols + kColThreads - 1) / kColThreads);
  double* part = static_cast<double*>(scratch);
  if (nchunks > 0) {
    mvd_launch(sum_rows_partial_kernel, dim3((unsigned)nchunks, col_blocks), dim3(kColThreads), 0, stream, x, part,
               rows, cols);
    MVD_CUDA_CHECK_LAUNCH("sumRows");
  }
  mvd_launch(sum_rows_final_kernel, dim3(col_blocks), dim3(kColThreads), 0, stream, (const double*)part, out, nchunks,
             cols, accumulate);
  MVD_CUDA_CHECK_LAUNCH("sumRows");
}

void fill_cuda(float* x, float value, int64_t n, cudaStream_t stream) {
  if (n == 0) return;
  mvd_launch(fill_kernel, dim3(blocks_for(n)), dim3(kThreads), 0, stream, x, value, n);
  MVD_CUDA_CHECK_LAUNCH("fill");
}

}  // namespace mvd
