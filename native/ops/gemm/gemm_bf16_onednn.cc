// bf16 weights for frozen layers (gemm.h, "bf16 weights"): op(B) rounded to bf16 once and stored in
// the blocked layout oneDNN's bf16 matmul reads; each product rounds A to bf16 and accumulates in
// fp32 (oneDNN's brgemm on AVX512-BF16, whose vdpbf16ps does two multiply-adds per fp32 lane).
//
// Why oneDNN's matmul and not our own kernel: measured on the AMD EPYC development machine (2
// threads, /tmp driver, session 9) its brgemm reached 2.1–2.4× its own fp32 sgemm at the teachers'
// shapes (784 × 768 · 768 × 768 / 3072), which is the instruction's 2× ceiling; ours would start
// from nothing at the same ceiling.
//
// The weights' blocked layout is the one oneDNN picks for the shape (format `any`). It depends on
// N, K and the CPU, not on M (checked for M = 1 … 1568 there), so one copy serves every row count;
// the memory descriptor is stored in the buffer's header and every product's primitive is created
// for exactly that layout (never a silent relayout).
#include "gemm.h"

#include <omp.h>

#include <cstring>
#include <map>
#include <mutex>
#include <string>
#include <tuple>
#include <unordered_map>
#include <vector>

#include "../../core/errors.h"
#include "../../core/isa.h"
#include "gemm_epilogue.h"

#ifdef MVD_HAVE_ONEDNN
#include <dnnl.hpp>
#endif

namespace mvd {

#ifdef MVD_HAVE_ONEDNN
namespace {

constexpr int64_t kMagic = 0x6d76645f62663136;  // "mvd_bf16"
// The row count the layout is chosen for; any other M reads the same layout (see the top).
constexpr dnnl_dim_t kPlanRows = 1024;

struct Header {
  int64_t magic, N, K, trans_b, data_offset_bytes, data_bytes;
  dnnl_memory_desc_t weights;  // oneDNN 2.x: a plain struct, safe to copy into the buffer
};
constexpr int64_t kHeaderBytes = (sizeof(Header) + 63) / 64 * 64;

using tag = dnnl::memory::format_tag;
using dt = dnnl::memory::data_type;

dnnl::engine& cpu_engine() {
  static dnnl::engine e(dnnl::engine::kind::cpu, 0);
  return e;
}

dnnl::matmul::primitive_desc matmul_pd(int64_t M, int64_t N, int64_t K, bool bias, const dnnl::memory::desc& w) {
  dnnl::memory::desc src({M, K}, dt::bf16, tag::ab), dst({M, N}, dt::f32, tag::ab);
  if (bias) {
    dnnl::memory::desc b({1, N}, dt::f32, tag::ab);
    return dnnl::matmul::primitive_desc(dnnl::matmul::desc(src, w, b, dst), cpu_engine());
  }
  return dnnl::matmul::primitive_desc(dnnl::matmul::desc(src, w, dst), cpu_engine());
}

// The layout oneDNN picks for op(B) ([K, N]) in bf16.
dnnl::memory::desc chosen_layout(int64_t N, int64_t K) {
  dnnl::memory::desc any({K, N}, dt::bf16, tag::any);
  return matmul_pd(kPlanRows, N, K, true, any).weights_desc();
}

std::string describe_dnnl(const dnnl::error& e) {
  return std::string(e.what()) + " (status " + std::to_string((int)e.status) + ")";
}

bool read_header(const float* packed, int64_t floats, Header& h) {
  if (floats * 4 < kHeaderBytes) return false;
  std::memcpy(&h, packed, sizeof(h));
  if (h.magic != kMagic || h.N < 1 || h.K < 1 || h.data_offset_bytes != kHeaderBytes) return false;
  return h.data_bytes > 0 && h.data_offset_bytes + h.data_bytes <= floats * 4;
}

// Round to nearest even, as oneDNN's own conversions do; NaN stays NaN (the rounding carry
// would otherwise turn some NaNs into infinities).
inline uint16_t to_bf16(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  const uint32_t rounded = (u + 0x7fffu + ((u >> 16) & 1u)) >> 16;
  return (u & 0x7fffffffu) > 0x7f800000u ? (uint16_t)((u >> 16) | 0x40u) : (uint16_t)rounded;
}

// Products for one (M, N, K, bias) are created once: a primitive's creation costs far more than a
// teacher's small products, and a step repeats the same few shapes.
class MatmulCache {
 public:
  dnnl::matmul get(int64_t M, int64_t N, int64_t K, bool bias, const dnnl_memory_desc_t& w) {
    std::lock_guard<std::mutex> lock(mu_);
    const auto key = std::make_tuple(M, N, K, bias);
    auto it = cache_.find(key);
    if (it != cache_.end()) return it->second;
    if (cache_.size() >= kMaxEntries) cache_.clear();  // an unusual run with many row counts
    dnnl::memory::desc wd(w);
    dnnl::matmul p(matmul_pd(M, N, K, bias, wd));
    cache_.emplace(key, p);
    return p;
  }

