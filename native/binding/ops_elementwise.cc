// Elementwise ops on contiguous f32 tensors:
//   gelu(x), geluBackward(dy, x), add(a, b), addInPlace(a, b, alpha) -> a, scale(x, s),
//   scaleInPlace(x, s) -> x, addBroadcast(x [B,...], t [...]), rowScale(x [B,...], scales [B]),
//   dropout(x, p, seed) -> {y, mask u8}, dropoutBackward(dy, mask, p), sumRows(x, out|null, accumulate),
//   fill(x, value) -> x.
#include <cmath>

#include "../ops/elementwise/elementwise.h"
#include "args.h"
#include "bindings.h"
#if MVD_HAVE_CUDA
#include "../cuda/runtime.h"
#endif

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
  const std::string op = "gelu";
  TensorArg x = f32_arg(op, info[0], "x");
  WorkQueue& q = queue_for(op, x.device);
  Output y = make_output(x.shape, DType::F32, x.device);
  auto px = x.data<float>();
  auto py = y.data<float>();
  int64_t n = x.numel();
#if MVD_HAVE_CUDA
  if (x.device.kind == Device::CUDA)
    q.enqueue("gelu", [=, dev = x.device, kx = x.storage, ky = y.storage] { gelu_cuda(px, py, n, cuda_stream(dev)); });
  else
#endif
  q.enqueue("gelu", [=, kx = x.storage, ky = y.storage] { gelu_cpu(px, py, n); });
  return output_to_js(info.Env(), y);
}

Napi::Value GeluBackward(const Napi::CallbackInfo& info) {
  const std::string op = "geluBackward";
  TensorArg dy = f32_arg(op, info[0], "dy");
  TensorArg x = f32_arg(op, info[1], "x");
  expect_same_shape(op, dy, x);
  WorkQueue& q = queue_for(op, x.device);
  Output dx = make_output(x.shape, DType::F32, x.device);
  auto pdy = dy.data<float>(), px = x.data<float>();
  auto pdx = dx.data<float>();
  int64_t n = x.numel();
#if MVD_HAVE_CUDA
  if (x.device.kind == Device::CUDA)
    q.enqueue("geluBackward", [=, dev = x.device] {
      gelu_backward_cuda(pdy, px, pdx, n, cuda_stream(dev));
    });
  else
#endif
  q.enqueue("geluBackward", [=] { gelu_backward_cpu(pdy, px, pdx, n); });
  return output_to_js(info.Env(), dx);
}

Napi::Value Add(const Napi::CallbackInfo& info) {
  const std::string op = "add";
  TensorArg a = f32_arg(op, info[0], "a");
  TensorArg b = f32_arg(op, info[1], "b");
  expect_same_shape(op, a, b);
  WorkQueue& q = queue_for(op, a.device);
  Output o = make_output(a.shape, DType::F32, a.device);
  auto pa = a.data<float>(), pb = b.data<float>();
  auto po = o.data<float>();
  int64_t n = a.numel();
#if MVD_HAVE_CUDA
  if (a.device.kind == Device::CUDA)
    q.enqueue("add", [=, dev = a.device] {
      axpby_cuda(pa, pb, 1.f, po, n, cuda_stream(dev));
    });
  else
#endif
  q.enqueue("add", [=] { axpby_cpu(pa, pb, 1.f, po, n); });
  return output_to_js(info.Env(), o);
}

Napi::Value AddInPlace(const Napi::CallbackInfo& info) {
  const std::string op = "addInPlace";
  TensorArg a = f32_arg(op, info[0], "a");
  TensorArg b = f32_arg(op, info[1], "b");
  expect_same_shape(op, a, b);
  float alpha = info[2].IsUndefined() ? 1.f : (float)finite_number(op, info[2], "alpha");
  WorkQueue& q = queue_for(op, a.device);
  auto pa = a.data<float>();
  auto pb = b.data<float>();
  int64_t n = a.numel();
#if MVD_HAVE_CUDA
  if (a.device.kind == Device::CUDA)
    q.enqueue("addInPlace", [=, dev = a.device] {
      axpby_cuda(pa, pb, alpha, pa, n, cuda_stream(dev));
    });
  else
#endif
  q.enqueue("addInPlace", [=] { axpby_cpu(pa, pb, alpha, pa, n); });
  return info[0];
}

Napi::Value Scale(const Napi::CallbackInfo& info) {
  const std::string op = "scale";
  TensorArg x = f32_arg(op, info[0], "x");
  float s = (float)number_arg(op, info[1], "s");
  WorkQueue& q = queue_for(op, x.device);
  Output o = make_output(x.shape, DType::F32, x.device);
  auto px = x.data<float>();
  auto po = o.data<float>();
  int64_t n = x.numel();
#if MVD_HAVE_CUDA
  if (x.device.kind == Device::CUDA)
    q.enqueue("scale", [=, dev = x.device] {
      scale_cuda(px, s, po, n, cuda_stream(dev));
    });
  else
#endif
  q.enqueue("scale", [=] { scale_cpu(px, s, po, n); });
  return output_to_js(info.Env(), o);
}

