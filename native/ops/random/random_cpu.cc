#include "random.h"

#include <cmath>

namespace mvd {
namespace {

// splitmix64 finaliser: a bijective 64-bit mixer, good enough to turn a counter into noise.
inline uint64_t mix(uint64_t z) {
  z += 0x9e3779b97f4a7c15ULL;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

inline double u01(uint64_t key, uint64_t counter) {
  // 53 random bits -> [0, 1), exactly representable.
  return (double)(mix(key ^ mix(counter)) >> 11) * (1.0 / 9007199254740992.0);
}

// Box-Muller on two uniforms of sub-counters; (0,1] for the log argument.
inline double normal(uint64_t key, uint64_t counter) {
  double u1 = 1.0 - u01(key, counter * 2), u2 = u01(key, counter * 2 + 1);
  return std::sqrt(-2.0 * std::log(u1)) * std::cos(6.283185307179586 * u2);
}

}  // namespace

double random_uniform01(uint64_t seed, uint64_t stream, uint64_t counter) {
  return u01(mix(seed) ^ mix(stream + 0x632be59bd9b4e019ULL), counter);
}

void random_fill_cpu(float* out, int64_t n, const RandomFill& r) {
  const uint64_t key = mix(r.seed) ^ mix(r.stream + 0x632be59bd9b4e019ULL);
#pragma omp parallel for schedule(static) if (n > 65536)
  for (int64_t i = 0; i < n; ++i) {
    double x;
    if (r.dist == RandomDist::Uniform) {
      x = r.a + (r.b - r.a) * u01(key, (uint64_t)i);
    } else if (r.dist == RandomDist::Normal) {
      x = r.mean + r.std * normal(key, (uint64_t)i);
    } else {
      // Rejection: redraw with further sub-counters until inside [a, b]. Bounded attempts; the
      // last resort clamps (only reachable for absurdly narrow bounds).
      x = r.mean;
      for (uint64_t k = 0; k < 64; ++k) {
        double y = r.mean + r.std * normal(key, ((uint64_t)i << 6) + k + 0x100000000ULL);
        if (y >= r.a && y <= r.b) { x = y; break; }
        if (k == 63) x = std::fmin(std::fmax(y, r.a), r.b);
      }
    }
    out[i] = (float)x;
  }
}

}  // namespace mvd
