#include <cmath>
#include <vector>

#include "targets.h"

namespace mvd {

namespace {

enum class Norm { None, PerChannel, Joint };

// Sums in double over eight independent lanes: a single running sum is one long dependency chain
// and, without -ffast-math, the compiler may not reassociate it into vectors itself.
double sum_f64(const float* x, int64_t n) {
  double acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  int64_t i = 0;
  for (; i + 8 <= n; i += 8)
    for (int j = 0; j < 8; ++j) acc[j] += (double)x[i + j];
  double s = 0;
  for (; i < n; ++i) s += (double)x[i];
  for (int j = 0; j < 8; ++j) s += acc[j];
  return s;
}

double sum_sq_dev_f64(const float* x, int64_t n, double m) {
  double acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  int64_t i = 0;
  for (; i + 8 <= n; i += 8)
    for (int j = 0; j < 8; ++j) {
      const double e = (double)x[i + j] - m;
      acc[j] += e * e;
    }
  double s = 0;
  for (; i < n; ++i) {
    const double e = (double)x[i] - m;
    s += e * e;
  }
  for (int j = 0; j < 8; ++j) s += acc[j];
  return s;
}

// Each token is first gathered channel-planar into per-thread scratch ([C][n_pos], contiguous
// for the statistics), then written interleaved (channel fastest) with its normalisation applied.
// Statistics are two-pass in double, as torch's mean/var, so near-constant patches keep their
// small variance.
void pixel_target(const float* x, float* out, const PixelTargetArgs& a, bool diff, Norm norm) {
  const int64_t p = a.patch, C = a.C, tub = a.tubelet;
  const int64_t Tn = a.T / tub, Nh = a.H / p, Nw = a.W / p, ntok = Tn * Nh * Nw;
  const int64_t frames_out = diff ? 1 : tub;  // positions per token along time
  const int64_t n_pos = frames_out * p * p, P = n_pos * C;
  const int64_t HW = a.H * a.W, THW = a.T * HW;
  const float* mean = a.mean;
  const float* stdv = a.std;
#pragma omp parallel if (a.B * ntok * P > 65536)
  {
    std::vector<float> plane((size_t)P);
    std::vector<float> scale((size_t)C), centre((size_t)C);
#pragma omp for schedule(static)
    for (int64_t r = 0; r < a.B * ntok; ++r) {
      const int64_t tok = r % ntok, b = r / ntok;
      const int64_t ww = tok % Nw, hh = (tok / Nw) % Nh, tt = tok / (Nw * Nh);
      for (int64_t c = 0; c < C; ++c) {
        const float sc = stdv[c], sh = mean[c];
        const float* xc = x + (b * C + c) * THW + (hh * p) * a.W + ww * p;
        float* pl = plane.data() + c * n_pos;
        for (int64_t dt = 0; dt < frames_out; ++dt)
          for (int64_t py = 0; py < p; ++py) {
            float* o = pl + (dt * p + py) * p;
            if (diff) {
              // (x1*s + m) - (x0*s + m): the mean cancels.
              const float* f0 = xc + (tt * tub) * HW + py * a.W;
              const float* f1 = xc + (tt * tub + tub - 1) * HW + py * a.W;
              for (int64_t px = 0; px < p; ++px) o[px] = (f1[px] - f0[px]) * sc;
            } else {
              const float* f = xc + (tt * tub + dt) * HW + py * a.W;
              for (int64_t px = 0; px < p; ++px) o[px] = target_pixel(f[px], sc, sh);
            }
          }
      }
      // Every output value becomes target_normalised(v, centre[c], scale[c]).
      if (norm == Norm::PerChannel) {
        for (int64_t c = 0; c < C; ++c) {
          const float* pl = plane.data() + c * n_pos;
          const double m = sum_f64(pl, n_pos) / (double)n_pos;
          scale[c] = target_scale_per_channel(sum_sq_dev_f64(pl, n_pos, m), n_pos);
          centre[c] = (float)m;
        }
      } else if (norm == Norm::Joint) {
        const double m = sum_f64(plane.data(), P) / (double)P;
        const float sc = target_scale_joint(sum_sq_dev_f64(plane.data(), P, m), P);
        for (int64_t c = 0; c < C; ++c) {
          scale[c] = sc;
          centre[c] = (float)m;
        }
      } else {
        for (int64_t c = 0; c < C; ++c) {
          scale[c] = 1.f;
          centre[c] = 0.f;
        }
      }
      float* row = out + r * P;
      if (C == 3) {
        const float *p0 = plane.data(), *p1 = p0 + n_pos, *p2 = p1 + n_pos;
        const float s0 = scale[0], s1 = scale[1], s2 = scale[2], z0 = centre[0], z1 = centre[1], z2 = centre[2];
        for (int64_t i = 0; i < n_pos; ++i) {
          row[3 * i] = target_normalised(p0[i], z0, s0);
          row[3 * i + 1] = target_normalised(p1[i], z1, s1);
          row[3 * i + 2] = target_normalised(p2[i], z2, s2);
        }
      } else {
        for (int64_t i = 0; i < n_pos; ++i)
          for (int64_t c = 0; c < C; ++c) row[i * C + c] = target_normalised(plane[c * n_pos + i], centre[c], scale[c]);
      }
    }
  }
}

}  // namespace

void videomae_pixel_target_cpu(const float* video, float* out, const PixelTargetArgs& a) {
  pixel_target(video, out, a, false, a.normalize ? Norm::PerChannel : Norm::None);
}

void mae_pixel_target_cpu(const float* images, float* out, const PixelTargetArgs& a) {
  PixelTargetArgs b = a;
  b.T = 1;
  b.tubelet = 1;
  pixel_target(images, out, b, false, a.normalize ? Norm::Joint : Norm::None);
}

void rgb_diff_target_cpu(const float* video, float* out, const PixelTargetArgs& a) {
  pixel_target(video, out, a, true, a.normalize ? Norm::Joint : Norm::None);
}

}  // namespace mvd
