// Counter-based random fills: element i of a fill with (seed, stream) depends only on
// (seed, stream, i), so results are identical for any thread count and any machine running this
// build. Used for weight initialisation (SPEC §1.4).
#pragma once
#include <cstdint>

namespace mvd {

enum class RandomDist { Uniform, Normal, TruncNormal };

struct RandomFill {
  RandomDist dist = RandomDist::Uniform;
  double a = 0, b = 1;        // uniform bounds, or truncation bounds (absolute) for TruncNormal
  double mean = 0, std = 1;   // normal parameters
  uint64_t seed = 0, stream = 0;
};

void random_fill_cpu(float* out, int64_t n, const RandomFill& r);
// The uniform double in [0,1) for (seed, stream, counter): exposed for tests.
double random_uniform01(uint64_t seed, uint64_t stream, uint64_t counter);

}  // namespace mvd
