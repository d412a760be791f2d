// The elementwise CUDA launchers against the CPU op and float64, under several schedules; dropout
// must draw exactly the CPU op's mask for the same seed.
#if MVD_SIMT || MVD_HAVE_CUDA
#include "../ops/elementwise/elementwise.h"
#include "cuda_harness.h"

using namespace mvd;
using namespace mvdtest;

namespace {

// Sizes around the block width (256) and a tail; kept small because every CUDA thread is a fiber.
const int64_t kSizes[] = {1, 7, 255, 257, 3001};

std::vector<float> as_float(const std::vector<uint8_t>& m) { return std::vector<float>(m.begin(), m.end()); }

}  // namespace

MVD_TEST(cuda_gelu_forward_backward) {
  for (int64_t n : kSizes) {
    std::vector<float> x = randn(n, 1 + n), dy = randn(n, 2 + n);
    for (auto& v : x) v *= 3.f;  // reach the tails where erf saturates
    std::vector<float> cy(n), cdx(n);
    gelu_cpu(x.data(), cy.data(), n);
    gelu_backward_cpu(dy.data(), x.data(), cdx.data(), n);
    Dev<float> dx_(x), ddy(dy), y(n), dx(n);
    const std::string tag = "gelu n=" + std::to_string(n);
    Bits got = under_schedules(tag, [&] {
      y.put(poisoned(n));
      dx.put(poisoned(n));
      gelu_cuda(dx_.p, y.p, n, nullptr);
      gelu_backward_cuda(ddy.p, dx_.p, dx.p, n, nullptr);
      return Bits{{y.get(), dx.get()}};
    });
    std::vector<double> ry(n), rdx(n);
    std::vector<float> ny(n), ndx(n);
    for (int64_t i = 0; i < n; ++i) {
      const double v = x[i], cdf = 0.5 * std::erfc(-v / std::sqrt(2.0));
      ry[i] = v * cdf;
      rdx[i] = dy[i] * (cdf + v * std::exp(-0.5 * v * v) / std::sqrt(2 * M_PI));
      const float f = x[i], fc = 0.5f * (1.f + std::erf(f * 0.70710678f));
      ny[i] = f * fc;
      ndx[i] = dy[i] * (fc + f * 0.39894228f * std::exp(-0.5f * f * f));
    }
    check_vs(tag + " y", got.v[0], cy, ry, ny, 2, 1e-7);
    check_vs(tag + " dx", got.v[1], cdx, rdx, ndx, 3, 1e-7);
  }
}

MVD_TEST(cuda_axpby_scale_fill) {
  for (int64_t n : kSizes) {
    const std::vector<float> a = randn(n, 10 + n), b = randn(n, 20 + n);
    for (float alpha : {1.f, -0.37f}) {
      std::vector<float> cpu(n), naive(n);
      std::vector<double> ref(n);
      axpby_cpu(a.data(), b.data(), alpha, cpu.data(), n);
      for (int64_t i = 0; i < n; ++i) {
        ref[i] = (double)a[i] + (double)alpha * b[i];
        naive[i] = a[i] + alpha * b[i];
      }
      Dev<float> da(a), db(b), out(n);
      const std::string tag = "axpby n=" + std::to_string(n) + " alpha=" + std::to_string(alpha);
      Bits got = under_schedules(tag, [&] {
        out.put(poisoned(n));
        axpby_cuda(da.p, db.p, alpha, out.p, n, nullptr);
        // In place, as addInPlace runs it.
        Dev<float> inplace(a);
        axpby_cuda(inplace.p, db.p, alpha, inplace.p, n, nullptr);
        return Bits{{out.get(), inplace.get()}};
      });
      check_vs(tag, got.v[0], cpu, ref, naive, 2, 1e-7);
      CHECK(same_bits(got.v[0], got.v[1]));
    }
    std::vector<float> cpu(n), naive(n);
    std::vector<double> ref(n);
    scale_cpu(a.data(), -2.5f, cpu.data(), n);
    for (int64_t i = 0; i < n; ++i) {
      ref[i] = -2.5 * a[i];
      naive[i] = -2.5f * a[i];
    }
    Dev<float> da(a), out(n), filled(n);
    Bits got = under_schedules("scale/fill", [&] {
      out.put(poisoned(n));
      filled.put(poisoned(n));
      scale_cuda(da.p, -2.5f, out.p, n, nullptr);
      fill_cuda(filled.p, 0.25f, n, nullptr);
      return Bits{{out.get(), filled.get()}};
    });
    check_vs("scale n=" + std::to_string(n), got.v[0], cpu, ref, naive, 2, 1e-7);
    for (float v : got.v[1]) CHECK(v == 0.25f);
  }
}

