// Pixel targets: videomaePixelTarget, maePixelTarget, rgbDiffTarget.
// Arguments: (video, {mean[], std[], tubelet, patch, normalize}); maePixelTarget has no tubelet.
#include <cmath>

#include "../ops/targets/targets.h"
#include "args.h"
#include "bindings.h"
#include "dispatch.h"

namespace mvd {
namespace {

enum class Kind { VideoMAE, MAE, RgbDiff };

Napi::Value Target(const Napi::CallbackInfo& info, const char* op, Kind kind) {
  TensorArg x = tensor_arg(op, info[0], kind == Kind::MAE ? "images" : "video");
  expect_dtype(op, x, DType::F32);
  expect_ndim(op, x, kind == Kind::MAE ? 4 : 5);
  PixelTargetArgs a;
  a.B = x.dim(0);
  a.C = x.dim(1);
  a.T = kind == Kind::MAE ? 1 : x.dim(2);
  a.H = x.dim(-2);
  a.W = x.dim(-1);
  Napi::Object opts = options_arg(op, info[1]);
  std::vector<float> mean = channel_list(op, opts.Get("mean"), "mean", a.C, false);
  std::vector<float> stdv = channel_list(op, opts.Get("std"), "std", a.C, true);
  a.tubelet = kind == Kind::MAE ? 1 : int_arg(op, opts.Get("tubelet"), "tubelet", kind == Kind::RgbDiff ? 2 : 1);
  a.patch = int_arg(op, opts.Get("patch"), "patch", 1);
  a.normalize = bool_arg(op, opts.Get("normalize"), "normalize");
  if (a.T % a.tubelet || a.H % a.patch || a.W % a.patch)
    throw OpError(ErrorKind::Shape, op,
                  "T, H, W must be multiples of tubelet, patch, patch = " + std::to_string(a.tubelet) + ", " +
                      std::to_string(a.patch) + ", " + std::to_string(a.patch),
                  describe({&x}), x.device.str());
  MVD_IF_CUDA(if (x.device.kind == Device::CUDA && a.C > kMaxTargetChannelsCuda) throw OpError(
      ErrorKind::Value, op, "on CUDA at most " + std::to_string(kMaxTargetChannelsCuda) + " channels", describe({&x}),
      x.device.str()));
  const int64_t ntok = (a.T / a.tubelet) * (a.H / a.patch) * (a.W / a.patch);
  const int64_t P = (kind == Kind::VideoMAE ? a.tubelet : 1) * a.patch * a.patch * a.C;
  Dispatch d(op, {&x});
  Output o = d.output({a.B, ntok, P}, DType::F32);
  auto px = x.data<float>();
  auto po = o.data<float>();
  d.run(
      [=]() mutable {
        a.mean = mean.data();  // the lambda owns the channel lists, so point at its copies
        a.std = stdv.data();
        if (kind == Kind::VideoMAE) videomae_pixel_target_cpu(px, po, a);
        else if (kind == Kind::MAE) mae_pixel_target_cpu(px, po, a);
        else rgb_diff_target_cpu(px, po, a);
      },
      MVD_CUDA([=](const CudaLaunch& c) mutable {
        a.mean = mean.data();  // host arrays: the launcher folds them into the kernel's parameters
        a.std = stdv.data();
        cudaStream_t s = c.stream();
        if (kind == Kind::VideoMAE) videomae_pixel_target_cuda(px, po, a, s);
        else if (kind == Kind::MAE) mae_pixel_target_cuda(px, po, a, s);
        else rgb_diff_target_cuda(px, po, a, s);
      }));
  return output_to_js(info.Env(), o);
}

}  // namespace

MVD_BINDING(
    "videomaePixelTarget", [](const Napi::CallbackInfo& i) { return Target(i, "videomaePixelTarget", Kind::VideoMAE); },
    "video, {mean, std, tubelet, patch, normalize}")
MVD_BINDING(
    "maePixelTarget", [](const Napi::CallbackInfo& i) { return Target(i, "maePixelTarget", Kind::MAE); },
    "images, {mean, std, patch, normalize}")
MVD_BINDING(
    "rgbDiffTarget", [](const Napi::CallbackInfo& i) { return Target(i, "rgbDiffTarget", Kind::RgbDiff); },
    "video, {mean, std, tubelet, patch, normalize}")

}  // namespace mvd
