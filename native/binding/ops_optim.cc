// adamw(params[], grads[], m[], v[], {lr[], weightDecay[], beta1, beta2, eps, step, gradScale?})
// gradNorm(tensors[]) -> f32 [1]; allFinite(tensors[]) -> f32 [1]; scaleTensors(tensors[], s).
// Each is one enqueued task over every tensor of its lists (SPEC §3.7).
#include <cmath>

#include "../ops/optim/optim.h"
#include "args.h"
#include "bindings.h"
#include "dispatch.h"

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
    throw OpError(ErrorKind::Value, op,
                  name + " has " + std::to_string(a.Length()) + " entries for " + std::to_string(n) + " tensors");
  std::vector<double> out(n);
  for (uint32_t i = 0; i < n; ++i) {
    out[i] = number_arg(op, a.Get(i), name + "[" + std::to_string(i) + "]");
    if (!std::isfinite(out[i]))
      throw OpError(ErrorKind::Value, op, name + "[" + std::to_string(i) + "] must be finite");
  }
  return out;
}

std::vector<const TensorArg*> pointers(const std::vector<const std::vector<TensorArg>*>& lists) {
  std::vector<const TensorArg*> all;
  for (auto* l : lists)
    for (auto& t : *l) all.push_back(&t);
  return all;
}

// A list of tensors as the kernels see it, resolved inside the queued closure (on the worker),
// like every other op's LazyPtr operands; the Dispatch holds their storages.
struct LazySpans {
  std::vector<LazyPtr<float>> data;
  std::vector<int64_t> n;
  explicit LazySpans(const std::vector<TensorArg>& ts) {
    for (auto& t : ts) {
      data.push_back(t.data<float>());
      n.push_back(t.numel());
    }
  }
  std::vector<Span> resolve() const {
    std::vector<Span> s(data.size());
    for (size_t i = 0; i < s.size(); ++i) s[i] = Span{data[i], n[i]};
    return s;
  }
};

Napi::Value AdamW(const Napi::CallbackInfo& info) {
  const char* op = "adamw";
  Napi::Object o = options_arg(op, info[4]);
  std::vector<TensorArg> p = tensor_list(op, info[0], "params"), g = tensor_list(op, info[1], "grads"),
                         m = tensor_list(op, info[2], "m"), v = tensor_list(op, info[3], "v");
  const size_t n = p.size();
  if (g.size() != n || m.size() != n || v.size() != n)
    throw OpError(ErrorKind::Value, op,
                  "params, grads, m and v must be lists of the same length (got " + std::to_string(n) + ", " +
                      std::to_string(g.size()) + ", " + std::to_string(m.size()) + ", " + std::to_string(v.size()) +
                      ")");
  std::vector<double> lr = number_list(op, o.Get("lr"), "lr", n);
  std::vector<double> wd = number_list(op, o.Get("weightDecay"), "weightDecay", n);
  AdamWHyper h;
  h.beta1 = number_arg(op, o.Get("beta1"), "beta1");
  h.beta2 = number_arg(op, o.Get("beta2"), "beta2");
  h.eps = number_arg(op, o.Get("eps"), "eps");
  double step = number_arg(op, o.Get("step"), "step");
  h.grad_scale = o.Get("gradScale").IsUndefined() ? 1.f : (float)number_arg(op, o.Get("gradScale"), "gradScale");
  if (!(h.beta1 >= 0 && h.beta1 < 1) || !(h.beta2 >= 0 && h.beta2 < 1))
    throw OpError(ErrorKind::Value, op, "beta1 and beta2 must be in [0, 1)");
  if (!(h.eps >= 0)) throw OpError(ErrorKind::Value, op, "eps must be >= 0");
  if (!(step >= 1) || step != std::floor(step))
    throw OpError(ErrorKind::Value, op, "step must be an integer >= 1 (1-based)");
  h.step = (int64_t)step;
  Dispatch d(op, pointers({&p, &g, &m, &v}));
  for (size_t i = 0; i < n; ++i)
    if (g[i].shape != p[i].shape || m[i].shape != p[i].shape || v[i].shape != p[i].shape)
      throw OpError(ErrorKind::Shape, op,
                    "tensor " + std::to_string(i) + ": grad, m and v must match its param's shape",
                    describe({&p[i], &g[i], &m[i], &v[i]}), d.device().str());
  const LazySpans sp(p), sg(g), sm(m), sv(v);
  std::vector<float> flr(lr.begin(), lr.end()), fwd(wd.begin(), wd.end());
  auto tensors = [sp, sg, sm, sv, flr, fwd] {
    std::vector<AdamWTensor> ts(flr.size());
    for (size_t i = 0; i < ts.size(); ++i)
      ts[i] = AdamWTensor{sp.data[i], sg.data[i], sm.data[i], sv.data[i], sp.n[i], flr[i], fwd[i]};
    return ts;
  };
  d.run([=] { adamw_cpu(tensors(), h); }, MVD_CUDA([=](const CudaLaunch& c) {
          const std::vector<AdamWTensor> ts = tensors();
          adamw_cuda(ts, h, c.scratch(adamw_cuda_scratch_bytes(ts)), c.stream());
        }));
  return info.Env().Undefined();
}
MVD_BINDING("adamw", AdamW, "params, grads, m, v, {lr, weightDecay, beta1, beta2, eps, step, gradScale?}")