Napi::Value ScaleInPlace(const Napi::CallbackInfo& info) {
  const std::string op = "scaleInPlace";
  TensorArg x = f32_arg(op, info[0], "x");
  float s = (float)number_arg(op, info[1], "s");
  WorkQueue& q = queue_for(op, x.device);
  auto px = x.data<float>();
  int64_t n = x.numel();
#if MVD_HAVE_CUDA
  if (x.device.kind == Device::CUDA)
    q.enqueue("scaleInPlace", [=, dev = x.device] { scale_cuda(px, s, px, n, cuda_stream(dev)); });
  else
#endif
  q.enqueue("scaleInPlace", [=] { scale_cpu(px, s, px, n); });
  return info[0];
}

Napi::Value AddBroadcast(const Napi::CallbackInfo& info) {
  const std::string op = "addBroadcast";
  TensorArg x = f32_arg(op, info[0], "x");
  TensorArg t = f32_arg(op, info[1], "t");
  expect_same_device(op, {&x, &t});
  if (x.ndim() < 2 || t.ndim() + 1 != x.ndim() || !std::equal(t.shape.begin(), t.shape.end(), x.shape.begin() + 1))
    throw OpError(ErrorKind::Shape, op, "t must match x without its first (batch) dimension", describe({&x, &t}),
                  x.device.str());
  WorkQueue& q = queue_for(op, x.device);
  Output o = make_output(x.shape, DType::F32, x.device);
  auto px = x.data<float>(), pt = t.data<float>();
  auto po = o.data<float>();
  int64_t batch = x.dim(0), inner = t.numel();
#if MVD_HAVE_CUDA
  if (x.device.kind == Device::CUDA)
    q.enqueue("addBroadcast", [=, dev = x.device] {
      add_broadcast_cuda(px, pt, po, batch, inner, cuda_stream(dev));
    });
  else
#endif
  q.enqueue("addBroadcast", [=] {
    add_broadcast_cpu(px, pt, po, batch, inner);
  });
  return output_to_js(info.Env(), o);
}

Napi::Value RowScale(const Napi::CallbackInfo& info) {
  const std::string op = "rowScale";
  TensorArg x = f32_arg(op, info[0], "x");
  TensorArg s = f32_arg(op, info[1], "scales");
  expect_same_device(op, {&x, &s});
  if (x.ndim() < 1 || s.ndim() != 1 || s.dim(0) != x.dim(0))
    throw OpError(ErrorKind::Shape, op, "scales must be [B] for x [B,...]", describe({&x, &s}), x.device.str());
  WorkQueue& q = queue_for(op, x.device);
  Output o = make_output(x.shape, DType::F32, x.device);
  auto px = x.data<float>(), ps = s.data<float>();
  auto po = o.data<float>();
  int64_t batch = x.dim(0), inner = batch == 0 ? 0 : x.numel() / batch;
#if MVD_HAVE_CUDA
  if (x.device.kind == Device::CUDA)
    q.enqueue("rowScale", [=, dev = x.device] {
      row_scale_cuda(px, ps, po, batch, inner, cuda_stream(dev));
    });
  else
#endif
  q.enqueue("rowScale", [=] {
    row_scale_cpu(px, ps, po, batch, inner);
  });
  return output_to_js(info.Env(), o);
}

float prob_arg(const std::string& op, const Napi::Value& v) {
  double p = number_arg(op, v, "p");
  if (!(p >= 0 && p <= 1)) throw OpError(ErrorKind::Value, op, "p must be in [0, 1], got " + std::to_string(p));
  return (float)p;
}

Napi::Value Dropout(const Napi::CallbackInfo& info) {
  const std::string op = "dropout";
  TensorArg x = f32_arg(op, info[0], "x");
  float p = prob_arg(op, info[1]);
  double seed_d = number_arg(op, info[2], "seed");
  if (!(seed_d >= 0) || seed_d != std::floor(seed_d) || seed_d > 9.0e15)
    throw OpError(ErrorKind::Value, op, "seed must be a non-negative integer");
  uint64_t seed = (uint64_t)seed_d;
  WorkQueue& q = queue_for(op, x.device);
  Output y = make_output(x.shape, DType::F32, x.device);
  Output mask = make_output(x.shape, DType::U8, x.device);
  auto px = x.data<float>();
  auto py = y.data<float>();
  auto pm = mask.data<uint8_t>();
  int64_t n = x.numel();
#if MVD_HAVE_CUDA
  if (x.device.kind == Device::CUDA)
    q.enqueue("dropout", [=, dev = x.device] {
      dropout_cuda(px, py, pm, n, p, seed, cuda_stream(dev));
    });
  else
#endif
  q.enqueue("dropout", [=] { dropout_cpu(px, py, pm, n, p, seed); });
  Napi::Env env = info.Env();
  Napi::Object r = Napi::Object::New(env);
  r.Set("y", output_to_js(env, y));
  r.Set("mask", output_to_js(env, mask));
  return r;
}

