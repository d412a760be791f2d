// Optimiser-step kernels on CUDA over lists of tensors. The concatenated elements are cut into
// fixed chunks of kChunk; block b owns chunk b and finds its tensor by binary search in a table
// staged in scratch, so a biases-and-qkv-weights list is one launch that balances itself.
#include "simt/simt.h"

#include <cmath>
#include <string>

#include "../../core/errors.h"
#include "optim.h"

namespace mvd {

namespace {

constexpr int kThreads = 256;
constexpr int64_t kChunk = 4096;  // elements per block

struct AdamEntry {
  float* p;
  const float* g;
  float* m;
  float* v;
  int64_t n;
  int64_t chunk0;   // first chunk of this tensor
  float decay;      // 1 − lr·wd, rounded once from double as the CPU op does
  float step_size;  // lr / bc1, likewise
};

struct SpanEntry {
  float* data;
  int64_t n;
  int64_t chunk0;
};

inline int64_t chunks_of(int64_t n) { return (n + kChunk - 1) / kChunk; }
inline size_t align16(size_t b) { return (b + 15) & ~size_t(15); }

// The last entry whose first chunk is <= b: empty tensors are left out of the tables, so that is
// the tensor owning chunk b.
template <typename E>
__device__ __forceinline__ int find_entry(const E* tab, int count, int64_t b) {
  int lo = 0, hi = count - 1;
  while (lo < hi) {
    const int mid = (lo + hi + 1) >> 1;
    if (tab[mid].chunk0 <= b) lo = mid;
    else hi = mid - 1;
  }
  return lo;
}

struct AdamConst {
  float b1, b2, eps, gs, bc2_sqrt, one_m_b1, one_m_b2;
};

__global__ void adamw_kernel(const AdamEntry* __restrict__ tab, int count, AdamConst c) {
  const int64_t b = blockIdx.x;
  const AdamEntry e = tab[find_entry(tab, count, b)];
  const int64_t lo = (b - e.chunk0) * kChunk;
  const int64_t hi = lo + kChunk < e.n ? lo + kChunk : e.n;
  for (int64_t i = lo + threadIdx.x; i < hi; i += kThreads) {
    // torch.optim.AdamW's order, as adamw_cpu: decay, moments, sqrt(v)/sqrt(bc2) + eps, step.
    const float gi = e.g[i] * c.gs;
    const float pi = e.p[i] * e.decay;
    const float mi = e.m[i] * c.b1 + c.one_m_b1 * gi;
    const float vi = e.v[i] * c.b2 + c.one_m_b2 * gi * gi;
    e.m[i] = mi;
    e.v[i] = vi;
    const float denom = sqrtf(vi) / c.bc2_sqrt + c.eps;
    e.p[i] = pi - e.step_size * (mi / denom);
  }
}

// Fixed-shape tree over shared memory; the result's bits depend only on the inputs.
template <typename T, typename Op>
__device__ T block_reduce(T v, T* red, Op op) {
  const int t = threadIdx.x;
  red[t] = v;
  __syncthreads();
  for (int s = kThreads / 2; s > 0; s >>= 1) {
    if (t < s) red[t] = op(red[t], red[t + s]);
    __syncthreads();
  }
  return red[0];
}

struct AddD {
  __device__ double operator()(double a, double b) const { return a + b; }
};
struct OrI {
  __device__ int operator()(int a, int b) const { return a | b; }
};

__global__ void sumsq_partial_kernel(const SpanEntry* __restrict__ tab, int count, double* __restrict__ part) {
  MVD_SHARED(double, red, kThreads);
  const int64_t b = blockIdx.x;
  const SpanEntry e = tab[find_entry(tab, count, b)];
  const int64_t lo = (b - e.chunk0) * kChunk;
  const int64_t hi = lo + kChunk < e.n ? lo + kChunk : e.n;
  double s = 0.0;
  for (int64_t i = lo + threadIdx.x; i < hi; i += kThreads) {
    const double x = (double)e.data[i];
    s += x * x;
  }
  s = block_reduce(s, red, AddD{});
  if (threadIdx.x == 0) part[b] = s;
}

__global__ void norm_final_kernel(const double* __restrict__ part, int64_t nparts, double* __restrict__ result,
                                  float* __restrict__ out) {
  MVD_SHARED(double, red, kThreads);
  double s = 0.0;
  for (int64_t b = threadIdx.x; b < nparts; b += kThreads) s += part[b];
  s = block_reduce(s, red, AddD{});
  if (threadIdx.x == 0) {
    const double r = sqrt(s);
    result[0] = r;
    if (out) out[0] = (float)r;
  }
}

__global__ void nonfinite_partial_kernel(const SpanEntry* __restrict__ tab, int count, int* __restrict__ part) {
  MVD_SHARED(int, red, kThreads);
  const int64_t b = blockIdx.x;
  const SpanEntry e = tab[find_entry(tab, count, b)];
  const int64_t lo = (b - e.chunk0) * kChunk;
  const int64_t hi = lo + kChunk < e.n ? lo + kChunk : e.n;
  int bad = 0;
  // NaN fails the comparison too; written without isfinite, which only nvcc has unqualified.
  for (int64_t i = lo + threadIdx.x; i < hi; i += kThreads) bad |= !(fabsf(e.data[i]) < INFINITY);
  bad = block_reduce(bad, red, OrI{});
  if (threadIdx.x == 0) part[b] = bad;
}

__global__ void finite_final_kernel(const int* __restrict__ part, int64_t nparts, double* __restrict__ result,
                                    float* __restrict__ out) {
  MVD_SHARED(int, red, kThreads);
  int bad = 0;
  for (int64_t b = threadIdx.x; b < nparts; b += kThreads) bad |= part[b];
  bad = block_reduce(bad, red, OrI{});
  if (threadIdx.x == 0) {
    result[0] = bad ? 0.0 : 1.0;
    if (out) out[0] = bad ? 0.f : 1.f;
  }
}

__global__ void scale_kernel(const SpanEntry* __restrict__ tab, int count, float s) {
  const int64_t b = blockIdx.x;
  const SpanEntry e = tab[find_entry(tab, count, b)];
  const int64_t lo = (b - e.chunk0) * kChunk;
  const int64_t hi = lo + kChunk < e.n ? lo + kChunk : e.n;
  for (int64_t i = lo + threadIdx.x; i < hi; i += kThreads) e.data[i] *= s;
}

// The non-empty spans as a table, with the total chunk count.
std::vector<SpanEntry> span_table(const std::vector<Span>& ts, int64_t* nchunks) {
  std::vector<SpanEntry> tab;
  int64_t c = 0;
  for (const Span& s : ts) {
    if (s.n <= 0) continue;
    tab.push_back(SpanEntry{s.data, s.n, c});
    c += chunks_of(s.n);
  }
  *nchunks = c;
  return tab;
}

// Scratch for span lists: [table][partials: nchunks × 8 bytes][result double].
struct SpanScratch {
  SpanEntry* tab;
  void* part;
  double* result;
};

SpanScratch span_scratch(void* scratch, size_t entries, int64_t nchunks) {
  char* base = static_cast<char*>(scratch);
  const size_t tab_bytes = align16(entries * sizeof(SpanEntry));
  const size_t part_bytes = align16((size_t)nchunks * sizeof(double));
  return SpanScratch{reinterpret_cast<SpanEntry*>(base), base + tab_bytes,
                     reinterpret_cast<double*>(base + tab_bytes + part_bytes)};
}

// Copies the table to the device (ordered on the stream; the host vector may go once this returns).
const SpanEntry* stage_spans(const std::vector<SpanEntry>& tab, const SpanScratch& s, cudaStream_t stream,
                             const char* op) {
  if (!tab.empty())
    cuda_check(cudaMemcpyAsync(s.tab, tab.data(), tab.size() * sizeof(SpanEntry), cudaMemcpyHostToDevice, stream), op);
  return s.tab;
}

void reduce_to(const std::vector<Span>& ts, float* out, void* scratch, cudaStream_t stream, bool norm) {
  const char* op = norm ? "gradNorm" : "allFinite";
  int64_t nchunks;
  const std::vector<SpanEntry> tab = span_table(ts, &nchunks);
  const SpanScratch s = span_scratch(scratch, tab.size(), nchunks);
  const SpanEntry* dtab = stage_spans(tab, s, stream, op);
  if (nchunks > 0) {
    if (norm)
      mvd_launch(sumsq_partial_kernel, dim3((unsigned)nchunks), dim3(kThreads), 0, stream, dtab, (int)tab.size(),
                 static_cast<double*>(s.part));
    else
      mvd_launch(nonfinite_partial_kernel, dim3((unsigned)nchunks), dim3(kThreads), 0, stream, dtab, (int)tab.size(),
                 static_cast<int*>(s.part));
    MVD_CUDA_CHECK_LAUNCH(op);
  }
  if (norm)
    mvd_launch(norm_final_kernel, dim3(1), dim3(kThreads), 0, stream, (const double*)s.part, nchunks, s.result, out);
  else mvd_launch(finite_final_kernel, dim3(1), dim3(kThreads), 0, stream, (const int*)s.part, nchunks, s.result, out);
  MVD_CUDA_CHECK_LAUNCH(op);
}

double reduce_to_host(const std::vector<Span>& ts, void* scratch, cudaStream_t stream, bool norm) {
  const char* op = norm ? "gradNorm" : "allFinite";
  reduce_to(ts, nullptr, scratch, stream, norm);
  int64_t nchunks;
  const std::vector<SpanEntry> tab = span_table(ts, &nchunks);
  double r = 0;
  const double* result = span_scratch(scratch, tab.size(), nchunks).result;
  cuda_check(cudaMemcpyAsync(&r, result, sizeof r, cudaMemcpyDeviceToHost, stream), op);
  cuda_check(cudaStreamSynchronize(stream), op);
  return r;
}

}  // namespace

size_t adamw_cuda_scratch_bytes(const std::vector<AdamWTensor>& ts) { return ts.size() * sizeof(AdamEntry); }

void adamw_cuda(const std::vector<AdamWTensor>& ts, const AdamWHyper& h, void* scratch, cudaStream_t stream) {
  // Bias corrections and per-tensor factors in double, rounded once, exactly as adamw_cpu does.
  const double bc1 = 1.0 - std::pow(h.beta1, (double)h.step);
  const double bc2 = 1.0 - std::pow(h.beta2, (double)h.step);
  AdamConst c{(float)h.beta1,        (float)h.beta2,         (float)h.eps,          h.grad_scale,
              (float)std::sqrt(bc2), (float)(1.0 - h.beta1), (float)(1.0 - h.beta2)};
  std::vector<AdamEntry> tab;
  int64_t nchunks = 0;
  for (const AdamWTensor& t : ts) {
    if (t.n <= 0) continue;
    tab.push_back(AdamEntry{t.p, t.g, t.m, t.v, t.n, nchunks, (float)(1.0 - (double)t.lr * (double)t.weight_decay),
                            (float)((double)t.lr / bc1)});
    nchunks += chunks_of(t.n);
  }
  if (nchunks == 0) return;
  AdamEntry* dtab = static_cast<AdamEntry*>(scratch);
  cuda_check(cudaMemcpyAsync(dtab, tab.data(), tab.size() * sizeof(AdamEntry), cudaMemcpyHostToDevice, stream),
             "adamw");
  mvd_launch(adamw_kernel, dim3((unsigned)nchunks), dim3(kThreads), 0, stream, (const AdamEntry*)dtab, (int)tab.size(),
             c);
  MVD_CUDA_CHECK_LAUNCH("adamw");
}

size_t span_list_cuda_scratch_bytes(const std::vector<Span>& ts) {
  int64_t nchunks;
  const std::vector<SpanEntry> tab = span_table(ts, &nchunks);
  return align16(tab.size() * sizeof(SpanEntry)) + align16((size_t)nchunks * sizeof(double)) + sizeof(double);
}

void grad_norm_cuda_to(const std::vector<Span>& ts, float* out, void* scratch, cudaStream_t stream) {
  reduce_to(ts, out, scratch, stream, true);
}

void all_finite_cuda_to(const std::vector<Span>& ts, float* out, void* scratch, cudaStream_t stream) {
  reduce_to(ts, out, scratch, stream, false);
}

double grad_norm_cuda(const std::vector<Span>& ts, void* scratch, cudaStream_t stream) {
  return reduce_to_host(ts, scratch, stream, true);
}

bool all_finite_cuda(const std::vector<Span>& ts, void* scratch, cudaStream_t stream) {
  return reduce_to_host(ts, scratch, stream, false) != 0.0;
}

void scale_tensors_cuda(const std::vector<Span>& ts, float s, void* scratch, cudaStream_t stream) {
  int64_t nchunks;
  const std::vector<SpanEntry> tab = span_table(ts, &nchunks);
  if (nchunks == 0) return;
  const SpanScratch sc = span_scratch(scratch, tab.size(), nchunks);
  const SpanEntry* dtab = stage_spans(tab, sc, stream, "scaleTensors");
  mvd_launch(scale_kernel, dim3((unsigned)nchunks), dim3(kThreads), 0, stream, dtab, (int)tab.size(), s);
  MVD_CUDA_CHECK_LAUNCH("scaleTensors");
}

}  // namespace mvd
