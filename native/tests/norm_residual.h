// Inputs for the LayerNorm tests with a residual (test_norm.cc, test_cuda_norm.cc): x is split into
// a + residual, and x is rounded to the float sum a + residual, which is what the fused op
// normalises; dres is a residual gradient for the backward.
#pragma once
#include <cstdint>
#include <vector>

#include "check.h"

namespace mvdtest {

struct ResidualSplit {
  std::vector<float> a, res, dres;
};

inline ResidualSplit split_residual(std::vector<float>& x, uint64_t seed) {
  ResidualSplit s{x, randn(x.size(), seed), randn(x.size(), seed + 1)};
  for (size_t i = 0; i < x.size(); ++i) {
    s.a[i] = x[i] - s.res[i];
    x[i] = s.a[i] + s.res[i];
  }
  return s;
}

}  // namespace mvdtest