Napi::Value DropoutBackward(const Napi::CallbackInfo& info) {
  const std::string op = "dropoutBackward";
  TensorArg dy = f32_arg(op, info[0], "dy");
  TensorArg mask = tensor_arg(op, info[1], "mask");
  expect_dtype(op, mask, DType::U8);
  expect_same_shape(op, dy, mask);
  float p = prob_arg(op, info[2]);
  WorkQueue& q = queue_for(op, dy.device);
  Output dx = make_output(dy.shape, DType::F32, dy.device);
  auto pdy = dy.data<float>();
  auto pm = mask.data<uint8_t>();
  auto pdx = dx.data<float>();
  int64_t n = dy.numel();
#if MVD_HAVE_CUDA
  if (dy.device.kind == Device::CUDA)
    q.enqueue("dropoutBackward", [=, dev = dy.device] {
      dropout_backward_cuda(pdy, pm, pdx, n, p, cuda_stream(dev));
    });
  else
#endif
  q.enqueue("dropoutBackward", [=] {
    dropout_backward_cpu(pdy, pm, pdx, n, p);
  });
  return output_to_js(info.Env(), dx);
}

Napi::Value SumRows(const Napi::CallbackInfo& info) {
  const std::string op = "sumRows";
  TensorArg x = f32_arg(op, info[0], "x");
  TensorArg out = optional_tensor_arg(op, info[1], "out");
  bool accumulate = bool_arg(op, info[2], "accumulate");
  if (out.storage) expect_dtype(op, out, DType::F32);
  expect_same_device(op, {&x, &out});
  if (x.ndim() < 1) throw OpError(ErrorKind::Shape, op, "x must have at least 1 dimension", describe({&x}), x.device.str());
  const int64_t cols = x.dim(-1), rows = cols == 0 ? 0 : x.numel() / cols;
  if (accumulate && !out.storage)
    throw OpError(ErrorKind::Value, op, "accumulate needs an existing out", describe({&x}), x.device.str());
  if (out.storage && (out.ndim() != 1 || out.dim(0) != cols))
    throw OpError(ErrorKind::Shape, op, "out must be [N] = [" + std::to_string(cols) + "]", describe({&x, &out}),
                  x.device.str());
  WorkQueue& q = queue_for(op, x.device);
  Output o;
  LazyPtr<float> po;
  if (out.storage) {
    po = out.data<float>();
  } else {
    o = make_output({cols}, DType::F32, x.device);
    po = o.data<float>();
  }
  auto px = x.data<float>();
#if MVD_HAVE_CUDA
  if (x.device.kind == Device::CUDA)
    q.enqueue("sumRows", [=, dev = x.device] {
      void* scratch = cuda_scratch(dev, sum_rows_cuda_scratch_bytes(rows, cols));
      sum_rows_cuda(px, po, rows, cols, accumulate, scratch, cuda_stream(dev));
    });
  else
#endif
  q.enqueue("sumRows", [=] { sum_rows_cpu(px, po, rows, cols, accumulate); });
  if (out.storage) return info[1];
  return output_to_js(info.Env(), o);
}

Napi::Value Fill(const Napi::CallbackInfo& info) {
  const std::string op = "fill";
  TensorArg x = f32_arg(op, info[0], "x");
  float v = (float)number_arg(op, info[1], "value");
  WorkQueue& q = queue_for(op, x.device);
  auto px = x.data<float>();
  int64_t n = x.numel();
#if MVD_HAVE_CUDA
  if (x.device.kind == Device::CUDA)
    q.enqueue("fill", [=, dev = x.device] { fill_cuda(px, v, n, cuda_stream(dev)); });
  else
#endif
  q.enqueue("fill", [=] { fill_cpu(px, v, n); });
  return info[0];
}

void register_elementwise(Napi::Env env, Napi::Object exports) {
  exports.Set("gelu", make_binding(env, "gelu", Gelu));
  exports.Set("geluBackward", make_binding(env, "geluBackward", GeluBackward));
  exports.Set("add", make_binding(env, "add", Add));
  exports.Set("addInPlace", make_binding(env, "addInPlace", AddInPlace));
  exports.Set("scale", make_binding(env, "scale", Scale));
  exports.Set("scaleInPlace", make_binding(env, "scaleInPlace", ScaleInPlace));
  exports.Set("addBroadcast", make_binding(env, "addBroadcast", AddBroadcast));
  exports.Set("rowScale", make_binding(env, "rowScale", RowScale));
  exports.Set("dropout", make_binding(env, "dropout", Dropout));
  exports.Set("dropoutBackward", make_binding(env, "dropoutBackward", DropoutBackward));
  exports.Set("sumRows", make_binding(env, "sumRows", SumRows));
  exports.Set("fill", make_binding(env, "fill", Fill));
}

}  // namespace

MVD_REGISTER_BINDINGS(elementwise, register_elementwise)

}  // namespace mvd
