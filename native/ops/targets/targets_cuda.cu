// CUDA versions of the pixel targets: one warp per token (a token is a few hundred to a few
// thousand values, too few for a block, and a warp reduces with shuffles alone, no barriers).
// Values are re-read from global memory for each pass instead of staged in shared memory: a
// token's patch is a handful of cache lines that stay in L1, and no patch size can outgrow it.
#include "simt/simt.h"

#include <cstring>

#include "core/errors.h"
#include "cuda/runtime.h"
#include "targets.h"

namespace mvd {
namespace {

constexpr int kWarps = 4;  // tokens per block
constexpr unsigned kFull = 0xffffffffu;

enum class Norm { None, PerChannel, Joint };

struct TargetParams {
  const float* x;
  float* out;
  int64_t C, W, HW, THW, tub, p, Tn, Nh, Nw, ntok, rows, frames_out, n_pos, P;
  bool diff;
  Norm norm;
  float mean[kMaxTargetChannelsCuda], stdv[kMaxTargetChannelsCuda];
};

// Shuffles move 32-bit words, so a double goes as two. The xor butterfly leaves the same sum in
// every lane (each pairwise add sees the same two operands).
__device__ __forceinline__ double warp_sum(double v) {
  for (int m = 16; m > 0; m >>= 1) {
    uint64_t u;
    memcpy(&u, &v, sizeof u);
    const unsigned lo = __shfl_xor_sync(kFull, (unsigned)u, m);
    const unsigned hi = __shfl_xor_sync(kFull, (unsigned)(u >> 32), m);
    const uint64_t w = ((uint64_t)hi << 32) | lo;
    double o;
    memcpy(&o, &w, sizeof o);
    v += o;
  }
  return v;
}

// The [0,1]-pixel value at position i = (dt, py, px) and channel c of token (b, tt, hh, ww).
__device__ __forceinline__ float token_value(const TargetParams& k, const float* base, int64_t i, int64_t c) {
  const int64_t px = i % k.p, py = (i / k.p) % k.p, dt = i / (k.p * k.p);
  const float* xc = base + c * k.THW + py * k.W + px;
  if (k.diff) return (xc[(k.tub - 1) * k.HW] - xc[0]) * k.stdv[c];
  return target_pixel(xc[dt * k.HW], k.stdv[c], k.mean[c]);
}

__global__ void pixel_target_kernel(TargetParams k) {
  const int lane = threadIdx.x & 31;
  const int64_t r = (int64_t)blockIdx.x * kWarps + (threadIdx.x >> 5);
  if (r >= k.rows) return;  // whole warps leave together, so every shuffle below has its 32 lanes
  const int64_t tok = r % k.ntok, b = r / k.ntok;
  const int64_t ww = tok % k.Nw, hh = (tok / k.Nw) % k.Nh, tt = tok / (k.Nw * k.Nh);
  const float* base = k.x + b * k.C * k.THW + (tt * k.tub) * k.HW + (hh * k.p) * k.W + ww * k.p;
  float* row = k.out + r * k.P;
  if (k.norm == Norm::PerChannel) {
    for (int64_t c = 0; c < k.C; ++c) {
      double s = 0;
      for (int64_t i = lane; i < k.n_pos; i += 32) s += (double)token_value(k, base, i, c);
      const double m = warp_sum(s) / (double)k.n_pos;
      double q = 0;
      for (int64_t i = lane; i < k.n_pos; i += 32) {
        const double e = (double)token_value(k, base, i, c) - m;
        q += e * e;
      }
      const float scale = target_scale_per_channel(warp_sum(q), k.n_pos), centre = (float)m;
      for (int64_t i = lane; i < k.n_pos; i += 32)
        row[i * k.C + c] = target_normalised(token_value(k, base, i, c), centre, scale);
    }
    return;
  }
  float centre = 0.f, scale = 1.f;
  if (k.norm == Norm::Joint) {
    double s = 0;
    for (int64_t e = lane; e < k.P; e += 32) s += (double)token_value(k, base, e / k.C, e % k.C);
    const double m = warp_sum(s) / (double)k.P;
    double q = 0;
    for (int64_t e = lane; e < k.P; e += 32) {
      const double d = (double)token_value(k, base, e / k.C, e % k.C) - m;
      q += d * d;
    }
    scale = target_scale_joint(warp_sum(q), k.P);
    centre = (float)m;
  }
  for (int64_t e = lane; e < k.P; e += 32)
    row[e] = target_normalised(token_value(k, base, e / k.C, e % k.C), centre, scale);
}

void pixel_target(const float* x, float* out, const PixelTargetArgs& a, bool diff, Norm norm, cudaStream_t stream,
                  const char* op) {
  if (a.C > kMaxTargetChannelsCuda)
    throw OpError(ErrorKind::Value, op, "on CUDA at most " + std::to_string(kMaxTargetChannelsCuda) + " channels");
  TargetParams k{};
  k.x = x;
  k.out = out;
  k.C = a.C;
  k.W = a.W;
  k.HW = a.H * a.W;
  k.THW = a.T * k.HW;
  k.tub = a.tubelet;
  k.p = a.patch;
  k.Tn = a.T / a.tubelet;
  k.Nh = a.H / a.patch;
  k.Nw = a.W / a.patch;
  k.ntok = k.Tn * k.Nh * k.Nw;
  k.rows = a.B * k.ntok;
  k.frames_out = diff ? 1 : a.tubelet;
  k.n_pos = k.frames_out * a.patch * a.patch;
  k.P = k.n_pos * k.C;
  k.diff = diff;
  k.norm = norm;
  for (int64_t c = 0; c < k.C; ++c) {
    k.mean[c] = a.mean[c];
    k.stdv[c] = a.std[c];
  }
  if (k.rows == 0 || k.P == 0) return;
  mvd_launch(pixel_target_kernel, dim3((unsigned)((k.rows + kWarps - 1) / kWarps)), dim3(32 * kWarps), 0, stream, k);
  MVD_CUDA_CHECK_LAUNCH(op);
}

}  // namespace

void videomae_pixel_target_cuda(const float* video, float* out, const PixelTargetArgs& a, cudaStream_t stream) {
  pixel_target(video, out, a, false, a.normalize ? Norm::PerChannel : Norm::None, stream, "videomaePixelTarget");
}

void mae_pixel_target_cuda(const float* images, float* out, const PixelTargetArgs& a, cudaStream_t stream) {
  PixelTargetArgs b = a;
  b.T = 1;
  b.tubelet = 1;
  pixel_target(images, out, b, false, a.normalize ? Norm::Joint : Norm::None, stream, "maePixelTarget");
}

void rgb_diff_target_cuda(const float* video, float* out, const PixelTargetArgs& a, cudaStream_t stream) {
  pixel_target(video, out, a, true, a.normalize ? Norm::Joint : Norm::None, stream, "rgbDiffTarget");
}

}  // namespace mvd