 private:
  static constexpr size_t kMaxEntries = 256;
  std::mutex mu_;
  std::map<std::tuple<int64_t, int64_t, int64_t, bool>, dnnl::matmul> cache_;
};

MatmulCache& matmul_cache() {
  static MatmulCache c;
  return c;
}

bool cpu_has_avx512_bf16() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx512bf16");
#else
  return false;
#endif
}

}  // namespace

std::string gemm_bf16_unavailable_reason() {
  if (cpu_isa_level() != 4)
    return "the AVX-512 kernels are not in use (MVD_CPU_ISA=avx2, or the CPU or build lacks AVX-512)";
  if (!cpu_has_avx512_bf16()) return "this CPU has no AVX512-BF16 (cpuid avx512_bf16)";
  return "";
}

int64_t gemm_pack_b_bf16_floats(int64_t N, int64_t K) {
  if (N < 1 || K < 1 || !gemm_bf16_unavailable_reason().empty()) return 0;
  try {
    return (kHeaderBytes + (int64_t)chosen_layout(N, K).get_size() + 63) / 64 * 16;
  } catch (const dnnl::error& e) {
    throw OpError(ErrorKind::Native, "gemmPackWeights",
                  "oneDNN has no bf16 matmul for these weights: " + describe_dnnl(e));
  }
}

void gemm_pack_b_bf16(const float* B, int64_t ldb, bool trans_b, int64_t N, int64_t K, float* dst, int64_t floats) {
  try {
    const dnnl::memory::desc w = chosen_layout(N, K);
    Header h{};
    h.magic = kMagic;
    h.N = N;
    h.K = K;
    h.trans_b = trans_b;
    h.data_offset_bytes = kHeaderBytes;
    h.data_bytes = (int64_t)w.get_size();
    h.weights = w.data;
    if (kHeaderBytes + h.data_bytes > floats * 4)
      throw OpError(ErrorKind::Native, "gemmPackWeights", "packed buffer too small");
    // op(B) is [K, N]: stored [N, K] (transB, a Linear weight) it is column-major with stride K.
    const dnnl::memory::dims strides = trans_b ? dnnl::memory::dims{1, ldb} : dnnl::memory::dims{ldb, 1};
    dnnl::memory::desc plain({K, N}, dt::f32, strides);
    dnnl::memory from(plain, cpu_engine(), const_cast<float*>(B));
    dnnl::memory to(w, cpu_engine(), reinterpret_cast<char*>(dst) + kHeaderBytes);
    dnnl::stream s(cpu_engine());
    dnnl::reorder(from, to).execute(s, from, to);  // f32 → bf16, round to nearest even
    s.wait();
    std::memcpy(dst, &h, sizeof(h));
  } catch (const dnnl::error& e) {
    throw OpError(ErrorKind::Native, "gemmPackWeights",
                  "oneDNN could not pack the weights in bf16: " + describe_dnnl(e));
  }
}

bool gemm_packed_b_bf16_shape(const float* packed, int64_t floats, int64_t& N, int64_t& K, bool& trans_b) {
  Header h;
  if (!read_header(packed, floats, h)) return false;
  N = h.N;
  K = h.K;
  trans_b = h.trans_b != 0;
  return true;
}

