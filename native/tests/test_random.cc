#include <cmath>

#include "../ops/random/random.h"
#include "check.h"

using namespace mvd;
using namespace mvdtest;

static void moments(const std::vector<float>& v, double* mean, double* sd) {
  double s = 0, s2 = 0;
  for (float x : v) {
    s += x;
    s2 += (double)x * x;
  }
  *mean = s / v.size();
  *sd = std::sqrt(s2 / v.size() - *mean * *mean);
}

MVD_TEST(random_fill_distributions_and_determinism) {
  const int64_t n = 200000;
  std::vector<float> u(n), u2(n), g(n), tn(n);
  RandomFill r;
  r.dist = RandomDist::Uniform;
  r.a = -0.5;
  r.b = 1.5;
  r.seed = 7;
  r.stream = 3;
  random_fill_cpu(u.data(), n, r);
  random_fill_cpu(u2.data(), n, r);
  CHECK(u == u2);
  double m, sd;
  moments(u, &m, &sd);
  CHECK(std::fabs(m - 0.5) < 0.01 && std::fabs(sd - 2 / std::sqrt(12.0)) < 0.01);
  for (float x : u) CHECK(x >= -0.5f && x <= 1.5f);
  r.stream = 4;
  random_fill_cpu(u2.data(), n, r);
  CHECK(u != u2);
  r.dist = RandomDist::Normal;
  r.mean = 1;
  r.std = 2;
  random_fill_cpu(g.data(), n, r);
  moments(g, &m, &sd);
  CHECK(std::fabs(m - 1) < 0.03 && std::fabs(sd - 2) < 0.03);
  r.dist = RandomDist::TruncNormal;
  r.mean = 0;
  r.std = 0.02;
  r.a = -0.02;
  r.b = 0.02;
  random_fill_cpu(tn.data(), n, r);
  moments(tn, &m, &sd);
  for (float x : tn) CHECK(x >= -0.02f && x <= 0.02f);
  // A normal truncated at ±1σ has sd ≈ 0.5379σ.
  CHECK(std::fabs(sd / 0.02 - 0.5379) < 0.01);
}