// A list of tensors reduced to one f32 value, written on the op's device (no wait on CUDA).
template <typename CudaTo>
Napi::Value reduce_list(const Napi::CallbackInfo& info, const char* op, const char* name,
                        float (*cpu)(const std::vector<Span>&), CudaTo cuda_to) {
  std::vector<TensorArg> ts = tensor_list(op, info[0], name);
  Dispatch d(op, pointers({&ts}));
  Output o = d.output({1}, DType::F32);
  const LazySpans s(ts);
  auto po = o.data<float>();
  d.run([=] { po.get()[0] = cpu(s.resolve()); }, MVD_CUDA([=](const CudaLaunch& c) {
          const std::vector<Span> r = s.resolve();
          cuda_to(r, po, c.scratch(span_list_cuda_scratch_bytes(r)), c.stream());
        }));
  return output_to_js(info.Env(), o);
}

Napi::Value GradNorm(const Napi::CallbackInfo& info) {
  return reduce_list(
      info, "gradNorm", "grads", [](const std::vector<Span>& s) { return (float)grad_norm_cpu(s); },
      MVD_CUDA(grad_norm_cuda_to));
}
MVD_BINDING("gradNorm", GradNorm, "grads")

Napi::Value AllFinite(const Napi::CallbackInfo& info) {
  return reduce_list(
      info, "allFinite", "tensors", [](const std::vector<Span>& s) { return all_finite_cpu(s) ? 1.f : 0.f; },
      MVD_CUDA(all_finite_cuda_to));
}
MVD_BINDING("allFinite", AllFinite, "tensors")

Napi::Value ScaleTensors(const Napi::CallbackInfo& info) {
  const char* op = "scaleTensors";
  std::vector<TensorArg> ts = tensor_list(op, info[0], "tensors");
  float f = (float)number_arg(op, info[1], "s");
  Dispatch d(op, pointers({&ts}));
  const LazySpans s(ts);
  d.run([=] { scale_tensors_cpu(s.resolve(), f); }, MVD_CUDA([=](const CudaLaunch& c) {
          const std::vector<Span> r = s.resolve();
          scale_tensors_cuda(r, f, c.scratch(span_list_cuda_scratch_bytes(r)), c.stream());
        }));
  return info.Env().Undefined();
}
MVD_BINDING("scaleTensors", ScaleTensors, "tensors, s")

}  // namespace

}  // namespace mvd
