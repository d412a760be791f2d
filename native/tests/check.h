// A tiny native test harness: each test file registers cases; main runs them (optionally filtered)
// and prints "N passed, N failed". Used for AddressSanitizer runs of the kernels without Node.
#pragma once
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <functional>
#include <random>
#include <string>
#include <vector>

namespace mvdtest {

struct Case {
  const char* name;
  std::function<void()> fn;
};
std::vector<Case>& registry();
struct Register {
  Register(const char* n, std::function<void()> f) { registry().push_back({n, std::move(f)}); }
};
void fail(const std::string& msg);

#define MVD_TEST(name)                              \
  static void name();                               \
  static mvdtest::Register name##_reg(#name, name); \
  static void name()

#define CHECK(cond)                                                                                  \
  do {                                                                                               \
    if (!(cond)) mvdtest::fail(std::string(__FILE__) + ":" + std::to_string(__LINE__) + ": " #cond); \
  } while (0)

inline std::vector<float> randn(size_t n, uint64_t seed) {
  std::mt19937_64 g(seed);
  std::normal_distribution<float> d(0.f, 1.f);
  std::vector<float> v(n);
  for (auto& x : v) x = d(g);
  return v;
}

// Fills with NaN so an element the kernel forgot to write fails the comparison.
inline std::vector<float> poisoned(size_t n) { return std::vector<float>(n, std::nanf("")); }

// max |a - ref| / (1 + |ref|)
inline double max_rel_err(const float* a, const double* ref, size_t n) {
  double m = 0;
  for (size_t i = 0; i < n; ++i) {
    double e = std::fabs((double)a[i] - ref[i]) / (1.0 + std::fabs(ref[i]));
    if (!(e <= m)) m = std::isnan(e) ? INFINITY : e;
  }
  return m;
}

// The tolerance rule (FlashAttention's tests, DESIGN.md): the kernel's error against float64 may be
// at most `factor` times that of a naive float32 implementation (2 forward, 3 for gradients), or a
// small absolute floor where the naive error can be exactly zero.
inline void expect_close(const std::string& what, double kernel_err, double naive_err, double factor, double floor) {
  double tol = std::max(factor * naive_err, floor);
  if (!(kernel_err <= tol))
    fail(what + ": err " + std::to_string(kernel_err) + " > tol " + std::to_string(tol) + " (naive " +
         std::to_string(naive_err) + ")");
}

}  // namespace mvdtest
