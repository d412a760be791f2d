// Reconstruction targets computed from the normalised clip the model sees. Each first undoes the
// input normalisation (x * std[c] + mean[c], back to [0,1] pixels), then lays every token out as
// (position, channel) with the channel fastest, then optionally normalises per token.
#pragma once
#include <cmath>
#include <cstdint>

#include "../../core/hd.h"

namespace mvd {

struct PixelTargetArgs {
  int64_t B = 0, C = 0, T = 1, H = 0, W = 0;  // input [B,C,T,H,W] (images: T = 1)
  int64_t tubelet = 1, patch = 16;
  const float* mean = nullptr;  // [C]
  const float* std = nullptr;   // [C]
  bool normalize = true;
};

// VideoMAE (SPEC §7): [B, (T/tubelet)(H/p)(W/p), tubelet*p*p*C], positions (dt, py, px); with
// normalize, each channel of each token becomes (x - mean) / (sqrt(unbiased var) + 1e-6).
void videomae_pixel_target_cpu(const float* video, float* out, const PixelTargetArgs& a);
// MAE (SPEC §8), images [B,C,H,W] (a.T = a.tubelet = 1): [B, (H/p)(W/p), p*p*C], positions
// (py, px); with normalize, all p*p*C values of a patch jointly become (x - mean) / sqrt(unbiased var + 1e-6).
void mae_pixel_target_cpu(const float* images, float* out, const PixelTargetArgs& a);
// RGB difference, our definition (MAM2's is unpublished, SPEC §9): per tubelet, the last frame minus
// the first frame in [0,1] pixel units, [B, (T/tubelet)(H/p)(W/p), p*p*C], positions (py, px); with
// normalize, MAE-style joint per-patch normalisation.
void rgb_diff_target_cpu(const float* video, float* out, const PixelTargetArgs& a);

// The per-value and per-token formulas shared by the CPU op and the CUDA kernel.
// Back to [0,1] pixels: x * std + mean (for a frame difference the mean cancels: (x1 - x0) * std).
MVD_HD inline float target_pixel(float x, float stdv, float mean) { return fmaf(x, stdv, mean); }
// VideoMAE: 1 / (sqrt(unbiased var) + 1e-6), from the sum of squared deviations over n values.
MVD_HD inline float target_scale_per_channel(double ssd, int64_t n) {
  return (float)(1.0 / (sqrt(ssd / (double)(n - 1)) + 1e-6));
}
// MAE: 1 / sqrt(unbiased var + 1e-6).
MVD_HD inline float target_scale_joint(double ssd, int64_t n) {
  return (float)(1.0 / sqrt(ssd / (double)(n - 1) + 1e-6));
}
// Subtracting first keeps the result accurate when a near-constant patch is scaled up by ~1/sqrt(1e-6).
MVD_HD inline float target_normalised(float v, float centre, float scale) { return (v - centre) * scale; }

}  // namespace mvd

#if MVD_HAVE_CUDA || MVD_SIMT
#include <cstddef>

#include "../../cuda/stream.h"

namespace mvd {

// CUDA launchers over device pointers; a.mean/a.std stay host arrays (folded into kernel
// parameters), C <= kMaxTargetChannelsCuda. One warp per token; the statistics are in double like
// the CPU op's, summed in another order, so results agree to the last bit or so of a float.
constexpr int64_t kMaxTargetChannelsCuda = 64;
void videomae_pixel_target_cuda(const float* video, float* out, const PixelTargetArgs& a, cudaStream_t stream);
void mae_pixel_target_cuda(const float* images, float* out, const PixelTargetArgs& a, cudaStream_t stream);
void rgb_diff_target_cuda(const float* video, float* out, const PixelTargetArgs& a, cudaStream_t stream);

}  // namespace mvd
#endif
