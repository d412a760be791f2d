// Reconstruction targets computed from the normalised clip the model sees. Each first undoes the
// input normalisation (x * std[c] + mean[c], back to [0,1] pixels), then lays every token out as
// (position, channel) with the channel fastest, then optionally normalises per token.
#pragma once
#include <cstdint>

namespace mvd {

struct PixelTargetArgs {
  int64_t B = 0, C = 0, T = 1, H = 0, W = 0;  // input [B,C,T,H,W] (images: T = 1)
  int64_t tubelet = 1, patch = 16;
  const float* mean = nullptr;                // [C]
  const float* std = nullptr;                 // [C]
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

}  // namespace mvd
