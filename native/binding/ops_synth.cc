// renderSynthClip(params, dest?) -> Uint8Array [T,H,W,3]
// Runs synchronously on the calling thread and writes into a plain Uint8Array rather than a
// queued Tensor: the synthetic set is rendered inside loader worker threads, whose result must be
// a transferable ArrayBuffer anyway, and a clip takes milliseconds. `dest` (exactly T*H*W*3 bytes)
// lets a caller render into a batch buffer without another copy.
#include "../ops/synth/synth.h"
#include "args.h"
#include "bindings.h"

namespace mvd {
namespace {

double field(const std::string& op, const Napi::Object& o, const char* key, double fallback) {
  Napi::Value v = o.Get(key);
  if (v.IsUndefined()) return fallback;
  return number_arg(op, v, key);
}

void color_field(const std::string& op, const Napi::Object& o, const char* key, uint8_t* rgb) {
  Napi::Value v = o.Get(key);
  if (v.IsUndefined()) return;
  if (!v.IsArray() || v.As<Napi::Array>().Length() != 3)
    throw OpError(ErrorKind::Value, op, std::string(key) + " must be an array of 3 numbers in 0..255");
  Napi::Array a = v.As<Napi::Array>();
  for (uint32_t i = 0; i < 3; ++i) {
    double c = number_arg(op, a.Get(i), key);
    if (!(c >= 0 && c <= 255)) throw OpError(ErrorKind::Value, op, std::string(key) + " components must be in 0..255");
    rgb[i] = (uint8_t)c;
  }
}

Napi::Value RenderSynthClip(const Napi::CallbackInfo& info) {
  const std::string op = "renderSynthClip";
  if (!info[0].IsObject()) throw OpError(ErrorKind::Value, op, "params must be an object");
  Napi::Object o = info[0].As<Napi::Object>();
  SynthClipParams p;
  p.T = (int32_t)field(op, o, "T", p.T);
  p.H = (int32_t)field(op, o, "H", p.H);
  p.W = (int32_t)field(op, o, "W", p.W);
  p.seed = (uint32_t)(int64_t)field(op, o, "seed", 0);
  p.shape = (int32_t)field(op, o, "shape", p.shape);
  p.texture = (int32_t)field(op, o, "texture", p.texture);
  color_field(op, o, "colorA", p.color_a);
  color_field(op, o, "colorB", p.color_b);
  p.cx = (float)field(op, o, "cx", p.W / 2.0);
  p.cy = (float)field(op, o, "cy", p.H / 2.0);
  p.vx = (float)field(op, o, "vx", 0);
  p.vy = (float)field(op, o, "vy", 0);
  p.radius = (float)field(op, o, "radius", p.radius);
  p.angle = (float)field(op, o, "angle", 0);
  p.omega = (float)field(op, o, "omega", 0);
  p.period = (float)field(op, o, "period", p.period);
  p.clutter = (int32_t)field(op, o, "clutter", p.clutter);
  p.grain = (float)field(op, o, "grain", p.grain);
  try {
    synth_validate(p);
  } catch (const std::invalid_argument& e) { throw OpError(ErrorKind::Value, op, e.what()); }
  const size_t bytes = (size_t)p.T * p.H * p.W * 3;
  Napi::Uint8Array out;
  if (info.Length() > 1 && !info[1].IsUndefined() && !info[1].IsNull()) {
    if (!info[1].IsTypedArray() || info[1].As<Napi::TypedArray>().TypedArrayType() != napi_uint8_array)
      throw OpError(ErrorKind::DType, op, "dest must be a Uint8Array");
    out = info[1].As<Napi::Uint8Array>();
    if (out.ByteLength() != bytes)
      throw OpError(
          ErrorKind::Shape, op,
          "dest holds " + std::to_string(out.ByteLength()) + " bytes, the clip needs " + std::to_string(bytes),
          "dest [" + std::to_string(out.ByteLength()) + "]");
  } else {
    out = Napi::Uint8Array::New(info.Env(), bytes);
  }
  render_synth_clip_cpu(p, out.Data());
  return out;
}
MVD_BINDING("renderSynthClip", RenderSynthClip, "params, dest?")

}  // namespace

}  // namespace mvd
