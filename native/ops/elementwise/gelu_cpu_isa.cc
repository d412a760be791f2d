// Exact-erf GELU and its backward on the CPU, compiled for AVX2 and again for AVX-512
// (native/core/isa.h): both are compute-bound (one exp and one division per element), so the
// vector width is the speed.
#include <cmath>
#include <cstdint>

#include "elementwise.h"
#include "parallel_range.h"
#include "../../core/isa_target.h"  // last: see isa.h

namespace mvd {
namespace MVD_ISA_NS {
namespace {

// e^x for x <= 0 (GELU only needs e^(-z²)), written branch-free so the loops that call it
// vectorise (glibc's vector expf is only declared under -ffast-math). x = n·ln2 + r with
// |r| <= ln2/2; e^r by a degree-5 polynomial fitted (ours, Lawson iterations for the minimax
// relative error) to e^r on that interval: 1.7e-7 relative error evaluated in float, which moves
// Φ by under 1e-7 (the polynomial multiplies c <= 0.5 below). The Taylor series of degree 7 used
// before was 1e-8 but cost two more FMAs per element (bench/NOTES.md "GELU's exponential").
// The clamp bound arrives as a run-time value: with a literal bound gcc threads the clamped
// branch as a constant path, and the resulting control flow stops the loop from vectorising.
volatile float g_exp_lo = -87.0f;

inline float exp_nonpositive(float x, float lo) {
  x = x < lo ? lo : x;
  const float magic = 12582912.f;  // 1.5·2^23: adding it rounds to an integer in the low mantissa bits
  float t = x * 1.44269504088896341f + magic;
  float n = t - magic;
  float r = x - n * 0.693145751953125f;  // ln2 split in two so n·ln2 stays exact
  r = r - n * 1.428606765330187045e-06f;
  float p = 8.3178756759e-03f;
  p = p * r + 4.1897941381e-02f;
  p = p * r + 1.6667181253e-01f;
  p = p * r + 4.9999150634e-01f;
  p = p * r + 9.9999988079e-01f;
  p = p * r + 1.f;
  // t's low mantissa bits hold n itself, so 2^n needs no float-to-int conversion.
  int32_t bits = (__builtin_bit_cast(int32_t, t) - 0x4B400000 + 127) << 23;
  return p * __builtin_bit_cast(float, bits);
}

constexpr float kInvSqrt2 = 0.70710678118654752f;
constexpr float kInvSqrt2Pi = 0.39894228040143268f;

// Φ(x) = 0.5·(1 + erf(x/√2)) and g = exp(−x²/2), which the backward reuses for the density.
// erfc(z), z = |x|/√2, in the Abramowitz & Stegun 7.1.26 shape t·P(t)·exp(−z²), t = 1/(1 + p·z),
// with p = 0.47047 and a degree-7 P least-squares fitted (ours) to erfc in float64 over
// z in [0, 12]: absolute error 8e-9, below float32 resolution, at one exp and one division.
// Working from |x| avoids forming 1 + erf(x) for negative x, which cancels.
inline float phi(float x, float lo, float& g) {
  float z = std::fabs(x) * kInvSqrt2;
  float t = 1.f / (1.f + 0.47047f * z);
  float q = 0.08598781511399956f;
  q = q * t - 0.40728143589781207f;
  q = q * t + 0.5788509869472528f;
  q = q * t - 0.09585946994099523f;
  q = q * t + 0.31861943902223144f;
  q = q * t + 0.25382595944435904f;
  q = q * t + 0.2658567131816293f;
  g = exp_nonpositive(-z * z, lo);
  float c = 0.5f * t * q * g;
  // pos + (1 - 2·pos)·c is 1 - c or c exactly; gcc if-converts this select, not "x >= 0 ? 1 - c : c".
  float pos = x >= 0.f ? 1.f : 0.f;
  return pos + (1.f - 2.f * pos) * c;
}

}  // namespace

void gelu_cpu(const float* x, float* y, int64_t n) {
  const float exp_lo = g_exp_lo;
  parallel_range(n, [=](int64_t lo, int64_t hi) {
#pragma omp simd
    for (int64_t i = lo; i < hi; ++i) {
      float g;
      y[i] = x[i] * phi(x[i], exp_lo, g);
    }
  });
}

void gelu_backward_cpu(const float* dy, const float* x, float* dx, int64_t n) {
  const float exp_lo = g_exp_lo;
  parallel_range(n, [=](int64_t lo, int64_t hi) {
#pragma omp simd
    for (int64_t i = lo; i < hi; ++i) {
      float v = x[i], g;
      float p = phi(v, exp_lo, g);
      dx[i] = dy[i] * (p + v * kInvSqrt2Pi * g);
    }
  });
}

}  // namespace MVD_ISA_NS
}  // namespace mvd
