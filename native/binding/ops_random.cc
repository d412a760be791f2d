// randomFill(t, {dist, a?, b?, mean?, std?}, seed, stream): fills an f32 tensor in place, on its device
// (CPU and CUDA draw the same numbers for the same seed and stream).
#include "../ops/random/random.h"
#include "args.h"
#include "bindings.h"
#include "dispatch.h"

namespace mvd {
namespace {

Napi::Value RandomFillOp(const Napi::CallbackInfo& info) {
  const char* op = "randomFill";
  TensorArg t = tensor_arg(op, info[0], "tensor");
  expect_dtype(op, t, DType::F32);
  if (!info[1].IsObject())
    throw OpError(ErrorKind::Value, op, "the distribution must be an object {dist, a, b, mean, std}");
  Napi::Object p = info[1].As<Napi::Object>();
  std::string dist = p.Get("dist").IsString() ? p.Get("dist").As<Napi::String>().Utf8Value() : "";
  RandomFill r;
  if (dist == "uniform") r.dist = RandomDist::Uniform;
  else if (dist == "normal") r.dist = RandomDist::Normal;
  else if (dist == "truncnormal") r.dist = RandomDist::TruncNormal;
  else throw OpError(ErrorKind::Value, op, "dist must be uniform, normal or truncnormal, got '" + dist + "'");
  auto num = [&](const char* k, double d) {
    Napi::Value v = p.Get(k);
    return v.IsUndefined() ? d : finite_arg(op, v, k);
  };
  r.a = num("a", 0);
  r.b = num("b", 1);
  r.mean = num("mean", 0);
  r.std = num("std", 1);
  if (r.dist != RandomDist::Normal && !(r.a <= r.b))
    throw OpError(ErrorKind::Value, op,
                  "bounds must satisfy a <= b, got a = " + std::to_string(r.a) + ", b = " + std::to_string(r.b));
  if (r.std < 0) throw OpError(ErrorKind::Value, op, "std must be >= 0, got " + std::to_string(r.std));
  r.seed = seed_arg(op, info[2], "seed");
  r.stream = seed_arg(op, info[3], "stream");
  auto data = t.data<float>();
  int64_t n = t.numel();
  Dispatch d(op, {&t});
  d.run([=] { random_fill_cpu(data, n, r); },
        MVD_CUDA([=](const CudaLaunch& c) { random_fill_cuda(data, n, r, c.stream()); }));
  return info[0];
}
MVD_BINDING("randomFill", RandomFillOp, "tensor, init, seed, stream")

}  // namespace

}  // namespace mvd
