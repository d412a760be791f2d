// Frame preprocessing: resizeCrop(frames, x, y, w, h, outH, outW), flipFrames(frames),
// framesToClip(frames, mean[], std[]). Frames are u8 [T,H,W,C] (C = 3 from ffmpeg rgb24).
#include <cmath>

#include "../ops/frames/frames.h"
#include "args.h"
#include "bindings.h"
#if MVD_HAVE_CUDA
#include "../cuda/runtime.h"
#endif

namespace mvd {
namespace {

Napi::Value ResizeCrop(const Napi::CallbackInfo& info) {
  const std::string op = "resizeCrop";
  TensorArg f = tensor_arg(op, info[0], "frames");
  expect_dtype(op, f, DType::U8);
  expect_ndim(op, f, 4);
  ResizeCropArgs a;
  a.T = f.dim(0); a.H = f.dim(1); a.W = f.dim(2); a.C = f.dim(3);
  a.x = int_arg(op, info[1], "crop.x", 0);
  a.y = int_arg(op, info[2], "crop.y", 0);
  a.w = int_arg(op, info[3], "crop.w", 1);
  a.h = int_arg(op, info[4], "crop.h", 1);
  a.out_h = int_arg(op, info[5], "outH", 1);
  a.out_w = int_arg(op, info[6], "outW", 1);
  if (a.x + a.w > a.W || a.y + a.h > a.H)
    throw OpError(ErrorKind::Value, op,
                  "crop x=" + std::to_string(a.x) + " y=" + std::to_string(a.y) + " w=" + std::to_string(a.w) +
                      " h=" + std::to_string(a.h) + " leaves the frame",
                  describe({&f}), f.device.str());
  Output o = make_output({a.T, a.out_h, a.out_w, a.C}, DType::U8, f.device);
  auto pi = f.data<uint8_t>();
  auto po = o.data<uint8_t>();
  WorkQueue& q = queue_for(op, f.device);
#if MVD_HAVE_CUDA
  if (f.device.kind == Device::CUDA)
    q.enqueue("resizeCrop", [a, pi, po, dev = f.device]() { resize_crop_cuda(pi, po, a, cuda_stream(dev)); });
  else
#endif
    q.enqueue("resizeCrop", [a, pi, po]() { resize_crop_cpu(pi, po, a); });
  return output_to_js(info.Env(), o);
}

Napi::Value FlipFrames(const Napi::CallbackInfo& info) {
  const std::string op = "flipFrames";
  TensorArg f = tensor_arg(op, info[0], "frames");
  expect_dtype(op, f, DType::U8);
  expect_ndim(op, f, 4);
  const int64_t T = f.dim(0), H = f.dim(1), W = f.dim(2), C = f.dim(3);
  Output o = make_output(f.shape, DType::U8, f.device);
  auto pi = f.data<uint8_t>();
  auto po = o.data<uint8_t>();
  WorkQueue& q = queue_for(op, f.device);
#if MVD_HAVE_CUDA
  if (f.device.kind == Device::CUDA)
    q.enqueue("flipFrames", [=, dev = f.device]() {
      flip_frames_cuda(pi, po, T, H, W, C, cuda_stream(dev));
    });
  else
#endif
    q.enqueue("flipFrames", [=]() { flip_frames_cpu(pi, po, T, H, W, C); });
  return output_to_js(info.Env(), o);
}

Napi::Value FramesToClip(const Napi::CallbackInfo& info) {
  const std::string op = "framesToClip";
  TensorArg f = tensor_arg(op, info[0], "frames");
  expect_dtype(op, f, DType::U8);
  if (f.ndim() != 4 && f.ndim() != 5)
    throw OpError(ErrorKind::Shape, op, "frames must be [T,H,W,C] or [B,T,H,W,C]", describe({&f}), f.device.str());
  const bool batched = f.ndim() == 5;
  const int64_t B = batched ? f.dim(0) : 1, T = f.dim(-4), H = f.dim(-3), W = f.dim(-2), C = f.dim(-1);
  std::vector<float> mean = channel_list(op, info[1], "mean", C, false);
  std::vector<float> stdv = channel_list(op, info[2], "std", C, true);
#if MVD_HAVE_CUDA
  if (f.device.kind == Device::CUDA && C > kMaxClipChannelsCuda)
    throw OpError(ErrorKind::Value, op, "on CUDA at most " + std::to_string(kMaxClipChannelsCuda) + " channels",
                  describe({&f}), f.device.str());
#endif
  Output o = make_output(batched ? std::vector<int64_t>{B, C, T, H, W} : std::vector<int64_t>{C, T, H, W}, DType::F32,
                         f.device);
  auto pi = f.data<uint8_t>();
  auto po = o.data<float>();
  WorkQueue& q = queue_for(op, f.device);
#if MVD_HAVE_CUDA
  if (f.device.kind == Device::CUDA)
    q.enqueue("framesToClip", [=, dev = f.device]() {
      frames_to_clip_cuda(pi, po, B, T, H, W, C, mean.data(), stdv.data(), cuda_stream(dev));
    });
  else
#endif
    q.enqueue("framesToClip", [=]() {
      frames_to_clip_cpu(pi, po, B, T, H, W, C, mean.data(), stdv.data());
    });
  return output_to_js(info.Env(), o);
}

}  // namespace

static void register_frame_ops(Napi::Env env, Napi::Object exports) {
  exports.Set("resizeCrop", make_binding(env, "resizeCrop", ResizeCrop));
  exports.Set("flipFrames", make_binding(env, "flipFrames", FlipFrames));
  exports.Set("framesToClip", make_binding(env, "framesToClip", FramesToClip));
}

MVD_REGISTER_BINDINGS(frames, register_frame_ops)

}  // namespace mvd