MVD_TEST(cuda_add_broadcast_and_row_scale) {
  for (int64_t batch : {1, 3, 40})
    for (int64_t inner : {1, 7, 300}) {
      const int64_t n = batch * inner;
      const std::vector<float> x = randn(n, batch + inner), t = randn(inner, 5), s = randn(batch, 6);
      std::vector<float> cadd(n), cscale(n), nadd(n), nscale(n);
      std::vector<double> radd(n), rscale(n);
      add_broadcast_cpu(x.data(), t.data(), cadd.data(), batch, inner);
      row_scale_cpu(x.data(), s.data(), cscale.data(), batch, inner);
      for (int64_t b = 0; b < batch; ++b)
        for (int64_t i = 0; i < inner; ++i) {
          radd[b * inner + i] = (double)x[b * inner + i] + t[i];
          rscale[b * inner + i] = (double)x[b * inner + i] * s[b];
          nadd[b * inner + i] = x[b * inner + i] + t[i];
          nscale[b * inner + i] = x[b * inner + i] * s[b];
        }
      Dev<float> dx(x), dt(t), ds(s), oa(n), os(n);
      const std::string tag = "batch=" + std::to_string(batch) + " inner=" + std::to_string(inner);
      Bits got = under_schedules(tag, [&] {
        oa.put(poisoned(n));
        os.put(poisoned(n));
        add_broadcast_cuda(dx.p, dt.p, oa.p, batch, inner, nullptr);
        row_scale_cuda(dx.p, ds.p, os.p, batch, inner, nullptr);
        return Bits{{oa.get(), os.get()}};
      });
      check_vs(tag + " addBroadcast", got.v[0], cadd, radd, nadd, 2, 1e-7);
      check_vs(tag + " rowScale", got.v[1], cscale, rscale, nscale, 2, 1e-7);
    }
}

MVD_TEST(cuda_dropout_same_mask_as_cpu) {
  for (int64_t n : kSizes)
    for (float p : {0.f, 0.1f, 0.5f, 1.f})
      for (uint64_t seed : {uint64_t(0), uint64_t(12345), (uint64_t(7) << 40) + 3}) {
        const std::vector<float> x = randn(n, 30 + n), dy = randn(n, 40 + n);
        std::vector<float> cy(n), cdx(n);
        std::vector<uint8_t> cmask(n);
        dropout_cpu(x.data(), cy.data(), cmask.data(), n, p, seed);
        dropout_backward_cpu(dy.data(), cmask.data(), cdx.data(), n, p);
        Dev<float> dx_(x), ddy(dy), y(n), dx(n);
        Dev<uint8_t> mask(n);
        const std::string tag =
            "dropout n=" + std::to_string(n) + " p=" + std::to_string(p) + " seed=" + std::to_string(seed);
        Bits got = under_schedules(tag, [&] {
          y.put(poisoned(n));
          dx.put(poisoned(n));
          mask.put(std::vector<uint8_t>(n, 0xAB));
          dropout_cuda(dx_.p, y.p, mask.p, n, p, seed, nullptr);
          dropout_backward_cuda(ddy.p, mask.p, dx.p, n, p, nullptr);
          return Bits{{y.get(), as_float(mask.get()), dx.get()}};
        });
        // One multiplication per element on both devices: the same bits, not just close.
        if (!same_bits(got.v[1], as_float(cmask))) fail(tag + ": mask differs from the CPU op's");
        if (!same_bits(got.v[0], cy)) fail(tag + ": y differs from the CPU op's");
        if (!same_bits(got.v[2], cdx)) fail(tag + ": dx differs from the CPU op's");
      }
}

MVD_TEST(cuda_sum_rows) {
  for (int64_t rows : {1, 31, 300, 600})  // 300 and 600 cross the 256-row chunks
    for (int64_t cols : {7, 130})
      for (bool acc : {false, true}) {
        const std::vector<float> x = randn(rows * cols, rows + cols), init = randn(cols, 9);
        std::vector<float> cpu = init, naive(cols);
        std::vector<double> ref(cols);
        sum_rows_cpu(x.data(), cpu.data(), rows, cols, acc);
        for (int64_t j = 0; j < cols; ++j) {
          double s = acc ? init[j] : 0.0;
          float f = acc ? init[j] : 0.f;
          for (int64_t r = 0; r < rows; ++r) {
            s += x[r * cols + j];
            f += x[r * cols + j];
          }
          ref[j] = s;
          naive[j] = f;
        }
        Dev<float> dx(x), out(cols);
        Dev<char> scratch(sum_rows_cuda_scratch_bytes(rows, cols));
        const std::string tag =
            "sumRows rows=" + std::to_string(rows) + " cols=" + std::to_string(cols) + (acc ? " accumulate" : "");
        Bits got = under_schedules(tag, [&] {
          out.put(acc ? init : poisoned(cols));
          sum_rows_cuda(dx.p, out.p, rows, cols, acc, scratch.p, nullptr);
          return Bits{{out.get()}};
        });
        check_vs(tag, got.v[0], cpu, ref, naive, 2, 1e-6);
      }
}

#endif  // MVD_SIMT || MVD_HAVE_CUDA
