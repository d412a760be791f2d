// Positional tables: sincos3dTable, sinusoid1dTable, sincos2dTable, built in double and stored f32
// on the device named by the optional last argument ('cpu' when absent).
#include <cmath>

#include "../ops/tables/tables.h"
#include "args.h"
#include "bindings.h"
#include "dispatch.h"

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

// A new [rows, cols] f32 table on `device`, written by `cpu` or `cuda` (each given the output).
// An absent CUDA device fails in Dispatch, before anything is allocated.
template <typename Cpu, typename Cuda>
Napi::Value build(const Napi::CallbackInfo& info, const char* op, std::vector<int64_t> shape, const Device& device,
                  Cpu cpu, Cuda cuda) {
  Dispatch k(op, device);
  Output o = k.output(shape, DType::F32);
  auto p = o.data<float>();
  if constexpr (std::is_same_v<Cuda, NoCudaLauncher>) {
    k.run([=] { cpu(p); });
  } else {
    k.run([=] { cpu(p); }, [=](const CudaLaunch& c) { cuda(p, c); });
  }
  return output_to_js(info.Env(), o);
}

Napi::Value Sincos3d(const Napi::CallbackInfo& info) {
  const char* op = "sincos3dTable";
  Napi::Object o = options_arg(op, info[0]);
  const int64_t d = int_arg(op, o.Get("d"), "d", 16), t = int_arg(op, o.Get("t"), "t", 1),
                h = int_arg(op, o.Get("h"), "h", 1), w = int_arg(op, o.Get("w"), "w", 1);
  expect_multiple(op, d, 16);
  return build(
      info, op, {t * h * w, d}, device_arg(op, o.Get("device")), [=](float* p) { sincos3d_table_cpu(p, d, t, h, w); },
      MVD_CUDA([=](float* p, const CudaLaunch& c) { sincos3d_table_cuda(p, d, t, h, w, c.stream()); }));
}
MVD_BINDING("sincos3dTable", Sincos3d, "{d, t, h, w, device?}")

Napi::Value Sinusoid1d(const Napi::CallbackInfo& info) {
  const char* op = "sinusoid1dTable";
  const int64_t n = int_arg(op, info[0], "n", 1), d = int_arg(op, info[1], "d", 2);
  expect_multiple(op, d, 2);
  return build(
      info, op, {n, d}, device_arg(op, info[2]), [=](float* p) { sinusoid1d_table_cpu(p, n, d); },
      MVD_CUDA([=](float* p, const CudaLaunch& c) { sinusoid1d_table_cuda(p, n, d, c.stream()); }));
}
MVD_BINDING("sinusoid1dTable", Sinusoid1d, "n, d, device?")

Napi::Value Sincos2d(const Napi::CallbackInfo& info) {
  const char* op = "sincos2dTable";
  const int64_t d = int_arg(op, info[0], "d", 4), g = int_arg(op, info[1], "g", 1);
  const bool cls = bool_arg(op, info[2], "cls");
  expect_multiple(op, d, 4);
  return build(
      info, op, {(cls ? 1 : 0) + g * g, d}, device_arg(op, info[3]),
      [=](float* p) { sincos2d_table_cpu(p, d, g, cls); },
      MVD_CUDA([=](float* p, const CudaLaunch& c) { sincos2d_table_cuda(p, d, g, cls, c.stream()); }));
}
MVD_BINDING("sincos2dTable", Sincos2d, "d, g, cls, device?")

}  // namespace

}  // namespace mvd
