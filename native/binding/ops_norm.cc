// layerNormForward(x, {weight?, bias?, eps, residual?}) -> {y, mean, rstd, sum|null}
//   with a residual the op normalises sum = x + residual and returns that sum too
// layerNormBackward(dy, x, mean, rstd, {weight?, dResidual?}) -> {dx, dWeight|null, dBias|null}
//   with dResidual, dx = the LayerNorm gradient + dResidual
// Normalises over the last dimension; every leading dimension folds into rows.
#include "../ops/norm/norm.h"
#include "args.h"
#include "bindings.h"
#include "dispatch.h"

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
  const char* op = "layerNormForward";
  TensorArg x = tensor_arg(op, info[0], "x");
  Napi::Object o = options_arg(op, info[1]);
  TensorArg w = optional_tensor_arg(op, o.Get("weight"), "weight");
  TensorArg b = optional_tensor_arg(op, o.Get("bias"), "bias");
  double eps = number_arg(op, o.Get("eps"), "eps");
  TensorArg res = optional_tensor_arg(op, o.Get("residual"), "residual");
  std::vector<const TensorArg*> all{&x, &w, &b, &res};
  for (auto* t : all)
    if (t->storage) expect_dtype(op, *t, DType::F32);
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
  Dispatch d(op, {&x});
  Output y = d.output(x.shape, DType::F32);
  Output mean = d.output({rows}, DType::F32);
  Output rstd = d.output({rows}, DType::F32);
  Output sum;
  if (res.storage) sum = d.output(x.shape, DType::F32);
  auto pres = res.storage ? res.data<float>() : nullptr;
  auto psum = res.storage ? sum.data<float>() : nullptr;
  auto px = x.data<float>();
  auto pw = w.storage ? w.data<float>() : nullptr;
  auto pb = b.storage ? b.data<float>() : nullptr;
  auto py = y.data<float>(), pm = mean.data<float>(), pr = rstd.data<float>();
  float feps = (float)eps;
  d.run([=] { layernorm_forward_cpu(px, pres, psum, pw, pb, py, pm, pr, rows, D, feps); },
        MVD_CUDA([=](const CudaLaunch& c) {
          layernorm_forward_cuda(px, pres, psum, pw, pb, py, pm, pr, rows, D, feps, c.stream());
        }));
  return outputs_to_js(info.Env(), {{"y", &y}, {"mean", &mean}, {"rstd", &rstd}, {"sum", &sum}});
}
MVD_BINDING("layerNormForward", LayerNormForward, "x, {weight?, bias?, eps, residual?}")

Napi::Value LayerNormBackward(const Napi::CallbackInfo& info) {
  const char* op = "layerNormBackward";
  TensorArg dy = tensor_arg(op, info[0], "dy");
  TensorArg x = tensor_arg(op, info[1], "x");
  TensorArg mean = tensor_arg(op, info[2], "mean");
  TensorArg rstd = tensor_arg(op, info[3], "rstd");
  Napi::Object o = options_arg(op, info[4]);
  TensorArg w = optional_tensor_arg(op, o.Get("weight"), "weight");
  TensorArg dres = optional_tensor_arg(op, o.Get("dResidual"), "dResidual");
  std::vector<const TensorArg*> all{&dy, &x, &mean, &rstd, &w, &dres};
  for (auto* t : all)
    if (t->storage) expect_dtype(op, *t, DType::F32);
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
  Dispatch d(op, {&x});
  Output dx = d.output(x.shape, DType::F32);
  Output dw, db;
  if (w.storage) {
    dw = d.output({D}, DType::F32);
    db = d.output({D}, DType::F32);
  }
  auto pdy = dy.data<float>(), px = x.data<float>(), pm = mean.data<float>(), pr = rstd.data<float>();
  auto pw = w.storage ? w.data<float>() : nullptr;
  auto pdres = dres.storage ? dres.data<float>() : nullptr;
  auto pdx = dx.data<float>();
  auto pdw = w.storage ? dw.data<float>() : nullptr;
  auto pdb = w.storage ? db.data<float>() : nullptr;
  d.run([=] { layernorm_backward_cpu(pdy, px, pm, pr, pw, pdres, pdx, pdw, pdb, rows, D); },
        MVD_CUDA([=](const CudaLaunch& c) {
          void* scratch = c.scratch(layernorm_backward_cuda_scratch_bytes(rows, D, pw != nullptr));
          layernorm_backward_cuda(pdy, px, pm, pr, pw, pdres, pdx, pdw, pdb, rows, D, scratch, c.stream());
        }));
  return outputs_to_js(info.Env(), {{"dx", &dx}, {"dWeight", &dw}, {"dBias", &db}});
}
MVD_BINDING("layerNormBackward", LayerNormBackward, "dy, x, mean, rstd, {weight?, dResidual?}")

}  // namespace

}  // namespace mvd
