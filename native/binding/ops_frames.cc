// Frame preprocessing: resizeCrop(frames, {x, y, w, h, outH, outW}), flipFrames(frames),
// framesToClip(frames, mean[], std[]). Frames are u8 [T,H,W,C] (C = 3 from ffmpeg rgb24).
#include <cmath>

#include "../ops/frames/frames.h"
#include "args.h"
#include "bindings.h"
#include "crop_arg.h"
#include "dispatch.h"

namespace mvd {
namespace {

Napi::Value ResizeCrop(const Napi::CallbackInfo& info) {
  const char* op = "resizeCrop";
  TensorArg f = tensor_arg(op, info[0], "frames");
  expect_dtype(op, f, DType::U8);
  expect_ndim(op, f, 4);
  ResizeCropArgs a;
  a.T = f.dim(0);
  a.H = f.dim(1);
  a.W = f.dim(2);
  a.C = f.dim(3);
  read_crop(op, options_arg(op, info[1]), &a);
  if (a.x + a.w > a.W || a.y + a.h > a.H)
    throw OpError(ErrorKind::Value, op,
                  "crop x=" + std::to_string(a.x) + " y=" + std::to_string(a.y) + " w=" + std::to_string(a.w) +
                      " h=" + std::to_string(a.h) + " leaves the frame",
                  describe({&f}), f.device.str());
  Dispatch d(op, {&f});
  Output o = d.output({a.T, a.out_h, a.out_w, a.C}, DType::U8);
  auto pi = f.data<uint8_t>();
  auto po = o.data<uint8_t>();
  d.run([=] { resize_crop_cpu(pi, po, a); },
        MVD_CUDA([=](const CudaLaunch& c) { resize_crop_cuda(pi, po, a, c.stream()); }));
  return output_to_js(info.Env(), o);
}
MVD_BINDING("resizeCrop", ResizeCrop, "frames, {x, y, w, h, outH, outW}")

Napi::Value FlipFrames(const Napi::CallbackInfo& info) {
  const char* op = "flipFrames";
  TensorArg f = tensor_arg(op, info[0], "frames");
  expect_dtype(op, f, DType::U8);
  expect_ndim(op, f, 4);
  const int64_t T = f.dim(0), H = f.dim(1), W = f.dim(2), C = f.dim(3);
  Dispatch d(op, {&f});
  Output o = d.output(f.shape, DType::U8);
  auto pi = f.data<uint8_t>();
  auto po = o.data<uint8_t>();
  d.run([=] { flip_frames_cpu(pi, po, T, H, W, C); },
        MVD_CUDA([=](const CudaLaunch& c) { flip_frames_cuda(pi, po, T, H, W, C, c.stream()); }));
  return output_to_js(info.Env(), o);
}
MVD_BINDING("flipFrames", FlipFrames, "frames")

Napi::Value FramesToClip(const Napi::CallbackInfo& info) {
  const char* op = "framesToClip";
  TensorArg f = tensor_arg(op, info[0], "frames");
  expect_dtype(op, f, DType::U8);
  if (f.ndim() != 4 && f.ndim() != 5)
    throw OpError(ErrorKind::Shape, op, "frames must be [T,H,W,C] or [B,T,H,W,C]", describe({&f}), f.device.str());
  const bool batched = f.ndim() == 5;
  const int64_t B = batched ? f.dim(0) : 1, T = f.dim(-4), H = f.dim(-3), W = f.dim(-2), C = f.dim(-1);
  std::vector<float> mean = channel_list(op, info[1], "mean", C, false);
  std::vector<float> stdv = channel_list(op, info[2], "std", C, true);
  MVD_IF_CUDA(if (f.device.kind == Device::CUDA && C > kMaxClipChannelsCuda) throw OpError(
      ErrorKind::Value, op, "on CUDA at most " + std::to_string(kMaxClipChannelsCuda) + " channels", describe({&f}),
      f.device.str()));
  Dispatch d(op, {&f});
  Output o = d.output(batched ? std::vector<int64_t>{B, C, T, H, W} : std::vector<int64_t>{C, T, H, W}, DType::F32);
  auto pi = f.data<uint8_t>();
  auto po = o.data<float>();
  d.run([=] { frames_to_clip_cpu(pi, po, B, T, H, W, C, mean.data(), stdv.data()); },
        MVD_CUDA([=](const CudaLaunch& c) {
          frames_to_clip_cuda(pi, po, B, T, H, W, C, mean.data(), stdv.data(), c.stream());
        }));
  return output_to_js(info.Env(), o);
}
MVD_BINDING("framesToClip", FramesToClip, "frames, mean, std")

}  // namespace

}  // namespace mvd
