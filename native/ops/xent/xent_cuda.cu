// Cross-entropy, softmax and top-k on CUDA: one warp per row (C is a class count, at most a few
// thousand), then one block adding the per-row values in row order. The row scalars (log-sum-exp,
// the loss terms) are combined in double as in the CPU op: with logits near 1e4 a float lse has an
// ulp of 1e-3, which would swamp a loss of a few units.
#include "simt/simt.h"

#include <string>

#include "../../core/errors.h"
#include "xent.h"

namespace mvd {

namespace {

constexpr int kWarps = 4;
constexpr int kThreads = 256;  // the single-block reductions

__device__ __forceinline__ float warp_max(float v) {
  for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
  return v;
}

__device__ __forceinline__ int warp_sum_int(int v) {
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  return v;
}

// A double travels through the warp as two 32-bit halves (the emulator shuffles 32-bit values).
// The butterfly leaves every lane with the same bits, since a + b == b + a.
__device__ __forceinline__ double warp_sum_double(double v) {
  for (int o = 16; o > 0; o >>= 1) {
    union {
      double d;
      unsigned u[2];
    } a, b;
    a.d = v;
    b.u[0] = __shfl_xor_sync(0xffffffffu, a.u[0], o);
    b.u[1] = __shfl_xor_sync(0xffffffffu, a.u[1], o);
    v = a.d + b.d;
  }
  return v;
}

// Finds the first row whose label is outside [0, C): chk[0] = row (B when none), chk[1] = label.
__global__ void check_labels_kernel(const int32_t* labels, int64_t B, int64_t C, int64_t* chk) {
  MVD_SHARED(int64_t, red, kThreads);
  int64_t first = B;
  for (int64_t i = threadIdx.x; i < B; i += kThreads)
    if ((labels[i] < 0 || labels[i] >= C) && i < first) first = i;
  red[threadIdx.x] = first;
  __syncthreads();
  for (int s = kThreads / 2; s > 0; s >>= 1) {
    if (threadIdx.x < s && red[threadIdx.x + s] < red[threadIdx.x]) red[threadIdx.x] = red[threadIdx.x + s];
    __syncthreads();
  }
  if (threadIdx.x == 0) {
    chk[0] = red[0];
    chk[1] = red[0] < B ? labels[red[0]] : 0;
  }
}

// Runs the label check and waits for it, so a bad label throws the CPU op's error here.
void check_labels(const char* op, const int32_t* labels, int64_t B, int64_t C, int64_t* chk, cudaStream_t stream) {
  mvd_launch(check_labels_kernel, dim3(1), dim3(kThreads), 0, stream, labels, B, C, chk);
  MVD_CUDA_CHECK_LAUNCH(op);
  int64_t h[2];
  cuda_check(cudaMemcpyAsync(h, chk, sizeof h, cudaMemcpyDeviceToHost, stream), op);
  cuda_check(cudaStreamSynchronize(stream), op);
  if (h[0] < B)
    throw OpError(ErrorKind::Value, op,
                  "label " + std::to_string(h[1]) + " at row " + std::to_string(h[0]) + " is outside [0, " +
                      std::to_string(C) + ")");
}

__global__ void xent_rows_kernel(const float* __restrict__ logits, const int32_t* __restrict__ labels,
                                 const float* __restrict__ soft, int64_t B, int C, float eps,
                                 float* __restrict__ dlogits, double* __restrict__ row_loss) {
  const int lane = threadIdx.x & 31;
  const int64_t i = (int64_t)blockIdx.x * kWarps + (threadIdx.x >> 5);
  if (i >= B) return;
  const float* x = logits + i * C;
  float* g = dlogits + i * C;
  float m = -INFINITY;
  for (int c = lane; c < C; c += 32) m = fmaxf(m, x[c]);
  m = warp_max(m);
  const float* t = soft ? soft + i * C : nullptr;
  double sum = 0.0, aux = 0.0;  // aux: Σ x (hard labels) or Σ t (soft targets)
  for (int c = lane; c < C; c += 32) {
    sum += (double)expf(x[c] - m);
    aux += t ? (double)t[c] : (double)x[c];
  }
  sum = warp_sum_double(sum);
  aux = warp_sum_double(aux);
  const double lse = (double)m + log(sum), inv_sum = 1.0 / sum, invB = 1.0 / (double)B;
  if (!t) {
    const int y = labels[i];
    const double off = (double)eps / (double)C;
    for (int c = lane; c < C; c += 32) {
      const double e = (double)expf(x[c] - m) * inv_sum;
      g[c] = (float)((e - off - (c == y ? 1.0 - (double)eps : 0.0)) * invB);
    }
    if (lane == 0) row_loss[i] = lse - (1.0 - (double)eps) * (double)x[y] - (double)eps * aux / (double)C;
  } else {
    double l = 0.0;
    for (int c = lane; c < C; c += 32) {
      const double e = (double)expf(x[c] - m) * inv_sum;
      g[c] = (float)((e * aux - (double)t[c]) * invB);
      l += (double)t[c] * (lse - (double)x[c]);
    }
    l = warp_sum_double(l);
    if (lane == 0) row_loss[i] = l;
  }
}

__global__ void mean_rows_kernel(const double* __restrict__ row_loss, int64_t B, float* __restrict__ loss) {
  MVD_SHARED(double, red, kThreads);
  double s = 0.0;
  for (int64_t i = threadIdx.x; i < B; i += kThreads) s += row_loss[i];
  red[threadIdx.x] = s;
  __syncthreads();
  for (int k = kThreads / 2; k > 0; k >>= 1) {
    if (threadIdx.x < k) red[threadIdx.x] += red[threadIdx.x + k];
    __syncthreads();
  }
  if (threadIdx.x == 0) loss[0] = (float)(red[0] / (double)B);
}

__global__ void softmax_kernel(const float* __restrict__ logits, int64_t B, int C, float* __restrict__ out) {
  const int lane = threadIdx.x & 31;
  const int64_t i = (int64_t)blockIdx.x * kWarps + (threadIdx.x >> 5);
  if (i >= B) return;
  const float* x = logits + i * C;
  float* o = out + i * C;
  float m = -INFINITY;
  for (int c = lane; c < C; c += 32) m = fmaxf(m, x[c]);
  m = warp_max(m);
  double sum = 0.0;
  for (int c = lane; c < C; c += 32) sum += (double)expf(x[c] - m);
  const double inv = 1.0 / warp_sum_double(sum);
  for (int c = lane; c < C; c += 32) o[c] = (float)((double)expf(x[c] - m) * inv);
}

__global__ void topk_rank_kernel(const float* __restrict__ logits, const int32_t* __restrict__ labels, int64_t B, int C,
                                 int32_t* __restrict__ rank) {
  const int lane = threadIdx.x & 31;
  const int64_t i = (int64_t)blockIdx.x * kWarps + (threadIdx.x >> 5);
  if (i >= B) return;
  const float* x = logits + i * C;
  const float v = x[labels[i]];
  int greater = 0;
  for (int c = lane; c < C; c += 32) greater += x[c] > v;
  greater = warp_sum_int(greater);
  if (lane == 0) rank[i] = greater;
}

__global__ void topk_count_kernel(const int32_t* __restrict__ rank, int64_t B, const int64_t* __restrict__ ks,
                                  int64_t nk, float* __restrict__ out) {
  MVD_SHARED(int64_t, red, kThreads);
  for (int64_t j = 0; j < nk; ++j) {
    int64_t hits = 0;
    for (int64_t i = threadIdx.x; i < B; i += kThreads) hits += rank[i] < ks[j];
    red[threadIdx.x] = hits;
    __syncthreads();
    for (int s = kThreads / 2; s > 0; s >>= 1) {
      if (threadIdx.x < s) red[threadIdx.x] += red[threadIdx.x + s];
      __syncthreads();
    }
    if (threadIdx.x == 0) out[j] = (float)red[0];
    __syncthreads();  // red is refilled for the next k
  }
}

inline unsigned row_blocks(int64_t B) { return (unsigned)((B + kWarps - 1) / kWarps); }

// Scratch layouts: [chk: 2 × int64][per-row values] and [chk][ks: nk × int64][rank: B × int32].
constexpr size_t kChkBytes = 2 * sizeof(int64_t);

}  // namespace

size_t cross_entropy_cuda_scratch_bytes(int64_t B) { return kChkBytes + (size_t)B * sizeof(double); }

void cross_entropy_cuda(const float* logits, const int32_t* labels, const float* soft, int64_t B, int64_t C, float eps,
                        float* loss, float* dlogits, void* scratch, cudaStream_t stream) {
  int64_t* chk = static_cast<int64_t*>(scratch);
  double* row_loss = reinterpret_cast<double*>(static_cast<char*>(scratch) + kChkBytes);
  if (labels) check_labels("crossEntropy", labels, B, C, chk, stream);
  if (B > 0) {
    mvd_launch(xent_rows_kernel, dim3(row_blocks(B)), dim3(kWarps * 32), 0, stream, logits, labels, soft, B, (int)C,
               eps, dlogits, row_loss);
    MVD_CUDA_CHECK_LAUNCH("crossEntropy");
  }
  mvd_launch(mean_rows_kernel, dim3(1), dim3(kThreads), 0, stream, (const double*)row_loss, B, loss);
  MVD_CUDA_CHECK_LAUNCH("crossEntropy");
}

void softmax_cuda(const float* logits, int64_t B, int64_t C, float* out, cudaStream_t stream) {
  if (B == 0) return;
  mvd_launch(softmax_kernel, dim3(row_blocks(B)), dim3(kWarps * 32), 0, stream, logits, B, (int)C, out);
  MVD_CUDA_CHECK_LAUNCH("softmax");
}

size_t topk_correct_cuda_scratch_bytes(int64_t B, int64_t nk) {
  return kChkBytes + (size_t)nk * sizeof(int64_t) + (size_t)B * sizeof(int32_t);
}

void topk_correct_cuda(const float* logits, const int32_t* labels, int64_t B, int64_t C, const int64_t* ks, int64_t nk,
                       float* out, void* scratch, cudaStream_t stream) {
  int64_t* chk = static_cast<int64_t*>(scratch);
  int64_t* dks = chk + 2;
  int32_t* rank = reinterpret_cast<int32_t*>(dks + nk);
  check_labels("topkCorrect", labels, B, C, chk, stream);
  // ks is a host array; the copy is ordered on the stream before the count kernel reads it.
  if (nk > 0)
    cuda_check(cudaMemcpyAsync(dks, ks, (size_t)nk * sizeof(int64_t), cudaMemcpyHostToDevice, stream), "topkCorrect");
  if (B > 0) {
    mvd_launch(topk_rank_kernel, dim3(row_blocks(B)), dim3(kWarps * 32), 0, stream, logits, labels, B, (int)C, rank);
    MVD_CUDA_CHECK_LAUNCH("topkCorrect");
  }
  if (nk > 0) {
    mvd_launch(topk_count_kernel, dim3(1), dim3(kThreads), 0, stream, (const int32_t*)rank, B, (const int64_t*)dks, nk,
               out);
    MVD_CUDA_CHECK_LAUNCH("topkCorrect");
  }
}

}  // namespace mvd
