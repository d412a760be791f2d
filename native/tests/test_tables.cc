#include "../ops/tables/tables.h"
#include "check.h"

using namespace mvd;
using namespace mvdtest;

namespace {
double table_sum(const std::vector<float>& t) {
  double s = 0;
  for (float v : t) s += v;
  return s;
}
void expect_sum(const char* what, int64_t d, double got, double want) {
  if (!(std::fabs(got - want) <= 1e-5 * std::fabs(want)))
    fail(std::string(what) + " d=" + std::to_string(d) + ": sum " + std::to_string(got) + ", SPEC " +
         std::to_string(want));
}
}  // namespace

// Reference sums from SPEC §1.5 (independent float64 implementation).
MVD_TEST(tables_sincos3d_matches_spec_sums_and_token_197) {
  const struct {
    int64_t d;
    double sum;
  } ref[] = {{384, 281209.878366}, {512, 375559.242314},  {640, 469917.048031},
             {768, 564278.784544}, {1024, 753007.915899}, {1280, 941740.722122}};
  for (auto r : ref) {
    auto t = poisoned((size_t)(1568 * r.d));
    sincos3d_table_cpu(t.data(), r.d, 8, 14, 14);
    expect_sum("sincos3d", r.d, table_sum(t), r.sum);
    if (r.d == 768) {
      const float* row = t.data() + 197 * 768;
      CHECK(std::fabs(row[0] - 0.841471) < 1e-6);
      CHECK(std::fabs(row[192] - 0.841471) < 1e-6);
      CHECK(std::fabs(row[193] - 0.806402) < 1e-6);
      CHECK(row[480] == 0.f);
    }
  }
}

MVD_TEST(tables_sinusoid1d_matches_spec_sums) {
  const struct {
    int64_t d;
    double sum;
  } ref[] = {{384, 122425.857877}, {512, 163460.932663},  {640, 204714.511297},
             {768, 245744.989571}, {1024, 327909.206608}, {1280, 410130.260018}};
  for (auto r : ref) {
    auto t = poisoned((size_t)(1568 * r.d));
    sinusoid1d_table_cpu(t.data(), 1568, r.d);
    expect_sum("sinusoid1d", r.d, table_sum(t), r.sum);
  }
  // Interleaving: channel 0 is sin(p), channel 1 is cos(p).
  std::vector<float> t(3 * 8);
  sinusoid1d_table_cpu(t.data(), 3, 8);
  CHECK(std::fabs(t[2 * 8 + 0] - std::sin(2.0)) < 1e-7 && std::fabs(t[2 * 8 + 1] - std::cos(2.0)) < 1e-7);
}

MVD_TEST(tables_sincos2d_matches_spec_sums_with_zero_cls_row) {
  const struct {
    int64_t d;
    double sum;
  } ref[] = {{768, 69594.493859}, {1024, 92849.197918}, {1280, 116104.113703}};
  for (auto r : ref) {
    auto t = poisoned((size_t)(197 * r.d));
    sincos2d_table_cpu(t.data(), r.d, 14, true);
    expect_sum("sincos2d", r.d, table_sum(t), r.sum);
    for (int64_t j = 0; j < r.d; ++j) CHECK(t[j] == 0.f);
    // Token (row 0, column 1) is table row 2: the first half encodes the column.
    CHECK(std::fabs(t[2 * r.d] - std::sin(1.0)) < 1e-6 && t[2 * r.d + r.d / 2] == 0.f);
  }
  std::vector<float> a(196 * 64), b(197 * 64);
  sincos2d_table_cpu(a.data(), 64, 14, false);
  sincos2d_table_cpu(b.data(), 64, 14, true);
  for (size_t i = 0; i < a.size(); ++i) CHECK(a[i] == b[64 + i]);
}
