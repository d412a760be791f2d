// attentionForward(qkv, heads) -> [out, lse]; attentionBackward(dOut, qkv, out, lse, {heads}) -> dQkv.
// Shapes and dtypes are checked here, before anything is queued.
#include <cmath>

#include "../ops/attention/attention.h"
#include "args.h"
#include "bindings.h"
#include "dispatch.h"

namespace mvd {
namespace {

// Reads heads and derives the per-head width from qkv [B, N, 3·D].
AttentionShape attention_shape(const std::string& op, const TensorArg& qkv, const Napi::Value& heads_v,
                               const std::vector<const TensorArg*>& all) {
  expect_dtype(op, qkv, DType::F32);
  expect_ndim(op, qkv, 3);
  const double hv = number_arg(op, heads_v, "heads");
  if (hv != std::floor(hv) || hv < 1 || hv > 1e6)
    throw OpError(ErrorKind::Value, op, "heads must be a positive integer, got " + std::to_string(hv), describe(all),
                  qkv.device.str());
  AttentionShape s;
  s.B = qkv.dim(0);
  s.N = qkv.dim(1);
  s.heads = (int64_t)hv;
  const int64_t C = qkv.dim(2);
  if (C % (3 * s.heads) != 0)
    throw OpError(
        ErrorKind::Shape, op,
        "qkv channels " + std::to_string(C) + " are not 3 x heads x head_dim for heads = " + std::to_string(s.heads),
        describe(all), qkv.device.str());
  s.hd = C / (3 * s.heads);
  if (s.hd < 1 || s.hd > kAttentionMaxHeadDim)
    throw OpError(ErrorKind::Shape, op,
                  "head_dim " + std::to_string(s.hd) + " is outside [1, " + std::to_string(kAttentionMaxHeadDim) + "]",
                  describe(all), qkv.device.str());
  if (s.N < 1) throw OpError(ErrorKind::Shape, op, "qkv needs at least one token", describe(all), qkv.device.str());
  return s;
}

void expect_shape(const std::string& op, const TensorArg& t, const std::vector<int64_t>& want,
                  const std::vector<const TensorArg*>& all) {
  if (t.shape != want)
    throw OpError(ErrorKind::Shape, op, t.name + " must be " + shape_str(want), describe(all), t.device.str());
}

Napi::Value AttentionForward(const Napi::CallbackInfo& info) {
  const char* op = "attentionForward";
  TensorArg qkv = tensor_arg(op, info[0], "qkv");
  const AttentionShape s = attention_shape(op, qkv, info[1], {&qkv});
  Dispatch d(op, {&qkv});
  Output out = d.output({s.B, s.N, s.D()}, DType::F32);
  Output lse = d.output({s.B, s.heads, s.N}, DType::F32);
  auto pq = qkv.data<float>();
  auto po = out.data<float>();
  auto pl = lse.data<float>();
  d.run([=] { attention_forward_cpu(s, pq, po, pl); },
        MVD_CUDA([=](const CudaLaunch& c) { attention_forward_cuda(s, pq, po, pl, c.stream()); }));
  return outputs_to_js(info.Env(), {&out, &lse});
}
MVD_BINDING("attentionForward", AttentionForward, "qkv, heads")

Napi::Value AttentionBackward(const Napi::CallbackInfo& info) {
  const char* op = "attentionBackward";
  TensorArg dout = tensor_arg(op, info[0], "dOut");
  TensorArg qkv = tensor_arg(op, info[1], "qkv");
  TensorArg out = tensor_arg(op, info[2], "out");
  TensorArg lse = tensor_arg(op, info[3], "lse");
  std::vector<const TensorArg*> all{&dout, &qkv, &out, &lse};
  for (auto* t : all) expect_dtype(op, *t, DType::F32);
  expect_same_device(op, all);
  const AttentionShape s = attention_shape(op, qkv, options_arg(op, info[4]).Get("heads"), all);
  expect_shape(op, dout, {s.B, s.N, s.D()}, all);
  expect_shape(op, out, {s.B, s.N, s.D()}, all);
  expect_shape(op, lse, {s.B, s.heads, s.N}, all);
  Dispatch d(op, {&qkv});
  Output dqkv = d.output(qkv.shape, DType::F32);
  auto pd = dout.data<float>(), pq = qkv.data<float>(), po = out.data<float>(), pl = lse.data<float>();
  auto pg = dqkv.data<float>();
  d.run([=] { attention_backward_cpu(s, pd, pq, po, pl, pg); },
        MVD_CUDA([=](const CudaLaunch& c) { attention_backward_cuda(s, pd, pq, po, pl, pg, c.stream()); }));
  return output_to_js(info.Env(), dqkv);
}
MVD_BINDING("attentionBackward", AttentionBackward, "dOut, qkv, out, lse, {heads}")

}  // namespace

}  // namespace mvd
