// Decoded-frame preprocessing on u8 RGB frames [T,H,W,C] (ffmpeg rgb24 order): crop + bilinear
// resize, horizontal flip, and the conversion to the normalised float clip [B,C,T,H,W].
#pragma once
#include <cstdint>

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

}  // namespace mvd
