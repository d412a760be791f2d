// attentionForward(qkv, heads) -> [out, lse]; attentionBackward(dOut, qkv, out, lse, heads) -> dQkv.
// Shapes and dtypes are checked here, before anything is queued.
#include <cmath>

#include "../ops/attention/attention.h"
#include "args.h"
#include "bindings.h"
#if MVD_HAVE_CUDA
#include "../cuda/runtime.h"
#endif

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
    throw OpError(ErrorKind::Shape, op,
                  "qkv channels " + std::to_string(C) + " are not 3 x heads x head_dim for heads = " +
                      std::to_string(s.heads),
                  describe(all), qkv.device.str());
  s.hd = C / (3 * s.heads);
  if (s.hd < 1 || s.hd > kAttentionMaxHeadDim)
    throw OpError(ErrorKind::Shape, op,
                  "head_dim " + std::to_string(s.hd) + " is outside [1, " + std::to_string(kAttentionMaxHeadDim) + "]",
                  describe(all), qkv.device.str());
  if (s.N < 1)
    throw OpError(ErrorKind::Shape, op, "qkv needs at least one token", describe(all), qkv.device.str());
  return s;
}

void expect_shape(const std::string& op, const TensorArg& t, const std::vector<int64_t>& want,
                  const std::vector<const TensorArg*>& all) {
  if (t.shape != want)
    throw OpError(ErrorKind::Shape, op, t.name + " must be " + shape_str(want), describe(all), t.device.str());
}

Napi::Value AttentionForward(const Napi::CallbackInfo& info) {
  const std::string op = "attentionForward";
  TensorArg qkv = tensor_arg(op, info[0], "qkv");
  const AttentionShape s = attention_shape(op, qkv, info[1], {&qkv});
  Output out = make_output({s.B, s.N, s.D()}, DType::F32, qkv.device);
  Output lse = make_output({s.B, s.heads, s.N}, DType::F32, qkv.device);
  auto pq = qkv.data<float>();
  auto po = out.data<float>();
  auto pl = lse.data<float>();
  WorkQueue& q = queue_for(op, qkv.device);
#if MVD_HAVE_CUDA
  if (qkv.device.kind == Device::CUDA)
    q.enqueue("attentionForward", [s, dev = qkv.device, pq, po, pl]() {
      attention_forward_cuda(s, pq, po, pl, cuda_stream(dev));
    });
  else
#endif
  q.enqueue("attentionForward", [s, pq, po, pl]() {
    attention_forward_cpu(s, pq, po, pl);
  });
  Napi::Array r = Napi::Array::New(info.Env(), 2);
  r.Set(0u, output_to_js(info.Env(), out));
  r.Set(1u, output_to_js(info.Env(), lse));
  return r;
}

Napi::Value AttentionBackward(const Napi::CallbackInfo& info) {
  const std::string op = "attentionBackward";
  TensorArg dout = tensor_arg(op, info[0], "dOut");
  TensorArg qkv = tensor_arg(op, info[1], "qkv");
  TensorArg out = tensor_arg(op, info[2], "out");
  TensorArg lse = tensor_arg(op, info[3], "lse");
  std::vector<const TensorArg*> all{&dout, &qkv, &out, &lse};
  for (auto* t : all) expect_dtype(op, *t, DType::F32);
  expect_same_device(op, all);
  const AttentionShape s = attention_shape(op, qkv, info[4], all);
  expect_shape(op, dout, {s.B, s.N, s.D()}, all);
  expect_shape(op, out, {s.B, s.N, s.D()}, all);
  expect_shape(op, lse, {s.B, s.heads, s.N}, all);
  Output dqkv = make_output(qkv.shape, DType::F32, qkv.device);
  auto pd = dout.data<float>(), pq = qkv.data<float>(), po = out.data<float>(), pl = lse.data<float>();
  auto pg = dqkv.data<float>();
  WorkQueue& q = queue_for(op, qkv.device);
#if MVD_HAVE_CUDA
  if (qkv.device.kind == Device::CUDA)
    q.enqueue("attentionBackward", [s, dev = qkv.device, pd, pq, po, pl, pg]() {
      attention_backward_cuda(s, pd, pq, po, pl, pg, cuda_stream(dev));
    });
  else
#endif
  q.enqueue("attentionBackward", [s, pd, pq, po, pl, pg]() {
    attention_backward_cpu(s, pd, pq, po, pl, pg);
  });
  return output_to_js(info.Env(), dqkv);
}

}  // namespace

static void register_attention_ops(Napi::Env env, Napi::Object exports) {
  exports.Set("attentionForward", make_binding(env, "attentionForward", AttentionForward));
  exports.Set("attentionBackward", make_binding(env, "attentionBackward", AttentionBackward));
}

MVD_REGISTER_BINDINGS(attention, register_attention_ops)

}  // namespace mvd
