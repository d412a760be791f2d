// CUDA versions of the frame ops: one thread per output value (resize, flip) or per pixel
// (frames_to_clip, which de-interleaves channels so each plane's stores stay coalesced). The
// arithmetic is the CPU op's, through the functions shared in frames.h.
#include "simt/simt.h"

#include "core/errors.h"
#include "cuda/grid.h"
#include "cuda/runtime.h"
#include "frames.h"

namespace mvd {
namespace {

using namespace grid;

// The CPU op resamples whole rows horizontally first and then blends two of them; per value that
// is the same two horizontal lerps and one vertical lerp, so the bits agree.
__global__ void resize_crop_kernel(const uint8_t* in, uint8_t* out, ResizeCropArgs a, double sx, double sy,
                                   int64_t total) {
  const int64_t C = a.C;
  for (int64_t o = thread_index(); o < total; o += thread_stride()) {
    const int64_t c = o % C, ox = (o / C) % a.out_w, oy = (o / (C * a.out_w)) % a.out_h,
                  t = o / (C * a.out_w * a.out_h);
    int64_t x0, x1, y0, y1;
    const float fx = bilinear_tap(ox, a.w, sx, &x0, &x1);
    const float wy = bilinear_tap(oy, a.h, sy, &y0, &y1);
    const uint8_t* r0 = in + ((t * a.H + a.y + y0) * a.W + a.x) * C + c;
    const uint8_t* r1 = in + ((t * a.H + a.y + y1) * a.W + a.x) * C + c;
    const float top = bilinear_lerp((float)r0[x0 * C], (float)r0[x1 * C], fx);
    const float bot = bilinear_lerp((float)r1[x0 * C], (float)r1[x1 * C], fx);
    out[o] = round_to_u8(bilinear_lerp(top, bot, wy));
  }
}

__global__ void flip_kernel(const uint8_t* in, uint8_t* out, int64_t W, int64_t C, int64_t total) {
  for (int64_t o = thread_index(); o < total; o += thread_stride()) {
    const int64_t c = o % C, w = (o / C) % W, row = o / (C * W);
    out[o] = in[(row * W + (W - 1 - w)) * C + c];
  }
}

struct ClipAffine {
  float scale[kMaxClipChannelsCuda], shift[kMaxClipChannelsCuda];
};

__global__ void frames_to_clip_kernel(const uint8_t* in, float* out, int64_t T, int64_t HW, int64_t C, ClipAffine k,
                                      int64_t pixels) {
  const int64_t THW = T * HW;
  for (int64_t p = thread_index(); p < pixels; p += thread_stride()) {
    const int64_t b = p / THW, thw = p % THW;
    const uint8_t* src = in + p * C;
    float* dst = out + b * C * THW + thw;
    for (int64_t c = 0; c < C; ++c) dst[c * THW] = clip_value(src[c], k.scale[c], k.shift[c]);
  }
}

}  // namespace

void resize_crop_cuda(const uint8_t* in, uint8_t* out, const ResizeCropArgs& a, cudaStream_t stream) {
  const int64_t total = a.T * a.out_h * a.out_w * a.C;
  if (total == 0) return;
  const double sx = (double)a.w / (double)a.out_w, sy = (double)a.h / (double)a.out_h;
  mvd_launch(resize_crop_kernel, dim3(blocks_for(total)), dim3(kThreads), 0, stream, in, out, a, sx, sy, total);
  MVD_CUDA_CHECK_LAUNCH("resizeCrop");
}

void flip_frames_cuda(const uint8_t* in, uint8_t* out, int64_t T, int64_t H, int64_t W, int64_t C,
                      cudaStream_t stream) {
  const int64_t total = T * H * W * C;
  if (total == 0) return;
  mvd_launch(flip_kernel, dim3(blocks_for(total)), dim3(kThreads), 0, stream, in, out, W, C, total);
  MVD_CUDA_CHECK_LAUNCH("flipFrames");
}

void frames_to_clip_cuda(const uint8_t* in, float* out, int64_t B, int64_t T, int64_t H, int64_t W, int64_t C,
                         const float* mean, const float* std, cudaStream_t stream) {
  if (C > kMaxClipChannelsCuda)
    throw OpError(ErrorKind::Value, "framesToClip",
                  "on CUDA at most " + std::to_string(kMaxClipChannelsCuda) + " channels");
  ClipAffine k{};
  for (int64_t c = 0; c < C; ++c) clip_affine(mean[c], std[c], &k.scale[c], &k.shift[c]);
  const int64_t pixels = B * T * H * W;
  if (pixels == 0 || C == 0) return;
  mvd_launch(frames_to_clip_kernel, dim3(blocks_for(pixels)), dim3(kThreads), 0, stream, in, out, T, H * W, C, k,
             pixels);
  MVD_CUDA_CHECK_LAUNCH("framesToClip");
}

}  // namespace mvd
