// Elementwise ops on contiguous f32 tensors:
//   gelu(x), geluBackward(dy, x), add(a, b), addInPlace(a, b, alpha) -> a, scale(x, s),
//   scaleInPlace(x, s) -> x, addBroadcast(x [B,...], t [...]), rowScale(x [B,...], scales [B]),
//   dropout(x, p, seed) -> {y, mask u8}, dropoutBackward(dy, mask, p), sumRows(x, out|null, accumulate),
//   fill(x, value) -> x.
#include <cmath>

#include "../ops/elementwise/elementwise.h"
#include "args.h"
#include "bindings.h"
#include "dispatch.h"

namespace mvd {
namespace {

TensorArg f32_arg(const std::string& op, const Napi::Value& v, const std::string& name) {
  TensorArg t = tensor_arg(op, v, name);
  expect_dtype(op, t, DType::F32);
  return t;
}

void expect_same_shape(const std::string& op, const TensorArg& a, const TensorArg& b) {
  expect_same_device(op, {&a, &b});
  if (a.shape != b.shape)
    throw OpError(ErrorKind::Shape, op, a.name + " and " + b.name + " must have the same shape", describe({&a, &b}),
                  a.device.str());
}

double finite_number(const std::string& op, const Napi::Value& v, const std::string& name) {
  double d = number_arg(op, v, name);
  if (!std::isfinite(d)) throw OpError(ErrorKind::Value, op, name + " must be finite");
  return d;
}

Napi::Value Gelu(const Napi::CallbackInfo& info) {
  const char* op = "gelu";
  TensorArg x = f32_arg(op, info[0], "x");
  Dispatch d(op, {&x});
  Output y = d.output(x.shape, DType::F32);
  auto px = x.data<float>();
  auto py = y.data<float>();
  int64_t n = x.numel();
  d.run([=] { gelu_cpu(px, py, n); }, MVD_CUDA([=](const CudaLaunch& c) { gelu_cuda(px, py, n, c.stream()); }));
  return output_to_js(info.Env(), y);
}
MVD_BINDING("gelu", Gelu, "x")

Napi::Value GeluBackward(const Napi::CallbackInfo& info) {
  const char* op = "geluBackward";
  TensorArg dy = f32_arg(op, info[0], "dy");
  TensorArg x = f32_arg(op, info[1], "x");
  expect_same_shape(op, dy, x);
  Dispatch d(op, {&dy, &x});
  Output dx = d.output(x.shape, DType::F32);
  auto pdy = dy.data<float>(), px = x.data<float>();
  auto pdx = dx.data<float>();
  int64_t n = x.numel();
  d.run([=] { gelu_backward_cpu(pdy, px, pdx, n); },
        MVD_CUDA([=](const CudaLaunch& c) { gelu_backward_cuda(pdy, px, pdx, n, c.stream()); }));
  return output_to_js(info.Env(), dx);
}
MVD_BINDING("geluBackward", GeluBackward, "dy, x")

// out = a + alpha * b into a new tensor, or into a itself (in_place).
Napi::Value axpby(const Napi::CallbackInfo& info, const char* op, bool in_place) {
  TensorArg a = f32_arg(op, info[0], "a");
  TensorArg b = f32_arg(op, info[1], "b");
  expect_same_shape(op, a, b);
  float alpha = !in_place || info[2].IsUndefined() ? 1.f : (float)finite_number(op, info[2], "alpha");
  Dispatch d(op, {&a, &b});
  Output o;
  if (!in_place) o = d.output(a.shape, DType::F32);
  auto pa = a.data<float>(), pb = b.data<float>();
  auto po = in_place ? pa : o.data<float>();
  int64_t n = a.numel();
  d.run([=] { axpby_cpu(pa, pb, alpha, po, n); },
        MVD_CUDA([=](const CudaLaunch& c) { axpby_cuda(pa, pb, alpha, po, n, c.stream()); }));
  return in_place ? info[0] : output_to_js(info.Env(), o);
}

Napi::Value Add(const Napi::CallbackInfo& info) { return axpby(info, "add", false); }
MVD_BINDING("add", Add, "a, b")
Napi::Value AddInPlace(const Napi::CallbackInfo& info) { return axpby(info, "addInPlace", true); }
MVD_BINDING("addInPlace", AddInPlace, "a, b, alpha?")

// out = s * x into a new tensor, or into x itself (in_place).
Napi::Value scale(const Napi::CallbackInfo& info, const char* op, bool in_place) {
  TensorArg x = f32_arg(op, info[0], "x");
  float s = (float)number_arg(op, info[1], "s");
  Dispatch d(op, {&x});
  Output o;
  if (!in_place) o = d.output(x.shape, DType::F32);
  auto px = x.data<float>();
  auto po = in_place ? px : o.data<float>();
  int64_t n = x.numel();
  d.run([=] { scale_cpu(px, s, po, n); }, MVD_CUDA([=](const CudaLaunch& c) { scale_cuda(px, s, po, n, c.stream()); }));
  return in_place ? info[0] : output_to_js(info.Env(), o);
}

Napi::Value Scale(const Napi::CallbackInfo& info) { return scale(info, "scale", false); }
MVD_BINDING("scale", Scale, "x, s")
Napi::Value ScaleInPlace(const Napi::CallbackInfo& info) { return scale(info, "scaleInPlace", true); }
MVD_BINDING("scaleInPlace", ScaleInPlace, "x, s")

Napi::Value AddBroadcast(const Napi::CallbackInfo& info) {
  const char* op = "addBroadcast";
  TensorArg x = f32_arg(op, info[0], "x");
  TensorArg t = f32_arg(op, info[1], "t");
  expect_same_device(op, {&x, &t});
  if (x.ndim() < 2 || t.ndim() + 1 != x.ndim() || !std::equal(t.shape.begin(), t.shape.end(), x.shape.begin() + 1))
    throw OpError(ErrorKind::Shape, op, "t must match x without its first (batch) dimension", describe({&x, &t}),
                  x.device.str());
  Dispatch d(op, {&x, &t});
  Output o = d.output(x.shape, DType::F32);
  auto px = x.data<float>(), pt = t.data<float>();
  auto po = o.data<float>();
  int64_t batch = x.dim(0), inner = t.numel();
  d.run([=] { add_broadcast_cpu(px, pt, po, batch, inner); },
        MVD_CUDA([=](const CudaLaunch& c) { add_broadcast_cuda(px, pt, po, batch, inner, c.stream()); }));
  return output_to_js(info.Env(), o);
}
MVD_BINDING("addBroadcast", AddBroadcast, "x, t")

Napi::Value RowScale(const Napi::CallbackInfo& info) {
  const char* op = "rowScale";
  TensorArg x = f32_arg(op, info[0], "x");
  TensorArg s = f32_arg(op, info[1], "scales");
  expect_same_device(op, {&x, &s});
  if (x.ndim() < 1 || s.ndim() != 1 || s.dim(0) != x.dim(0))
    throw OpError(ErrorKind::Shape, op, "scales must be [B] for x [B,...]", describe({&x, &s}), x.device.str());
  Dispatch d(op, {&x, &s});
  Output o = d.output(x.shape, DType::F32);
  auto px = x.data<float>(), ps = s.data<float>();
  auto po = o.data<float>();
  int64_t batch = x.dim(0), inner = batch == 0 ? 0 : x.numel() / batch;
  d.run([=] { row_scale_cpu(px, ps, po, batch, inner); },
        MVD_CUDA([=](const CudaLaunch& c) { row_scale_cuda(px, ps, po, batch, inner, c.stream()); }));
  return output_to_js(info.Env(), o);
}
MVD_BINDING("rowScale", RowScale, "x, scales")

float prob_arg(const std::string& op, const Napi::Value& v) {
  double p = number_arg(op, v, "p");
  if (!(p >= 0 && p <= 1)) throw OpError(ErrorKind::Value, op, "p must be in [0, 1], got " + std::to_string(p));
  return (float)p;
}

Napi::Value Dropout(const Napi::CallbackInfo& info) {
  const char* op = "dropout";
  TensorArg x = f32_arg(op, info[0], "x");
  float p = prob_arg(op, info[1]);
  double seed_d = number_arg(op, info[2], "seed");
  if (!(seed_d >= 0) || seed_d != std::floor(seed_d) || seed_d > 9.0e15)
    throw OpError(ErrorKind::Value, op, "seed must be a non-negative integer");
  uint64_t seed = (uint64_t)seed_d;
  Dispatch d(op, {&x});
  Output y = d.output(x.shape, DType::F32);
  Output mask = d.output(x.shape, DType::U8);
  auto px = x.data<float>();
  auto py = y.data<float>();
  auto pm = mask.data<uint8_t>();
  int64_t n = x.numel();
  d.run([=] { dropout_cpu(px, py, pm, n, p, seed); },
        MVD_CUDA([=](const CudaLaunch& c) { dropout_cuda(px, py, pm, n, p, seed, c.stream()); }));
  return outputs_to_js(info.Env(), {{"y", &y}, {"mask", &mask}});
}
MVD_BINDING("dropout", Dropout, "x, p, seed")

Napi::Value DropoutBackward(const Napi::CallbackInfo& info) {
  const char* op = "dropoutBackward";
  TensorArg dy = f32_arg(op, info[0], "dy");
  TensorArg mask = tensor_arg(op, info[1], "mask");
  expect_dtype(op, mask, DType::U8);
  expect_same_shape(op, dy, mask);
  float p = prob_arg(op, info[2]);
  Dispatch d(op, {&dy, &mask});
  Output dx = d.output(dy.shape, DType::F32);
  auto pdy = dy.data<float>();
  auto pm = mask.data<uint8_t>();
  auto pdx = dx.data<float>();
  int64_t n = dy.numel();
  d.run([=] { dropout_backward_cpu(pdy, pm, pdx, n, p); },
        MVD_CUDA([=](const CudaLaunch& c) { dropout_backward_cuda(pdy, pm, pdx, n, p, c.stream()); }));
  return output_to_js(info.Env(), dx);
}
MVD_BINDING("dropoutBackward", DropoutBackward, "dy, mask, p")

Napi::Value SumRows(const Napi::CallbackInfo& info) {
  const char* op = "sumRows";
  TensorArg x = f32_arg(op, info[0], "x");
  TensorArg out = optional_tensor_arg(op, info[1], "out");
  bool accumulate = bool_arg(op, info[2], "accumulate");
  if (out.storage) expect_dtype(op, out, DType::F32);
  expect_same_device(op, {&x, &out});
  if (x.ndim() < 1)
    throw OpError(ErrorKind::Shape, op, "x must have at least 1 dimension", describe({&x}), x.device.str());
  const int64_t cols = x.dim(-1), rows = cols == 0 ? 0 : x.numel() / cols;
  if (accumulate && !out.storage)
    throw OpError(ErrorKind::Value, op, "accumulate needs an existing out", describe({&x}), x.device.str());
  if (out.storage && (out.ndim() != 1 || out.dim(0) != cols))
    throw OpError(ErrorKind::Shape, op, "out must be [N] = [" + std::to_string(cols) + "]", describe({&x, &out}),
                  x.device.str());
  Dispatch d(op, {&x, &out});
  Output o;
  if (!out.storage) o = d.output({cols}, DType::F32);
  auto po = out.storage ? out.data<float>() : o.data<float>();
  auto px = x.data<float>();
  d.run([=] { sum_rows_cpu(px, po, rows, cols, accumulate); }, MVD_CUDA([=](const CudaLaunch& c) {
          sum_rows_cuda(px, po, rows, cols, accumulate, c.scratch(sum_rows_cuda_scratch_bytes(rows, cols)), c.stream());
        }));
  if (out.storage) return info[1];
  return output_to_js(info.Env(), o);
}
MVD_BINDING("sumRows", SumRows, "x, out, accumulate")

Napi::Value Fill(const Napi::CallbackInfo& info) {
  const char* op = "fill";
  TensorArg x = f32_arg(op, info[0], "x");
  float v = (float)number_arg(op, info[1], "value");
  Dispatch d(op, {&x});
  auto px = x.data<float>();
  int64_t n = x.numel();
  d.run([=] { fill_cpu(px, v, n); }, MVD_CUDA([=](const CudaLaunch& c) { fill_cuda(px, v, n, c.stream()); }));
  return info[0];
}
MVD_BINDING("fill", Fill, "x, value")

}  // namespace

}  // namespace mvd
