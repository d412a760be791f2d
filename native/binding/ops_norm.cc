// layerNormForward(x, weight|null, bias|null, eps, residual?) -> {y, mean, rstd, sum|null}
//   with a residual the op normalises sum = x + residual and returns that sum too
// layerNormBackward(dy, x, mean, rstd, weight|null, dResidual?) -> {dx, dWeight|null, dBias|null}
//   with dResidual, dx = the LayerNorm gradient + dResidual
// Normalises over the last dimension; every leading dimension folds into rows.
#include "../ops/norm/norm.h"
#include "args.h"
#include "bindings.h"
#if MVD_HAVE_CUDA
#include "../cuda/runtime.h"
#endif

namespace mvd {
namespace {

int64_t rows_of(const TensorArg& x) { return x.dim(-1) == 0 ? 0 : x.numel() / x.dim(-1); }

void check_vector(const std::string& op, const TensorArg& v, int64_t D, const std::vector<const TensorArg*>& all,
                  const Device& dev) {
  if (v.ndim() != 1 || v.dim(0) != D)
    throw OpError(ErrorKind::Shape, op, v.name + " must be [D] = [" + std::to_string(D) + "]", describe(all),
                  dev.str());
}

Napi::Value LayerNormForward(const Napi::CallbackInfo& info) {
  const std::string op = "layerNormForward";
  TensorArg x = tensor_arg(op, info[0], "x");
  TensorArg w = optional_tensor_arg(op, info[1], "weight");
  TensorArg b = optional_tensor_arg(op, info[2], "bias");
  double eps = number_arg(op, info[3], "eps");
  TensorArg res = optional_tensor_arg(op, info[4], "residual");
  std::vector<const TensorArg*> all{&x, &w, &b, &res};
  for (auto* t : all) if (t->storage) expect_dtype(op, *t, DType::F32);
  expect_same_device(op, all);
  if (x.ndim() < 1 || x.dim(-1) == 0)
    throw OpError(ErrorKind::Shape, op, "x needs a non-empty last dimension", describe(all), x.device.str());
  if (!w.storage != !b.storage)
    throw OpError(ErrorKind::Value, op, "weight and bias must both be given or both be null", describe(all),
                  x.device.str());
  if (!(eps >= 0)) throw OpError(ErrorKind::Value, op, "eps must be >= 0", describe(all), x.device.str());
  if (res.storage && res.shape != x.shape)
    throw OpError(ErrorKind::Shape, op, "residual and x must have the same shape", describe(all), x.device.str());
  const int64_t D = x.dim(-1), rows = rows_of(x);
  if (w.storage) {
    check_vector(op, w, D, all, x.device);
    check_vector(op, b, D, all, x.device);
  }
  WorkQueue& q = queue_for(op, x.device);
  Output y = make_output(x.shape, DType::F32, x.device);
  Output mean = make_output({rows}, DType::F32, x.device);
  Output rstd = make_output({rows}, DType::F32, x.device);
  Output sum;
  if (res.storage) sum = make_output(x.shape, DType::F32, x.device);
  auto pres = res.storage ? res.data<float>() : nullptr;
  auto psum = res.storage ? sum.data<float>() : nullptr;
  auto px = x.data<float>();
  auto pw = w.storage ? w.data<float>() : nullptr;
  auto pb = b.storage ? b.data<float>() : nullptr;
  auto py = y.data<float>(), pm = mean.data<float>(), pr = rstd.data<float>();
  float feps = (float)eps;
#if MVD_HAVE_CUDA
  if (x.device.kind == Device::CUDA) {
    const Device dev = x.device;
    q.enqueue("layerNormForward", [=] {
      layernorm_forward_cuda(px, pres, psum, pw, pb, py, pm, pr, rows, D, feps, cuda_stream(dev));
    });
  } else
#endif
  q.enqueue("layerNormForward", [=] {
    layernorm_forward_cpu(px, pres, psum, pw, pb, py, pm, pr, rows, D, feps);
  });
  Napi::Env env = info.Env();
  Napi::Object r = Napi::Object::New(env);
  r.Set("y", output_to_js(env, y));
  r.Set("mean", output_to_js(env, mean));
  r.Set("rstd", output_to_js(env, rstd));
  r.Set("sum", res.storage ? Napi::Value(output_to_js(env, sum)) : env.Null());
  return r;
}

Napi::Value LayerNormBackward(const Napi::CallbackInfo& info) {
  const std::string op = "layerNormBackward";
  TensorArg dy = tensor_arg(op, info[0], "dy");
  TensorArg x = tensor_arg(op, info[1], "x");
  TensorArg mean = tensor_arg(op, info[2], "mean");
  TensorArg rstd = tensor_arg(op, info[3], "rstd");
  TensorArg w = optional_tensor_arg(op, info[4], "weight");
  TensorArg dres = optional_tensor_arg(op, info[5], "dResidual");
  std::vector<const TensorArg*> all{&dy, &x, &mean, &rstd, &w, &dres};
  for (auto* t : all) if (t->storage) expect_dtype(op, *t, DType::F32);
  expect_same_device(op, all);
  if (x.ndim() < 1 || x.dim(-1) == 0)
    throw OpError(ErrorKind::Shape, op, "x needs a non-empty last dimension", describe(all), x.device.str());
  if (dy.shape != x.shape)
    throw OpError(ErrorKind::Shape, op, "dy and x must have the same shape", describe(all), x.device.str());
  if (dres.storage && dres.shape != x.shape)
    throw OpError(ErrorKind::Shape, op, "dResidual and x must have the same shape", describe(all), x.device.str());
  const int64_t D = x.dim(-1), rows = rows_of(x);
  if (mean.numel() != rows || rstd.numel() != rows)
    throw OpError(ErrorKind::Shape, op, "mean and rstd must hold one value per row (" + std::to_string(rows) + ")",
                  describe(all), x.device.str());
  if (w.storage) check_vector(op, w, D, all, x.device);
  WorkQueue& q = queue_for(op, x.device);
  Output dx = make_output(x.shape, DType::F32, x.device);
  Output dw, db;
  if (w.storage) {
    dw = make_output({D}, DType::F32, x.device);
    db = make_output({D}, DType::F32, x.device);
  }
  auto pdy = dy.data<float>(), px = x.data<float>(), pm = mean.data<float>(), pr = rstd.data<float>();
  auto pw = w.storage ? w.data<float>() : nullptr;
  auto pdres = dres.storage ? dres.data<float>() : nullptr;
  auto pdx = dx.data<float>();
  auto pdw = w.storage ? dw.data<float>() : nullptr;
  auto pdb = w.storage ? db.data<float>() : nullptr;
#if MVD_HAVE_CUDA
  if (x.device.kind == Device::CUDA) {
    const Device dev = x.device;
    q.enqueue("layerNormBackward", [=] {
      void* scratch = cuda_scratch(dev, layernorm_backward_cuda_scratch_bytes(rows, D, pw != nullptr));
      layernorm_backward_cuda(pdy, px, pm, pr, pw, pdres, pdx, pdw, pdb, rows, D, scratch, cuda_stream(dev));
    });
  } else
#endif
  q.enqueue("layerNormBackward", [=] {
    layernorm_backward_cpu(pdy, px, pm, pr, pw, pdres, pdx, pdw, pdb, rows, D);
  });
  Napi::Env env = info.Env();
  Napi::Object r = Napi::Object::New(env);
  r.Set("dx", output_to_js(env, dx));
  r.Set("dWeight", w.storage ? Napi::Value(output_to_js(env, dw)) : env.Null());
  r.Set("dBias", w.storage ? Napi::Value(output_to_js(env, db)) : env.Null());
  return r;
}

void register_norm(Napi::Env env, Napi::Object exports) {
  exports.Set("layerNormForward", make_binding(env, "layerNormForward", LayerNormForward));
  exports.Set("layerNormBackward", make_binding(env, "layerNormBackward", LayerNormBackward));
}

}  // namespace

MVD_REGISTER_BINDINGS(norm, register_norm)

}  // namespace mvd
