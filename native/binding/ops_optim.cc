// adamw(params[], grads[], m[], v[], lr[], weightDecay[], beta1, beta2, eps, step, gradScale)
// gradNorm(tensors[]) -> f32 [1]; allFinite(tensors[]) -> f32 [1]; scaleTensors(tensors[], s).
// Each is one enqueued task over every tensor of its lists (SPEC §3.7).
#include <cmath>

#include "../cuda/stream.h"
#include "../ops/optim/optim.h"
#include "args.h"
#include "bindings.h"
#if MVD_HAVE_CUDA
#include "../cuda/runtime.h"
#endif

namespace mvd {
namespace {

std::vector<TensorArg> tensor_list(const std::string& op, const Napi::Value& v, const std::string& name) {
  if (!v.IsArray()) throw OpError(ErrorKind::Value, op, name + " must be an array of tensors");
  Napi::Array a = v.As<Napi::Array>();
  std::vector<TensorArg> out;
  out.reserve(a.Length());
  for (uint32_t i = 0; i < a.Length(); ++i) {
    TensorArg t = tensor_arg(op, a.Get(i), name + "[" + std::to_string(i) + "]");
    expect_dtype(op, t, DType::F32);
    out.push_back(std::move(t));
  }
  return out;
}

std::vector<double> number_list(const std::string& op, const Napi::Value& v, const std::string& name, size_t n) {
  if (!v.IsArray()) throw OpError(ErrorKind::Value, op, name + " must be an array of numbers");
  Napi::Array a = v.As<Napi::Array>();
  if (a.Length() != n)
    throw OpError(ErrorKind::Value, op, name + " has " + std::to_string(a.Length()) + " entries for " +
                                            std::to_string(n) + " tensors");
  std::vector<double> out(n);
  for (uint32_t i = 0; i < n; ++i) {
    out[i] = number_arg(op, a.Get(i), name + "[" + std::to_string(i) + "]");
    if (!std::isfinite(out[i])) throw OpError(ErrorKind::Value, op, name + "[" + std::to_string(i) + "] must be finite");
  }
  return out;
}

// All lists on one device; returns it (CPU for an empty list).
Device common_device(const std::string& op, const std::vector<const std::vector<TensorArg>*>& lists) {
  std::vector<const TensorArg*> all;
  for (auto* l : lists)
    for (auto& t : *l) all.push_back(&t);
  expect_same_device(op, all);
  return all.empty() ? Device() : all[0]->device;
}

std::vector<Span> spans(const std::vector<TensorArg>& ts, std::vector<StoragePtr>& keep) {
  std::vector<Span> s;
  s.reserve(ts.size());
  for (auto& t : ts) {
    s.push_back(Span{t.data<float>(), t.numel()});
    keep.push_back(t.storage);
  }
  return s;
}

Napi::Value AdamW(const Napi::CallbackInfo& info) {
  const std::string op = "adamw";
  std::vector<TensorArg> p = tensor_list(op, info[0], "params"), g = tensor_list(op, info[1], "grads"),
                         m = tensor_list(op, info[2], "m"), v = tensor_list(op, info[3], "v");
  const size_t n = p.size();
  if (g.size() != n || m.size() != n || v.size() != n)
    throw OpError(ErrorKind::Value, op,
                  "params, grads, m and v must be lists of the same length (got " + std::to_string(n) + ", " +
                      std::to_string(g.size()) + ", " + std::to_string(m.size()) + ", " + std::to_string(v.size()) + ")");
  std::vector<double> lr = number_list(op, info[4], "lr", n), wd = number_list(op, info[5], "weightDecay", n);
  AdamWHyper h;
  h.beta1 = number_arg(op, info[6], "beta1");
  h.beta2 = number_arg(op, info[7], "beta2");
  h.eps = number_arg(op, info[8], "eps");
  double step = number_arg(op, info[9], "step");
  h.grad_scale = info[10].IsUndefined() ? 1.f : (float)number_arg(op, info[10], "gradScale");
  if (!(h.beta1 >= 0 && h.beta1 < 1) || !(h.beta2 >= 0 && h.beta2 < 1))
    throw OpError(ErrorKind::Value, op, "beta1 and beta2 must be in [0, 1)");
  if (!(h.eps >= 0)) throw OpError(ErrorKind::Value, op, "eps must be >= 0");
  if (!(step >= 1) || step != std::floor(step)) throw OpError(ErrorKind::Value, op, "step must be an integer >= 1 (1-based)");
  h.step = (int64_t)step;
  const Device dev = common_device(op, {&p, &g, &m, &v});
  for (size_t i = 0; i < n; ++i)
    if (g[i].shape != p[i].shape || m[i].shape != p[i].shape || v[i].shape != p[i].shape)
      throw OpError(ErrorKind::Shape, op, "tensor " + std::to_string(i) + ": grad, m and v must match its param's shape",
                    describe({&p[i], &g[i], &m[i], &v[i]}), dev.str());
  WorkQueue& q = queue_for(op, dev);
  std::vector<AdamWTensor> ts(n);
  std::vector<StoragePtr> keep;
  for (size_t i = 0; i < n; ++i) {
    ts[i] = AdamWTensor{p[i].data<float>(), g[i].data<float>(), m[i].data<float>(), v[i].data<float>(),
                        p[i].numel(), (float)lr[i], (float)wd[i]};
    for (auto* t : {&p[i], &g[i], &m[i], &v[i]}) keep.push_back(t->storage);
  }
#if MVD_HAVE_CUDA
  if (dev.kind == Device::CUDA)
    q.enqueue("adamw", [ts = std::move(ts), h, dev, keep = std::move(keep)] {
      adamw_cuda(ts, h, cuda_scratch(dev, adamw_cuda_scratch_bytes(ts)), cuda_stream(dev));
    });
  else
#endif
  q.enqueue("adamw", [ts = std::move(ts), h, keep = std::move(keep)] { adamw_cpu(ts, h); });
  return info.Env().Undefined();
}

// A reduction over a list of tensors to one f32 value, computed on the queue: `reduce` on the
// CPU, `reduce_cuda` (writing the value on the device, no wait) on CUDA.
// `op` is a string literal: the queue keeps the pointer for error messages.
using CudaReduceFn = void (*)(const std::vector<Span>&, float*, void*, cudaStream_t);
Napi::Value reduce_list(const Napi::CallbackInfo& info, const char* op, const char* name,
                        float (*reduce)(const std::vector<Span>&), CudaReduceFn reduce_cuda) {
  std::vector<TensorArg> ts = tensor_list(op, info[0], name);
  const Device dev = common_device(op, {&ts});
  WorkQueue& q = queue_for(op, dev);
  Output o = make_output({1}, DType::F32, dev);
  std::vector<StoragePtr> keep{o.storage};
  std::vector<Span> s = spans(ts, keep);
  auto po = o.data<float>();
#if MVD_HAVE_CUDA
  if (dev.kind == Device::CUDA)
    q.enqueue(op, [s = std::move(s), po, reduce_cuda, dev, keep = std::move(keep)] {
      reduce_cuda(s, po, cuda_scratch(dev, span_list_cuda_scratch_bytes(s)), cuda_stream(dev));
    });
  else
#endif
  q.enqueue(op, [s = std::move(s), po, reduce, keep = std::move(keep)] { po[0] = reduce(s); });
  (void)reduce_cuda;
  return output_to_js(info.Env(), o);
}

#if MVD_HAVE_CUDA
const CudaReduceFn kGradNormCuda = grad_norm_cuda_to, kAllFiniteCuda = all_finite_cuda_to;
#else
const CudaReduceFn kGradNormCuda = nullptr, kAllFiniteCuda = nullptr;
#endif

Napi::Value GradNorm(const Napi::CallbackInfo& info) {
  return reduce_list(
      info, "gradNorm", "grads", [](const std::vector<Span>& s) { return (float)grad_norm_cpu(s); }, kGradNormCuda);
}

Napi::Value AllFinite(const Napi::CallbackInfo& info) {
  return reduce_list(
      info, "allFinite", "tensors", [](const std::vector<Span>& s) { return all_finite_cpu(s) ? 1.f : 0.f; },
      kAllFiniteCuda);
}

Napi::Value ScaleTensors(const Napi::CallbackInfo& info) {
  const std::string op = "scaleTensors";
  std::vector<TensorArg> ts = tensor_list(op, info[0], "tensors");
  float f = (float)number_arg(op, info[1], "s");
  const Device dev = common_device(op, {&ts});
  WorkQueue& q = queue_for(op, dev);
  std::vector<StoragePtr> keep;
  std::vector<Span> s = spans(ts, keep);
#if MVD_HAVE_CUDA
  if (dev.kind == Device::CUDA)
    q.enqueue("scaleTensors", [s = std::move(s), f, dev, keep = std::move(keep)] {
      scale_tensors_cuda(s, f, cuda_scratch(dev, span_list_cuda_scratch_bytes(s)), cuda_stream(dev));
    });
  else
#endif
  q.enqueue("scaleTensors", [s = std::move(s), f, keep = std::move(keep)] { scale_tensors_cpu(s, f); });
  return info.Env().Undefined();
}

void register_optim(Napi::Env env, Napi::Object exports) {
  exports.Set("adamw", make_binding(env, "adamw", AdamW));
  exports.Set("gradNorm", make_binding(env, "gradNorm", GradNorm));
  exports.Set("allFinite", make_binding(env, "allFinite", AllFinite));
  exports.Set("scaleTensors", make_binding(env, "scaleTensors", ScaleTensors));
}

}  // namespace

MVD_REGISTER_BINDINGS(optim, register_optim)

}  // namespace mvd
