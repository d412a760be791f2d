// The three fixed positional tables (SPEC §1.5), evaluated in double and stored as float.
#pragma once
#include <cstdint>

namespace mvd {

// MVD 3D sin-cos, [t*h*w, d], d % 16 == 0: per token (ti, hi, wi) in t-major raster order the
// channels are [1D(d/4, ti) | 1D(3d/8, wi) | 1D(3d/8, hi)], each 1D block all sines then all cosines.
void sincos3d_table_cpu(float* out, int64_t d, int64_t t, int64_t h, int64_t w);
// VideoMAE 1D interleaved sinusoid, [n, d], d even: angle n / 10000^(2*floor(j/2)/d), sin on even j.
void sinusoid1d_table_cpu(float* out, int64_t n, int64_t d);
// MAE 2D sin-cos, [(cls ? 1 : 0) + g*g, d], d % 4 == 0: [1D(d/2, column) | 1D(d/2, row)], with a
// zero row first when cls is set.
void sincos2d_table_cpu(float* out, int64_t d, int64_t g, bool cls);

}  // namespace mvd
