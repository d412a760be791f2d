// Fine-tuning augmentation (native/ops/augment):
//   randAugment(frames u8 [N,T,H,W,C] | [T,H,W,C], steps, interp, fill) -> u8, same shape
//   randAugmentInPlace(data Uint8Array, shape, steps, interp, fill) -> data   (synchronous)
//   resizeCropArray(data Uint8Array, shape [T,H,W,C], x, y, w, h, outH, outW) -> Uint8Array (synchronous)
//   randomErase(clip f32 [B,C,T,H,W], boxes [{clip, top, left, h, w, seed}]) -> f32, same shape
//   mixBatch(x f32 [B,C,T,H,W], lam, box [y0,y1,x0,x1] | null) -> f32, same shape
// `steps` is one list per clip of [op, value] pairs (op codes in augment.h). The two synchronous
// entries run on the calling thread over plain Uint8Arrays, as renderSynthClip does: loader worker
// threads augment decoded clips there, and their results must be transferable buffers anyway.
#include <array>
#include <cmath>
#include <cstring>
#include <memory>
#include <omp.h>
#include <stdexcept>

#include "../ops/augment/augment.h"
#include "../ops/frames/frames.h"
#include "args.h"
#include "bindings.h"
#include "crop_arg.h"
#include "dispatch.h"

