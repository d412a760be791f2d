#include "random.h"

namespace mvd {

double random_uniform01(uint64_t seed, uint64_t stream, uint64_t counter) {
  return random_u01(random_key(seed, stream), counter);
}

void random_fill_cpu(float* out, int64_t n, const RandomFill& r) {
  const uint64_t key = random_key(r.seed, r.stream);
#pragma omp parallel for schedule(static) if (n > 65536)
  for (int64_t i = 0; i < n; ++i) out[i] = random_value(r, key, i);
}

}  // namespace mvd
