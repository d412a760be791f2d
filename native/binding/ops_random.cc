// randomFill(t, dist, {a, b, mean, std}, seed, stream): fills an f32 tensor in place, on its device
// (CPU and CUDA draw the same numbers for the same seed and stream).
#include "../ops/random/random.h"
#include "args.h"
#include "bindings.h"
#if MVD_HAVE_CUDA
#include "../cuda/runtime.h"
#endif

namespace mvd {
namespace {

Napi::Value RandomFillOp(const Napi::CallbackInfo& info) {
  const std::string op = "randomFill";
  TensorArg t = tensor_arg(op, info[0], "tensor");
  expect_dtype(op, t, DType::F32);
  std::string dist = info[1].IsString() ? info[1].As<Napi::String>().Utf8Value() : "";
  RandomFill r;
  if (dist == "uniform") r.dist = RandomDist::Uniform;
  else if (dist == "normal") r.dist = RandomDist::Normal;
  else if (dist == "truncnormal") r.dist = RandomDist::TruncNormal;
  else throw OpError(ErrorKind::Value, op, "dist must be uniform, normal or truncnormal, got '" + dist + "'");
  if (!info[2].IsObject()) throw OpError(ErrorKind::Value, op, "the distribution's parameters must be an object");
  Napi::Object p = info[2].As<Napi::Object>();
  auto num = [&](const char* k, double d) {
    Napi::Value v = p.Get(k);
    return v.IsUndefined() ? d : finite_arg(op, v, k);
  };
  r.a = num("a", 0); r.b = num("b", 1); r.mean = num("mean", 0); r.std = num("std", 1);
  if (r.dist != RandomDist::Normal && !(r.a <= r.b))
    throw OpError(ErrorKind::Value, op, "bounds must satisfy a <= b, got a = " + std::to_string(r.a) + ", b = " + std::to_string(r.b));
  if (r.std < 0) throw OpError(ErrorKind::Value, op, "std must be >= 0, got " + std::to_string(r.std));
  r.seed = seed_arg(op, info[3], "seed");
  r.stream = seed_arg(op, info[4], "stream");
  auto data = t.data<float>();
  int64_t n = t.numel();
  WorkQueue& q = queue_for(op, t.device);
#if MVD_HAVE_CUDA
  if (t.device.kind == Device::CUDA)
    q.enqueue("randomFill", [data, n, r, dev = t.device] { random_fill_cuda(data, n, r, cuda_stream(dev)); });
  else
#endif
    q.enqueue("randomFill", [data, n, r] { random_fill_cpu(data, n, r); });
  return info[0];
}

void register_random(Napi::Env env, Napi::Object exports) {
  exports.Set("randomFill", make_binding(env, "randomFill", RandomFillOp));
}

}  // namespace

MVD_REGISTER_BINDINGS(random, register_random)

}  // namespace mvd
