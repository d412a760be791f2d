// Shared by the test_cuda_*.cc files: device buffers through the CUDA runtime API (host memory
// under the emulator), running a launch under several thread schedules with a bitwise comparison,
// and the tolerance rule applied against float64 and against the CPU op at once.
#pragma once
#if MVD_SIMT || MVD_HAVE_CUDA
#include <cuda_runtime.h>

#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string>
#include <utility>
#include <vector>

#include "check.h"
#if MVD_SIMT
#include "../simt/emu.h"
#endif

namespace mvdtest {

template <typename T>
struct Dev {
  T* p = nullptr;
  size_t n = 0;
  explicit Dev(size_t n_) : n(n_) {
    if (cudaMalloc((void**)&p, (n ? n : 1) * sizeof(T)) != cudaSuccess) fail("cudaMalloc failed");
  }
  explicit Dev(const std::vector<T>& h) : Dev(h.size()) { put(h); }
  Dev(const Dev&) = delete;
  ~Dev() { cudaFree(p); }
  void put(const std::vector<T>& h) {
    if (n && cudaMemcpy(p, h.data(), n * sizeof(T), cudaMemcpyHostToDevice) != cudaSuccess) fail("cudaMemcpy H2D");
  }
  std::vector<T> get() const {
    std::vector<T> h(n);
    if (n && cudaMemcpy(h.data(), p, n * sizeof(T), cudaMemcpyDeviceToHost) != cudaSuccess) fail("cudaMemcpy D2H");
    return h;
  }
};

// bf16 round-to-nearest-even, as the GEMM/attention kernels stage their operands (the naive
// same-precision baseline of the tolerance rule rounds the same way).
inline float bf16r(float x) {
  uint32_t u;
  std::memcpy(&u, &x, 4);
  if ((u & 0x7fffffffu) > 0x7f800000u) return x;
  u += 0x7fffu + ((u >> 16) & 1u);
  u &= 0xffff0000u;
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}

inline void ck(cudaError_t e, const char* what) {
  if (e != cudaSuccess) fail(std::string(what) + ": " + cudaGetErrorString(e));
}

template <typename T>
bool same_bits(const std::vector<T>& a, const std::vector<T>& b) {
  return a.size() == b.size() && (a.empty() || std::memcmp(a.data(), b.data(), a.size() * sizeof(T)) == 0);
}

// Several float outputs of one launch, compared bit for bit (NaN-safe, unlike ==).
using Outs = std::vector<std::vector<float>>;
inline bool same_result(const Outs& a, const Outs& b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i)
    if (!same_bits(a[i], b[i])) return false;
  return true;
}
template <typename R>
bool same_result(const R& a, const R& b) {
  return a == b;
}

template <typename T>
void expect_bits(const std::string& what, const std::vector<T>& got, const std::vector<T>& want) {
  if (!same_bits(got, want)) fail(what + ": differs from the CPU op");
}

#if !MVD_SIMT
// Distance in units in the last place (same-sign floats; NaN counts as far).
inline int64_t ulps(float a, float b) {
  if (std::isnan(a) || std::isnan(b)) return INT64_MAX;
  int32_t ia, ib;
  std::memcpy(&ia, &a, 4);
  std::memcpy(&ib, &b, 4);
  if (ia < 0) ia = INT32_MIN - ia;
  if (ib < 0) ib = INT32_MIN - ib;
  return std::llabs((int64_t)ia - (int64_t)ib);
}
#endif

// The emulator runs the very same libm as the CPU op, so it must match bit for bit; a GPU's
// double sin/cos/log/pow may differ in a double's last bit, which can flip a float rounding tie.
inline void expect_libm_match(const std::string& what, const std::vector<float>& got, const std::vector<float>& want) {
#if MVD_SIMT
  expect_bits(what, got, want);
#else
  if (got.size() != want.size()) fail(what + ": size differs");
  size_t off = 0;
  for (size_t i = 0; i < got.size(); ++i) {
    if (ulps(got[i], want[i]) > 1) fail(what + ": more than 1 ulp from the CPU op at " + std::to_string(i));
    off += got[i] != want[i];
  }
  if (off * 1000 > got.size() + 1000) fail(what + ": too many 1-ulp differences from the CPU op");
#endif
}

// Runs `run` (which launches and returns its outputs) under the forward, reverse and a shuffled
// schedule; every run must give the same bits. Returns the first run's outputs.
template <typename F>
auto under_schedules(const std::string& what, F run) -> decltype(run()) {
#if MVD_SIMT
  using S = mvd::simt::Schedule;
  mvd::simt::set_schedule(S::Forward);
  auto first = run();
  for (auto [s, seed] : {std::pair<S, uint64_t>{S::Reverse, 0}, {S::Shuffle, 7}}) {
    mvd::simt::set_schedule(s, seed);
    auto again = run();
    mvd::simt::set_schedule(S::Forward);
    if (!same_result(again, first)) fail(what + ": results differ under schedule " + mvd::simt::schedule_name(s));
  }
#else
  auto first = run();
  if (!same_result(run(), first)) fail(what + ": results differ between two runs");
#endif
  return first;
}

// Bitwise equality of a list of float vectors (NaN-safe, unlike ==).
struct Bits {
  std::vector<std::vector<float>> v;
  bool operator==(const Bits& o) const {
    if (v.size() != o.v.size()) return false;
    for (size_t i = 0; i < v.size(); ++i)
      if (!same_bits(v[i], o.v[i])) return false;
    return true;
  }
};

inline std::vector<double> to_double(const std::vector<float>& v) { return std::vector<double>(v.begin(), v.end()); }

// The tolerance rule against float64, and agreement with the CPU op within the sum of both bounds.
inline void check_vs(const std::string& tag, const std::vector<float>& got, const std::vector<float>& cpu,
                     const std::vector<double>& ref, const std::vector<float>& naive, double factor, double floor) {
  const size_t n = ref.size();
  const double en = max_rel_err(naive.data(), ref.data(), n);
  expect_close(tag + " vs float64", max_rel_err(got.data(), ref.data(), n), en, factor, floor);
  const std::vector<double> c = to_double(cpu);
  expect_close(tag + " vs cpu", max_rel_err(got.data(), c.data(), n), en, 2 * factor, 2 * floor);
}

}  // namespace mvdtest

#endif  // MVD_SIMT || MVD_HAVE_CUDA
