// randomFill's CUDA launcher against the CPU op: the same counter stream, so the same numbers for
// the same (seed, stream), on awkward sizes, with NaN-poisoned outputs, under several thread
// schedules (the emulator) or twice (a GPU). CUDA runtime API only, so the same file runs on a device.
#if MVD_SIMT || MVD_HAVE_CUDA
#include <cuda_runtime.h>

#include <cstring>

#include "../ops/random/random.h"
#include "check.h"
#include "cuda_harness.h"

using namespace mvd;
using namespace mvdtest;

namespace {}  // namespace

MVD_TEST(cuda_random_fill_matches_cpu_stream) {
  std::vector<RandomFill> fills(4);
  fills[0].dist = RandomDist::Uniform;
  fills[0].a = -2;
  fills[0].b = 3;
  fills[1].dist = RandomDist::Normal;
  fills[1].mean = 0.5;
  fills[1].std = 2;
  fills[2].dist = RandomDist::TruncNormal;
  fills[2].std = 1;
  fills[2].a = -0.5;
  fills[2].b = 1.5;
  fills[3].dist = RandomDist::TruncNormal;
  fills[3].std = 1;
  fills[3].a = 3;
  fills[3].b = 3.0001;  // often clamps
  for (size_t f = 0; f < fills.size(); ++f)
    for (int64_t n : {1, 31, 33, 129, 160, 5000}) {
      RandomFill r = fills[f];
      r.seed = 1234 + (uint64_t)n;
      r.stream = 7 * f;
      std::vector<float> want = poisoned((size_t)n);
      random_fill_cpu(want.data(), n, r);
      const std::string tag = "randomFill dist=" + std::to_string(f) + " n=" + std::to_string(n);
      const std::vector<float> got = under_schedules(tag, [&] {
        Dev<float> out(poisoned((size_t)n));
        random_fill_cuda(out.p, n, r, nullptr);
        return Outs{out.get()};
      })[0];
      // Uniforms never touch libm: the same bits on any device.
      if (r.dist == RandomDist::Uniform) expect_bits(tag, got, want);
      else expect_libm_match(tag, got, want);
    }
}

#endif  // MVD_SIMT || MVD_HAVE_CUDA
