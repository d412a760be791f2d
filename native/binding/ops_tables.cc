// Positional tables: sincos3dTable, sinusoid1dTable, sincos2dTable, built in double and stored f32
// on the device named by the optional last argument ('cpu' when absent).
#include <cmath>

#include "../ops/tables/tables.h"
#include "args.h"
#include "bindings.h"
#if MVD_HAVE_CUDA
#include "../cuda/runtime.h"
#endif

namespace mvd {
namespace {

void expect_multiple(const std::string& op, int64_t d, int64_t m) {
  if (d % m)
    throw OpError(ErrorKind::Value, op, "d = " + std::to_string(d) + " must be a multiple of " + std::to_string(m));
}

Device device_arg(const std::string& op, const Napi::Value& v) {
  Device d;
  if (v.IsUndefined() || v.IsNull()) return d;
  const std::string s = v.IsString() ? v.As<Napi::String>().Utf8Value() : "";
  if (!parse_device(s, &d)) throw OpError(ErrorKind::Value, op, "unknown device '" + s + "' (use 'cpu' or 'cuda:N')");
  return d;
}

// fill(p, device) runs on the queue of `device`, with p in that device's memory.
template <typename Fill>
Napi::Value build(const Napi::CallbackInfo& info, const char* op, std::vector<int64_t> shape, const Device& device,
                  Fill fill) {
  WorkQueue& q = queue_for(op, device);  // an absent CUDA device fails here, before allocating
  Output o = make_output(shape, DType::F32, device);
  auto p = o.data<float>();
  q.enqueue(op, [fill, p, device]() { fill(p, device); });
  return output_to_js(info.Env(), o);
}

#if MVD_HAVE_CUDA
#define MVD_TABLE_ON_CUDA(dev, call) \
  if ((dev).kind == Device::CUDA) return call
#else
#define MVD_TABLE_ON_CUDA(dev, call)
#endif

Napi::Value Sincos3d(const Napi::CallbackInfo& info) {
  const char* op = "sincos3dTable";
  const int64_t d = int_arg(op, info[0], "d", 16), t = int_arg(op, info[1], "t", 1), h = int_arg(op, info[2], "h", 1),
                w = int_arg(op, info[3], "w", 1);
  expect_multiple(op, d, 16);
  return build(info, op, {t * h * w, d}, device_arg(op, info[4]), [=](float* p, const Device& dev) {
    MVD_TABLE_ON_CUDA(dev, sincos3d_table_cuda(p, d, t, h, w, cuda_stream(dev)));
    sincos3d_table_cpu(p, d, t, h, w);
  });
}

Napi::Value Sinusoid1d(const Napi::CallbackInfo& info) {
  const char* op = "sinusoid1dTable";
  const int64_t n = int_arg(op, info[0], "n", 1), d = int_arg(op, info[1], "d", 2);
  expect_multiple(op, d, 2);
  return build(info, op, {n, d}, device_arg(op, info[2]), [=](float* p, const Device& dev) {
    MVD_TABLE_ON_CUDA(dev, sinusoid1d_table_cuda(p, n, d, cuda_stream(dev)));
    sinusoid1d_table_cpu(p, n, d);
  });
}

Napi::Value Sincos2d(const Napi::CallbackInfo& info) {
  const char* op = "sincos2dTable";
  const int64_t d = int_arg(op, info[0], "d", 4), g = int_arg(op, info[1], "g", 1);
  const bool cls = bool_arg(op, info[2], "cls");
  expect_multiple(op, d, 4);
  return build(info, op, {(cls ? 1 : 0) + g * g, d}, device_arg(op, info[3]), [=](float* p, const Device& dev) {
    MVD_TABLE_ON_CUDA(dev, sincos2d_table_cuda(p, d, g, cls, cuda_stream(dev)));
    sincos2d_table_cpu(p, d, g, cls);
  });
}

}  // namespace

static void register_table_ops(Napi::Env env, Napi::Object exports) {
  exports.Set("sincos3dTable", make_binding(env, "sincos3dTable", Sincos3d));
  exports.Set("sinusoid1dTable", make_binding(env, "sinusoid1dTable", Sinusoid1d));
  exports.Set("sincos2dTable", make_binding(env, "sincos2dTable", Sincos2d));
}

MVD_REGISTER_BINDINGS(tables, register_table_ops)

}  // namespace mvd
