// The three fixed positional tables (SPEC §1.5), evaluated in double and stored as float.
// The per-element formulas below are shared by the CPU op and the CUDA kernel.
#pragma once
#include <cmath>
#include <cstdint>

#include "../../core/hd.h"

namespace mvd {

// MVD 3D sin-cos, [t*h*w, d], d % 16 == 0: per token (ti, hi, wi) in t-major raster order the
// channels are [1D(d/4, ti) | 1D(3d/8, wi) | 1D(3d/8, hi)], each 1D block all sines then all cosines.
void sincos3d_table_cpu(float* out, int64_t d, int64_t t, int64_t h, int64_t w);
// VideoMAE 1D interleaved sinusoid, [n, d], d even: angle n / 10000^(2*floor(j/2)/d), sin on even j.
void sinusoid1d_table_cpu(float* out, int64_t n, int64_t d);
// MAE 2D sin-cos, [(cls ? 1 : 0) + g*g, d], d % 4 == 0: [1D(d/2, column) | 1D(d/2, row)], with a
// zero row first when cls is set.
void sincos2d_table_cpu(float* out, int64_t d, int64_t g, bool cls);

// Channel k of the 1D encoding of width dim at position p: sin(p*w_k) for k < dim/2, then
// cos(p*w_{k-dim/2}), with w_k = 10000^(-k/(dim/2)).
MVD_HD inline float sincos1d_value(int64_t dim, int64_t k, double p) {
  const int64_t half = dim / 2;
  const bool is_sin = k < half;
  const int64_t kk = is_sin ? k : k - half;
  const double a = p * pow(10000.0, -(double)kk / (double)half);
  return (float)(is_sin ? sin(a) : cos(a));
}

// Element (token i, channel j) of the MVD 3D table.
MVD_HD inline float sincos3d_value(int64_t d, int64_t h, int64_t w, int64_t i, int64_t j) {
  const int64_t dt = d / 4, ds = 3 * d / 8;
  const int64_t wi = i % w, hi = (i / w) % h, ti = i / (w * h);
  if (j < dt) return sincos1d_value(dt, j, (double)ti);
  // The "h" half of the original code encodes the column.
  if (j < dt + ds) return sincos1d_value(ds, j - dt, (double)wi);
  return sincos1d_value(ds, j - dt - ds, (double)hi);
}

// Element (position p, channel j) of the VideoMAE table.
MVD_HD inline float sinusoid1d_value(int64_t d, int64_t p, int64_t j) {
  const double a = (double)p / pow(10000.0, 2.0 * (double)(j / 2) / (double)d);
  return (float)(j % 2 == 0 ? sin(a) : cos(a));
}

// Element (grid cell i = row * g + column, channel j) of the MAE table, cls row excluded.
MVD_HD inline float sincos2d_value(int64_t d, int64_t g, int64_t i, int64_t j) {
  const int64_t half = d / 2;
  return j < half ? sincos1d_value(half, j, (double)(i % g)) : sincos1d_value(half, j - half, (double)(i / g));
}

}  // namespace mvd

#if MVD_HAVE_CUDA || MVD_SIMT
#include <cstddef>

#include "../../cuda/stream.h"

namespace mvd {

// CUDA launchers: the same tables written to device memory, one thread per element, in double
// (device sin/cos/pow may differ from glibc's in the last bit of a double, which survives the
// rounding to float only in rare ties).
void sincos3d_table_cuda(float* out, int64_t d, int64_t t, int64_t h, int64_t w, cudaStream_t stream);
void sinusoid1d_table_cuda(float* out, int64_t n, int64_t d, cudaStream_t stream);
void sincos2d_table_cuda(float* out, int64_t d, int64_t g, bool cls, cudaStream_t stream);

}  // namespace mvd
#endif
