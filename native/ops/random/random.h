// Counter-based random fills: element i of a fill with (seed, stream) depends only on
// (seed, stream, i), so results are identical for any thread count and any machine running this
// build. Used for weight initialisation (SPEC §1.4). The generator itself (below) is shared by the
// CPU op and the CUDA kernel, so both draw the same numbers for the same seed.
#pragma once
#include <cmath>
#include <cstdint>

#include "../../core/hd.h"

namespace mvd {

enum class RandomDist { Uniform, Normal, TruncNormal };

struct RandomFill {
  RandomDist dist = RandomDist::Uniform;
  double a = 0, b = 1;       // uniform bounds, or truncation bounds (absolute) for TruncNormal
  double mean = 0, std = 1;  // normal parameters
  uint64_t seed = 0, stream = 0;
};

void random_fill_cpu(float* out, int64_t n, const RandomFill& r);
// The uniform double in [0,1) for (seed, stream, counter): exposed for tests.
double random_uniform01(uint64_t seed, uint64_t stream, uint64_t counter);

// splitmix64 finaliser: a bijective 64-bit mixer, good enough to turn a counter into noise.
MVD_HD inline uint64_t random_mix(uint64_t z) {
  z += 0x9e3779b97f4a7c15ULL;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

MVD_HD inline uint64_t random_key(uint64_t seed, uint64_t stream) {
  return random_mix(seed) ^ random_mix(stream + 0x632be59bd9b4e019ULL);
}

MVD_HD inline double random_u01(uint64_t key, uint64_t counter) {
  // 53 random bits -> [0, 1), exactly representable.
  return (double)(random_mix(key ^ random_mix(counter)) >> 11) * (1.0 / 9007199254740992.0);
}

// Box-Muller on two uniforms of sub-counters; (0,1] for the log argument.
MVD_HD inline double random_normal(uint64_t key, uint64_t counter) {
  const double u1 = 1.0 - random_u01(key, counter * 2), u2 = random_u01(key, counter * 2 + 1);
  return sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
}

// Element i of the fill. The multiply-adds are explicit fma so no compiler's contraction choice
// can make devices differ. The integer stream and the uniforms are bit-identical on every device;
// normals go through log/cos, whose device versions may differ from glibc's in the last bit of a
// double, which survives the rounding to float only in vanishingly rare ties.
MVD_HD inline float random_value(const RandomFill& r, uint64_t key, int64_t i) {
  double x;
  if (r.dist == RandomDist::Uniform) {
    x = fma(r.b - r.a, random_u01(key, (uint64_t)i), r.a);
  } else if (r.dist == RandomDist::Normal) {
    x = fma(r.std, random_normal(key, (uint64_t)i), r.mean);
  } else {
    // Rejection: redraw with further sub-counters until inside [a, b]. Bounded attempts; the
    // last resort clamps (only reachable for absurdly narrow bounds).
    x = r.mean;
    for (uint64_t k = 0; k < 64; ++k) {
      const double y = fma(r.std, random_normal(key, ((uint64_t)i << 6) + k + 0x100000000ULL), r.mean);
      if (y >= r.a && y <= r.b) {
        x = y;
        break;
      }
      if (k == 63) x = fmin(fmax(y, r.a), r.b);
    }
  }
  return (float)x;
}

}  // namespace mvd

#if MVD_HAVE_CUDA || MVD_SIMT
#include <cstddef>

#include "../../cuda/stream.h"

namespace mvd {

// CUDA launcher: the same fill into device memory, through random_value (above), so a CUDA fill
// equals the CPU fill of the same (seed, stream) (see random_value for the one caveat).
void random_fill_cuda(float* out, int64_t n, const RandomFill& r, cudaStream_t stream);

}  // namespace mvd
#endif
