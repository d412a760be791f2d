// crossEntropy(logits, target, labelSmoothing) -> [loss, dLogits]; softmax(logits);
// topkCorrect(logits, labels, ks[]). Shapes, dtypes and plain arguments are checked here, before
// anything is queued; label values are checked by the kernels on the queue (reading a label tensor
// here could race a queued writer), so an out-of-range label rejects the next read-back.
#include <cmath>

#include "../ops/xent/xent.h"
#include "args.h"
#include "bindings.h"
#include "dispatch.h"

namespace mvd {
namespace {

void expect_logits(const std::string& op, const TensorArg& x, const std::vector<const TensorArg*>& all) {
  expect_dtype(op, x, DType::F32);
  expect_ndim(op, x, 2);
  if (x.dim(0) < 1 || x.dim(1) < 1)
    throw OpError(ErrorKind::Shape, op, "logits must have at least one row and one class", describe(all),
                  x.device.str());
}

void expect_labels(const std::string& op, const TensorArg& y, int64_t B, const std::vector<const TensorArg*>& all) {
  expect_dtype(op, y, DType::I32);
  if (y.ndim() != 1 || y.dim(0) != B)
    throw OpError(ErrorKind::Shape, op, "labels must be [B] = [" + std::to_string(B) + "]", describe(all),
                  y.device.str());
}

Napi::Value CrossEntropy(const Napi::CallbackInfo& info) {
  const char* op = "crossEntropy";
  TensorArg x = tensor_arg(op, info[0], "logits");
  TensorArg t = tensor_arg(op, info[1], "target");
  std::vector<const TensorArg*> all{&x, &t};
  expect_logits(op, x, all);
  expect_same_device(op, all);
  const int64_t B = x.dim(0), C = x.dim(1);
  const double eps = info[2].IsUndefined() ? 0.0 : number_arg(op, info[2], "labelSmoothing");
  if (!(eps >= 0 && eps <= 1))
    throw OpError(ErrorKind::Value, op, "labelSmoothing must be in [0, 1], got " + std::to_string(eps), describe(all),
                  x.device.str());
  const bool hard = t.dtype == DType::I32;
  if (hard) {
    expect_labels(op, t, B, all);
  } else {
    if (t.dtype != DType::F32)
      throw OpError(ErrorKind::DType, op,
                    std::string("target must be i32 labels [B] or f32 soft targets [B, C], got ") + dtype_name(t.dtype),
                    describe(all), x.device.str());
    if (t.shape != x.shape)
      throw OpError(ErrorKind::Shape, op, "soft targets must have the shape of logits", describe(all), x.device.str());
    if (eps != 0)
      throw OpError(ErrorKind::Value, op, "labelSmoothing applies to hard labels only; smooth soft targets yourself",
                    describe(all), x.device.str());
  }
  Dispatch d(op, all);
  Output loss = d.output({1}, DType::F32);
  Output grad = d.output({B, C}, DType::F32);
  auto px = x.data<float>();
  auto py = hard ? t.data<int32_t>() : nullptr;
  auto ps = hard ? nullptr : t.data<float>();
  auto pl = loss.data<float>(), pg = grad.data<float>();
  const float feps = (float)eps;
  d.run([=] { cross_entropy_cpu(px, py, ps, B, C, feps, pl, pg); }, MVD_CUDA([=](const CudaLaunch& c) {
          void* scratch = c.scratch(cross_entropy_cuda_scratch_bytes(B));
          cross_entropy_cuda(px, py, ps, B, C, feps, pl, pg, scratch, c.stream());
        }));
  return outputs_to_js(info.Env(), {&loss, &grad});
}
MVD_BINDING("crossEntropy", CrossEntropy, "logits, target, labelSmoothing?")

Napi::Value Softmax(const Napi::CallbackInfo& info) {
  const char* op = "softmax";
  TensorArg x = tensor_arg(op, info[0], "logits");
  expect_logits(op, x, {&x});
  const int64_t B = x.dim(0), C = x.dim(1);
  Dispatch d(op, {&x});
  Output o = d.output({B, C}, DType::F32);
  auto px = x.data<float>();
  auto po = o.data<float>();
  d.run([=] { softmax_cpu(px, B, C, po); },
        MVD_CUDA([=](const CudaLaunch& c) { softmax_cuda(px, B, C, po, c.stream()); }));
  return output_to_js(info.Env(), o);
}
MVD_BINDING("softmax", Softmax, "logits")

Napi::Value TopkCorrect(const Napi::CallbackInfo& info) {
  const char* op = "topkCorrect";
  TensorArg x = tensor_arg(op, info[0], "logits");
  TensorArg y = tensor_arg(op, info[1], "labels");
  std::vector<const TensorArg*> all{&x, &y};
  expect_logits(op, x, all);
  expect_same_device(op, all);
  expect_labels(op, y, x.dim(0), all);
  if (!info[2].IsArray() || info[2].As<Napi::Array>().Length() == 0)
    throw OpError(ErrorKind::Value, op, "ks must be a non-empty array of positive integers", describe(all),
                  x.device.str());
  Napi::Array ka = info[2].As<Napi::Array>();
  std::vector<int64_t> ks(ka.Length());
  for (uint32_t i = 0; i < ka.Length(); ++i) {
    const double k = number_arg(op, ka.Get(i), "ks[" + std::to_string(i) + "]");
    if (k != std::floor(k) || k < 1 || k > 1e9)
      throw OpError(ErrorKind::Value, op,
                    "ks[" + std::to_string(i) + "] must be a positive integer, got " + std::to_string(k), describe(all),
                    x.device.str());
    ks[i] = (int64_t)k;
  }
  const int64_t B = x.dim(0), C = x.dim(1), nk = (int64_t)ks.size();
  Dispatch d(op, all);
  Output o = d.output({nk}, DType::F32);
  auto px = x.data<float>();
  auto py = y.data<int32_t>();
  auto po = o.data<float>();
  d.run([=] { topk_correct_cpu(px, py, B, C, ks.data(), nk, po); }, MVD_CUDA([=](const CudaLaunch& c) {
          void* scratch = c.scratch(topk_correct_cuda_scratch_bytes(B, nk));
          topk_correct_cuda(px, py, B, C, ks.data(), nk, po, scratch, c.stream());
        }));
  return output_to_js(info.Env(), o);
}
MVD_BINDING("topkCorrect", TopkCorrect, "logits, labels, ks")

}  // namespace

}  // namespace mvd
