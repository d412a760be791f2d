// Decoded-frame preprocessing on u8 RGB frames [T,H,W,C] (ffmpeg rgb24 order): crop + bilinear
// resize, horizontal flip, and the conversion to the normalised float clip [B,C,T,H,W].
// The tap, interpolation and normalisation formulas below are shared by the CPU op and the CUDA
// kernels; their multiply-adds are explicit fma so both round identically.
#pragma once
#include <cmath>
#include <cstdint>

#include "../../core/hd.h"

namespace mvd {

struct ResizeCropArgs {
  int64_t T = 0, H = 0, W = 0, C = 3;
  int64_t x = 0, y = 0, w = 0, h = 0;  // crop window, inside the frame
  int64_t out_h = 0, out_w = 0;
};
// Bilinear with half-pixel centres (align_corners=False, no antialias): source coordinate
// (o + 0.5) * in/out - 0.5 clamped at 0, neighbours clamped to the crop; rounds to nearest.
void resize_crop_cpu(const uint8_t* in, uint8_t* out, const ResizeCropArgs& a);
// out[t,h,w,:] = in[t,h,W-1-w,:]
void flip_frames_cpu(const uint8_t* in, uint8_t* out, int64_t T, int64_t H, int64_t W, int64_t C);
// in [B,T,H,W,C] u8 -> out [B,C,T,H,W] f32, (x/255 - mean[c]) / std[c].
void frames_to_clip_cpu(const uint8_t* in, float* out, int64_t B, int64_t T, int64_t H, int64_t W, int64_t C,
                        const float* mean, const float* std);

// Source taps of output coordinate o along an axis of n_in crop pixels, with scale = n_in / n_out:
// returns the weight of *i1 (that of *i0 is 1 minus it).
MVD_HD inline float bilinear_tap(int64_t o, int64_t n_in, double scale, int64_t* i0, int64_t* i1) {
  const double s = fmax(0.0, fma((double)o + 0.5, scale, -0.5));
  const int64_t j0 = (int64_t)s < n_in - 1 ? (int64_t)s : n_in - 1;
  *i0 = j0;
  *i1 = j0 + 1 < n_in - 1 ? j0 + 1 : n_in - 1;
  return (float)(s - (double)j0);
}

MVD_HD inline float bilinear_lerp(float a, float b, float t) { return fmaf(t, b - a, a); }

// A convex combination of bytes is already in [0,255]: + 0.5 and truncation round to nearest.
MVD_HD inline uint8_t round_to_u8(float v) { return (uint8_t)(int32_t)(v + 0.5f); }

// (x/255 - mean) / std as one multiply-add per value: x * (1 / (255 std)) - mean / std.
inline void clip_affine(float mean, float std, float* scale, float* shift) {
  *scale = (float)(1.0 / (255.0 * (double)std));
  *shift = (float)(-(double)mean / (double)std);
}
MVD_HD inline float clip_value(uint8_t v, float scale, float shift) { return fmaf((float)v, scale, shift); }

}  // namespace mvd

#if MVD_HAVE_CUDA || MVD_SIMT
#include <cstddef>

#include "../../cuda/stream.h"

namespace mvd {

// CUDA launchers over device pointers; mean/std stay host arrays (folded into kernel parameters).
// Through the shared tap and interpolation functions above, resize_crop_cuda and
// frames_to_clip_cuda produce the CPU op's bits exactly.
constexpr int64_t kMaxClipChannelsCuda = 64;  // framesToClip on CUDA: C <= this
void resize_crop_cuda(const uint8_t* in, uint8_t* out, const ResizeCropArgs& a, cudaStream_t stream);
void flip_frames_cuda(const uint8_t* in, uint8_t* out, int64_t T, int64_t H, int64_t W, int64_t C, cudaStream_t stream);
void frames_to_clip_cuda(const uint8_t* in, float* out, int64_t B, int64_t T, int64_t H, int64_t W, int64_t C,
                         const float* mean, const float* std, cudaStream_t stream);

}  // namespace mvd
#endif
