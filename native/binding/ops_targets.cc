// Pixel targets: videomaePixelTarget, maePixelTarget, rgbDiffTarget.
// Arguments: (video, mean[], std[], tubelet, patch, normalize).
#include <cmath>

#include "../ops/targets/targets.h"
#include "args.h"
#include "bindings.h"
#if MVD_HAVE_CUDA
#include "../cuda/runtime.h"
#endif

namespace mvd {
namespace {

enum class Kind { VideoMAE, MAE, RgbDiff };

Napi::Value Target(const Napi::CallbackInfo& info, const char* op, Kind kind) {
  TensorArg x = tensor_arg(op, info[0], kind == Kind::MAE ? "images" : "video");
  expect_dtype(op, x, DType::F32);
  expect_ndim(op, x, kind == Kind::MAE ? 4 : 5);
  PixelTargetArgs a;
  a.B = x.dim(0); a.C = x.dim(1);
  a.T = kind == Kind::MAE ? 1 : x.dim(2);
  a.H = x.dim(-2); a.W = x.dim(-1);
  std::vector<float> mean = channel_list(op, info[1], "mean", a.C, false);
  std::vector<float> stdv = channel_list(op, info[2], "std", a.C, true);
  a.tubelet = kind == Kind::MAE ? 1 : int_arg(op, info[3], "tubelet", kind == Kind::RgbDiff ? 2 : 1);
  a.patch = int_arg(op, info[4], "patch", 1);
  a.normalize = bool_arg(op, info[5], "normalize");
  if (a.T % a.tubelet || a.H % a.patch || a.W % a.patch)
    throw OpError(ErrorKind::Shape, op,
                  "T, H, W must be multiples of tubelet, patch, patch = " + std::to_string(a.tubelet) + ", " +
                      std::to_string(a.patch) + ", " + std::to_string(a.patch),
                  describe({&x}), x.device.str());
#if MVD_HAVE_CUDA
  if (x.device.kind == Device::CUDA && a.C > kMaxTargetChannelsCuda)
    throw OpError(ErrorKind::Value, op, "on CUDA at most " + std::to_string(kMaxTargetChannelsCuda) + " channels",
                  describe({&x}), x.device.str());
#endif
  const int64_t ntok = (a.T / a.tubelet) * (a.H / a.patch) * (a.W / a.patch);
  const int64_t P = (kind == Kind::VideoMAE ? a.tubelet : 1) * a.patch * a.patch * a.C;
  Output o = make_output({a.B, ntok, P}, DType::F32, x.device);
  auto px = x.data<float>();
  auto po = o.data<float>();
  WorkQueue& q = queue_for(op, x.device);
#if MVD_HAVE_CUDA
  if (x.device.kind == Device::CUDA)
    q.enqueue(op, [a, px, po, kind, mean, stdv, dev = x.device]() mutable {
      a.mean = mean.data();  // host arrays: the launcher folds them into the kernel's parameters
      a.std = stdv.data();
      cudaStream_t s = cuda_stream(dev);
      if (kind == Kind::VideoMAE) videomae_pixel_target_cuda(px, po, a, s);
      else if (kind == Kind::MAE) mae_pixel_target_cuda(px, po, a, s);
      else rgb_diff_target_cuda(px, po, a, s);
    });
  else
#endif
    q.enqueue(op, [a, px, po, kind, mean, stdv]() mutable {
      a.mean = mean.data();  // the lambda owns the channel lists, so point at its copies
      a.std = stdv.data();
      if (kind == Kind::VideoMAE) videomae_pixel_target_cpu(px, po, a);
      else if (kind == Kind::MAE) mae_pixel_target_cpu(px, po, a);
      else rgb_diff_target_cpu(px, po, a);
    });
  return output_to_js(info.Env(), o);
}

}  // namespace

static void register_target_ops(Napi::Env env, Napi::Object exports) {
  exports.Set("videomaePixelTarget", make_binding(env, "videomaePixelTarget", [](const Napi::CallbackInfo& i) {
                return Target(i, "videomaePixelTarget", Kind::VideoMAE);
              }));
  exports.Set("maePixelTarget", make_binding(env, "maePixelTarget", [](const Napi::CallbackInfo& i) {
                return Target(i, "maePixelTarget", Kind::MAE);
              }));
  exports.Set("rgbDiffTarget", make_binding(env, "rgbDiffTarget", [](const Napi::CallbackInfo& i) {
                return Target(i, "rgbDiffTarget", Kind::RgbDiff);
              }));
}

MVD_REGISTER_BINDINGS(targets, register_target_ops)

}  // namespace mvd