namespace mvd {
namespace {

struct ParsedSteps {
  std::vector<RandAugStep> steps;
  std::vector<int64_t> offsets;  // N + 1
};

ParsedSteps parse_steps(const std::string& op, const Napi::Value& v, int64_t N) {
  if (!v.IsArray())
    throw OpError(ErrorKind::Value, op, "steps must be an array with one list of [op, value] pairs per clip");
  Napi::Array clips = v.As<Napi::Array>();
  if ((int64_t)clips.Length() != N)
    throw OpError(ErrorKind::Value, op,
                  "steps has " + std::to_string(clips.Length()) + " lists for " + std::to_string(N) + " clips");
  ParsedSteps p;
  p.offsets.push_back(0);
  for (uint32_t n = 0; n < clips.Length(); ++n) {
    Napi::Value cv = clips.Get(n);
    if (!cv.IsArray())
      throw OpError(ErrorKind::Value, op, "steps[" + std::to_string(n) + "] must be an array of [op, value] pairs");
    Napi::Array list = cv.As<Napi::Array>();
    for (uint32_t k = 0; k < list.Length(); ++k) {
      const std::string at = "steps[" + std::to_string(n) + "][" + std::to_string(k) + "]";
      Napi::Value pv = list.Get(k);
      if (!pv.IsArray() || pv.As<Napi::Array>().Length() != 2)
        throw OpError(ErrorKind::Value, op, at + " must be [op, value]");
      Napi::Array pair = pv.As<Napi::Array>();
      RandAugStep s;
      s.op = (int32_t)int_arg(op, pair.Get(0u), at + ".op", 0);
      s.value = number_arg(op, pair.Get(1u), at + ".value");
      p.steps.push_back(s);
    }
    p.offsets.push_back((int64_t)p.steps.size());
  }
  try {
    rand_augment_validate(p.steps.data(), (int64_t)p.steps.size());
  } catch (const std::invalid_argument& e) { throw OpError(ErrorKind::Value, op, e.what()); }
  return p;
}

void parse_interp_fill(const std::string& op, const Napi::Value& interp, const Napi::Value& fill, RandAugArgs* a) {
  if (!interp.IsUndefined()) {
    const int64_t k = int_arg(op, interp, "interp", 0);
    if (k > 2) throw OpError(ErrorKind::Value, op, "interp must be 0 (nearest), 1 (bilinear) or 2 (bicubic)");
    a->interp = (Interp)k;
  }
  if (!fill.IsUndefined()) {
    const int64_t f = int_arg(op, fill, "fill", 0);
    if (f > 255) throw OpError(ErrorKind::Value, op, "fill must be in 0..255");
    for (auto& c : a->fill) c = (uint8_t)f;
  }
}

// [T,H,W,C] is one clip; [N,T,H,W,C] is N clips.
void clip_dims(const std::string& op, const std::vector<int64_t>& s, const std::string& desc, RandAugArgs* a) {
  if (s.size() != 4 && s.size() != 5)
    throw OpError(ErrorKind::Shape, op, "frames must be [T,H,W,C] or [N,T,H,W,C]", desc);
  const size_t o = s.size() - 4;
  a->N = o ? s[0] : 1;
  a->T = s[o];
  a->H = s[o + 1];
  a->W = s[o + 2];
  a->C = s[o + 3];
  if (a->C < 1 || a->C > 4) throw OpError(ErrorKind::Shape, op, "frames must have 1 to 4 channels", desc);
}

Napi::Value RandAugment(const Napi::CallbackInfo& info) {
  const char* op = "randAugment";
  TensorArg f = tensor_arg(op, info[0], "frames");
  expect_cpu(op, f);  // no CUDA kernel for RandAugment: clips are augmented on the host before upload
  expect_dtype(op, f, DType::U8);
  RandAugArgs a;
  clip_dims(op, f.shape, describe({&f}), &a);
  auto steps = std::make_shared<ParsedSteps>(parse_steps(op, info[1], a.N));
  parse_interp_fill(op, info[2], info[3], &a);
  Dispatch d(op, {&f}, kCpuOnly);
  Output o = d.output(f.shape, DType::U8);
  auto pi = f.data<uint8_t>();
  auto po = o.data<uint8_t>();
  d.run([=] { rand_augment_cpu(pi, po, a, steps->steps.data(), steps->offsets.data()); });
  return output_to_js(info.Env(), o);
}
MVD_BINDING("randAugment", RandAugment, "frames, steps, interp?, fill?")

Napi::Uint8Array u8_array(const std::string& op, const Napi::Value& v, size_t bytes) {
  if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != napi_uint8_array)
    throw OpError(ErrorKind::DType, op, "data must be a Uint8Array");
  Napi::Uint8Array d = v.As<Napi::Uint8Array>();
  if (d.ByteLength() != bytes)
    throw OpError(ErrorKind::Shape, op,
                  "data holds " + std::to_string(d.ByteLength()) + " bytes, the shape needs " + std::to_string(bytes));
  return d;
}

Napi::Value RandAugmentInPlace(const Napi::CallbackInfo& info) {
  const char* op = "randAugmentInPlace";
  std::vector<int64_t> shape = shape_arg(op, info[1], "shape");
  RandAugArgs a;
  clip_dims(op, shape, shape_str(shape), &a);
  Napi::Uint8Array d = u8_array(op, info[0], (size_t)(a.N * a.T * a.H * a.W * a.C));
  ParsedSteps steps = parse_steps(op, info[2], a.N);
  Napi::Object o = options_arg(op, info[3]);
  parse_interp_fill(op, o.Get("interp"), o.Get("fill"), &a);
  // Loader workers are the parallelism here; an OpenMP team per worker would oversubscribe.
  a.threads = 1;
  rand_augment_cpu(d.Data(), d.Data(), a, steps.steps.data(), steps.offsets.data());
  return d;
}
MVD_BINDING("randAugmentInPlace", RandAugmentInPlace, "data, shape, steps, {interp?, fill?}")

Napi::Value ResizeCropArray(const Napi::CallbackInfo& info) {
  const char* op = "resizeCropArray";
  std::vector<int64_t> shape = shape_arg(op, info[1], "shape");
  if (shape.size() != 4) throw OpError(ErrorKind::Shape, op, "frames must be [T,H,W,C]", shape_str(shape));
  ResizeCropArgs a;
  a.T = shape[0];
  a.H = shape[1];
  a.W = shape[2];
  a.C = shape[3];
  Napi::Uint8Array d = u8_array(op, info[0], (size_t)(a.T * a.H * a.W * a.C));
  read_crop(op, options_arg(op, info[2]), &a);
  if (a.x + a.w > a.W || a.y + a.h > a.H)
    throw OpError(ErrorKind::Value, op, "crop leaves the " + std::to_string(a.W) + "x" + std::to_string(a.H) + " frame",
                  shape_str(shape));
  Napi::Uint8Array out = Napi::Uint8Array::New(info.Env(), (size_t)(a.T * a.out_h * a.out_w * a.C));
  // resize_crop_cpu opens an OpenMP team; on a loader worker's thread one core is its share.
  const int prev = omp_get_max_threads();
  omp_set_num_threads(1);
  resize_crop_cpu(d.Data(), out.Data(), a);
  omp_set_num_threads(prev);
  return out;
}
MVD_BINDING("resizeCropArray", ResizeCropArray, "data, shape, {x, y, w, h, outH, outW}")

void clip5(const std::string& op, const TensorArg& x) {
  expect_dtype(op, x, DType::F32);
  if (x.ndim() != 5)
    throw OpError(ErrorKind::Shape, op, x.name + " must be [B,C,T,H,W]", describe({&x}), x.device.str());
}

int64_t field_int(const std::string& op, const Napi::Object& o, const char* key, const std::string& at, int64_t min) {
  return int_arg(op, o.Get(key), at + "." + key, min);
}

Napi::Value RandomErase(const Napi::CallbackInfo& info) {
  const char* op = "randomErase";
  TensorArg x = tensor_arg(op, info[0], "clip");
  expect_cpu(op, x);
  clip5(op, x);
  const int64_t B = x.dim(0), C = x.dim(1), T = x.dim(2), H = x.dim(3), W = x.dim(4);
  if (!info[1].IsArray())
    throw OpError(ErrorKind::Value, op, "boxes must be an array of {clip, top, left, h, w, seed}");
  Napi::Array arr = info[1].As<Napi::Array>();
  auto boxes = std::make_shared<std::vector<EraseBox>>();
  for (uint32_t i = 0; i < arr.Length(); ++i) {
    const std::string at = "boxes[" + std::to_string(i) + "]";
    if (!arr.Get(i).IsObject()) throw OpError(ErrorKind::Value, op, at + " must be an object");
    Napi::Object o = arr.Get(i).As<Napi::Object>();
    EraseBox b;
    b.clip = field_int(op, o, "clip", at, 0);
    b.top = field_int(op, o, "top", at, 0);
    b.left = field_int(op, o, "left", at, 0);
    b.h = field_int(op, o, "h", at, 0);
    b.w = field_int(op, o, "w", at, 0);
    const double seed = number_arg(op, o.Get("seed"), at + ".seed");
    if (!(seed >= 0 && seed <= 9007199254740991.0 && seed == std::floor(seed)))
      throw OpError(ErrorKind::Value, op, at + ".seed must be a non-negative integer");
    b.seed = (uint64_t)seed;
    if (b.clip >= B || b.top + b.h > H || b.left + b.w > W)
      throw OpError(ErrorKind::Value, op,
                    at + " (clip " + std::to_string(b.clip) + ", rows " + std::to_string(b.top) + "+" +
                        std::to_string(b.h) + ", columns " + std::to_string(b.left) + "+" + std::to_string(b.w) +
                        ") leaves the batch",
                    describe({&x}), x.device.str());
    boxes->push_back(b);
  }
  Dispatch d(op, {&x}, kCpuOnly);
  Output o = d.output(x.shape, DType::F32);
  auto pi = x.data<float>();
  auto po = o.data<float>();
  const size_t n = (size_t)x.numel();
  d.run([=] {
    std::memcpy(po, pi, n * sizeof(float));
    random_erase_cpu(po, B, C, T, H, W, boxes->data(), (int64_t)boxes->size());
  });
  return output_to_js(info.Env(), o);
}
MVD_BINDING("randomErase", RandomErase, "clip, boxes")

Napi::Value MixBatch(const Napi::CallbackInfo& info) {
  const char* op = "mixBatch";
  TensorArg x = tensor_arg(op, info[0], "x");
  expect_cpu(op, x);
  clip5(op, x);
  const int64_t B = x.dim(0), C = x.dim(1), T = x.dim(2), H = x.dim(3), W = x.dim(4);
  const double lam = number_arg(op, info[1], "lambda");
  if (!(lam >= 0 && lam <= 1)) throw OpError(ErrorKind::Value, op, "lambda must be in [0, 1]");
  bool has_box = false;
  std::array<int64_t, 4> box{0, 0, 0, 0};
  if (info.Length() > 2 && !info[2].IsNull() && !info[2].IsUndefined()) {
    if (!info[2].IsArray() || info[2].As<Napi::Array>().Length() != 4)
      throw OpError(ErrorKind::Value, op, "box must be [y0, y1, x0, x1] or null");
    Napi::Array b = info[2].As<Napi::Array>();
    for (uint32_t i = 0; i < 4; ++i) box[i] = int_arg(op, b.Get(i), "box[" + std::to_string(i) + "]", 0);
    if (box[0] > box[1] || box[1] > H || box[2] > box[3] || box[3] > W)
      throw OpError(ErrorKind::Value, op,
                    "box [" + std::to_string(box[0]) + "," + std::to_string(box[1]) + "," + std::to_string(box[2]) +
                        "," + std::to_string(box[3]) + "] is not inside the " + std::to_string(H) + "x" +
                        std::to_string(W) + " frame",
                    describe({&x}), x.device.str());
    has_box = true;
  }
  Dispatch d(op, {&x}, kCpuOnly);
  Output o = d.output(x.shape, DType::F32);
  auto pi = x.data<float>();
  auto po = o.data<float>();
  d.run([=] { mix_batch_cpu(pi, po, B, C, T, H, W, lam, has_box ? box.data() : nullptr); });
  return output_to_js(info.Env(), o);
}
MVD_BINDING("mixBatch", MixBatch, "x, lambda, box?")

}  // namespace

}  // namespace mvd