void gemm_cpu_packed_bf16(const GemmArgs& g, const float* packed, int64_t floats) {
  Header h;
  if (!read_header(packed, floats, h))
    throw OpError(ErrorKind::Value, "gemm", "packedB is not a bf16 buffer from gemmPackWeights");
  if (h.N != g.N || h.K != g.K || (h.trans_b != 0) != g.trans_b)
    throw OpError(ErrorKind::Shape, "gemm",
                  "bf16 packed weights hold a " + std::to_string(h.K) + "x" + std::to_string(h.N) +
                      " op(B); the product needs " + std::to_string(g.K) + "x" + std::to_string(g.N));
  // Only y = x·op(B) (+ bias) is served: bf16 weights exist for frozen layers' forwards, and the
  // plain weights they came from may be gone, so there is nothing to fall back on.
  if (g.alpha != 1.f || g.beta != 0.f || g.trans_a)
    throw OpError(ErrorKind::Value, "gemm",
                  "bf16 packed weights serve C = A·op(B) + bias only (alpha 1, beta 0, A not transposed)");
  if (g.M == 0 || g.N == 0) return;
  if (g.K == 0) {
    gemm_prepare_c(g);
    gemm_apply_gelu(g);
    return;
  }
  // A rounded to bf16, dense [M, K]. thread_local: the queue's worker reuses it from call to call.
  thread_local std::vector<uint16_t> a16;
  a16.resize((size_t)(g.M * g.K));
  const int64_t M = g.M, K = g.K, lda = g.lda;
  const float* A = g.A;
  uint16_t* a = a16.data();
#pragma omp parallel for schedule(static) if (M * K > 65536)
  for (int64_t i = 0; i < M; ++i)
    for (int64_t k = 0; k < K; ++k) a[i * K + k] = to_bf16(A[i * lda + k]);
  try {
    dnnl::matmul mm = matmul_cache().get(g.M, g.N, g.K, g.bias != nullptr, h.weights);
    dnnl::memory::desc src({g.M, g.K}, dt::bf16, tag::ab);
    dnnl::memory::desc dstd({g.M, g.N}, dt::f32, dnnl::memory::dims{g.ldc, 1});
    if (g.ldc != g.N) throw OpError(ErrorKind::Value, "gemm", "bf16 packed weights need a dense C");
    dnnl::memory::desc w(h.weights);
    const auto& eng = cpu_engine();
    dnnl::memory ma(src, eng, a),
        mw(w, eng, const_cast<char*>(reinterpret_cast<const char*>(packed) + h.data_offset_bytes)), mc(dstd, eng, g.C);
    std::unordered_map<int, dnnl::memory> args{{DNNL_ARG_SRC, ma}, {DNNL_ARG_WEIGHTS, mw}, {DNNL_ARG_DST, mc}};
    if (g.bias)
      args.emplace(DNNL_ARG_BIAS,
                   dnnl::memory(dnnl::memory::desc({1, g.N}, dt::f32, tag::ab), eng, const_cast<float*>(g.bias)));
    dnnl::stream s(eng);
    mm.execute(s, args);
    s.wait();
  } catch (const dnnl::error& e) {
    throw OpError(ErrorKind::Native, "gemm", "oneDNN's bf16 matmul failed: " + describe_dnnl(e));
  }
  gemm_apply_gelu(g);
}

#else  // without oneDNN there is no bf16 path

std::string gemm_bf16_unavailable_reason() { return "this build has no oneDNN"; }
int64_t gemm_pack_b_bf16_floats(int64_t, int64_t) { return 0; }
void gemm_pack_b_bf16(const float*, int64_t, bool, int64_t, int64_t, float*, int64_t) {
  throw OpError(ErrorKind::Native, "gemmPackWeights", "this build has no bf16 weights (built without oneDNN)");
}
bool gemm_packed_b_bf16_shape(const float*, int64_t, int64_t&, int64_t&, bool&) { return false; }
void gemm_cpu_packed_bf16(const GemmArgs&, const float*, int64_t) {
  throw OpError(ErrorKind::Native, "gemm", "this build has no bf16 weights (built without oneDNN)");
}

#endif

}  // namespace mvd
