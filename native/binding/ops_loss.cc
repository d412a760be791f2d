// distillLoss(predImg|null, targetImg|null, predVid|null, targetVid|null, kind, wImg, wVid, beta)
//   -> {loss f32 [3] (total, img, vid), dPredImg|null, dPredVid|null}
// mseLoss(pred, target) -> {loss f32 [1], dPred}
// Both run as one enqueued task over every pair (SPEC §3.6).
#include <array>
#include <cmath>

#include "../ops/loss/loss.h"
#include "args.h"
#include "bindings.h"
#if MVD_HAVE_CUDA
#include "../cuda/runtime.h"
#endif

namespace mvd {
namespace {

struct PairArgs {
  TensorArg pred, target;
  Output grad;
};

// Validates one pred/target pair (both null = absent) and allocates its gradient.
void read_pair(const std::string& op, const Napi::CallbackInfo& info, int i, const char* pname, const char* tname,
               PairArgs& pa) {
  pa.pred = optional_tensor_arg(op, info[i], pname);
  pa.target = optional_tensor_arg(op, info[i + 1], tname);
  std::vector<const TensorArg*> both{&pa.pred, &pa.target};
  if (!pa.pred.storage != !pa.target.storage)
    throw OpError(ErrorKind::Value, op, std::string(pname) + " and " + tname + " must both be given or both be null",
                  describe(both));
  if (!pa.pred.storage) return;
  expect_dtype(op, pa.pred, DType::F32);
  expect_dtype(op, pa.target, DType::F32);
  expect_same_device(op, both);
  if (pa.pred.shape != pa.target.shape)
    throw OpError(ErrorKind::Shape, op, std::string(pname) + " and " + tname + " must have the same shape",
                  describe(both), pa.pred.device.str());
  pa.grad = make_output(pa.pred.shape, DType::F32, pa.pred.device);
}

LossPair to_pair(const PairArgs& pa, double weight) {
  LossPair p;
  if (!pa.pred.storage) return p;
  p.pred = pa.pred.data<float>();
  p.target = pa.target.data<float>();
  p.grad = pa.grad.data<float>();
  p.n = pa.pred.numel();
  p.weight = weight;
  return p;
}

double opt_number(const std::string& op, const Napi::Value& v, const char* name, double dflt) {
  if (v.IsUndefined() || v.IsNull()) return dflt;
  double d = number_arg(op, v, name);
  if (!std::isfinite(d)) throw OpError(ErrorKind::Value, op, std::string(name) + " must be finite");
  return d;
}

Napi::Value DistillLoss(const Napi::CallbackInfo& info) {
  const std::string op = "distillLoss";
  PairArgs img, vid;
  read_pair(op, info, 0, "predImg", "targetImg", img);
  read_pair(op, info, 2, "predVid", "targetVid", vid);
  std::string k = info[4].IsString() ? info[4].As<Napi::String>().Utf8Value() : "";
  LossKind kind;
  if (k == "smoothl1") kind = LossKind::SmoothL1;
  else if (k == "l2") kind = LossKind::L2;
  else if (k == "l1") kind = LossKind::L1;
  else throw OpError(ErrorKind::Value, op, "kind must be 'smoothl1', 'l2' or 'l1', got '" + k + "'");
  double w_img = opt_number(op, info[5], "wImg", 1.0);
  double w_vid = opt_number(op, info[6], "wVid", 1.0);
  double beta = opt_number(op, info[7], "beta", 1.0);
  if (beta < 0) throw OpError(ErrorKind::Value, op, "beta must be >= 0");
  expect_same_device(op, {&img.pred, &vid.pred});
  const Device dev = img.pred.storage ? img.pred.device : vid.pred.storage ? vid.pred.device : Device();
  WorkQueue& q = queue_for(op, dev);
  Output loss = make_output({3}, DType::F32, dev);
  auto pl = loss.data<float>();
  const float fbeta = (float)beta;
  // The pairs' raw pointers are taken inside the closures (LazyPtr in args.h says why); img and vid
  // hold the storages until then.
#if MVD_HAVE_CUDA
  if (dev.kind == Device::CUDA)
    q.enqueue("distillLoss", [=] {
      const std::array<LossPair, 2> pairs{to_pair(img, w_img), to_pair(vid, w_vid)};
      // loss = [total, img, vid]: the launcher writes the total and both means on the device.
      void* scratch = cuda_scratch(dev, distill_loss_cuda_scratch_bytes(pairs.data(), 2));
      distill_loss_cuda(pairs.data(), 2, kind, fbeta, nullptr, pl, pl + 1, scratch, cuda_stream(dev));
    });
  else
#endif
  q.enqueue("distillLoss", [=] {
    const std::array<LossPair, 2> pairs{to_pair(img, w_img), to_pair(vid, w_vid)};
    double means[2];
    distill_loss_cpu(pairs.data(), 2, kind, fbeta, means);
    pl[0] = (float)(w_img * means[0] + w_vid * means[1]);
    pl[1] = (float)means[0];
    pl[2] = (float)means[1];
  });
  Napi::Env env = info.Env();
  Napi::Object r = Napi::Object::New(env);
  r.Set("loss", output_to_js(env, loss));
  r.Set("dPredImg", img.pred.storage ? Napi::Value(output_to_js(env, img.grad)) : env.Null());
  r.Set("dPredVid", vid.pred.storage ? Napi::Value(output_to_js(env, vid.grad)) : env.Null());
  return r;
}

Napi::Value MseLoss(const Napi::CallbackInfo& info) {
  const std::string op = "mseLoss";
  PairArgs pa;
  pa.pred = tensor_arg(op, info[0], "pred");
  pa.target = tensor_arg(op, info[1], "target");
  read_pair(op, info, 0, "pred", "target", pa);
  WorkQueue& q = queue_for(op, pa.pred.device);
  Output loss = make_output({1}, DType::F32, pa.pred.device);
  auto pl = loss.data<float>();
#if MVD_HAVE_CUDA
  if (pa.pred.device.kind == Device::CUDA)
    q.enqueue("mseLoss", [=, dev = pa.pred.device] {
      const LossPair pair = to_pair(pa, 1.0);
      void* scratch = cuda_scratch(dev, distill_loss_cuda_scratch_bytes(&pair, 1));
      distill_loss_cuda(&pair, 1, LossKind::L2, 1.f, nullptr, pl, nullptr, scratch, cuda_stream(dev));
    });
  else
#endif
  q.enqueue("mseLoss", [=] {
    const LossPair pair = to_pair(pa, 1.0);
    double mean;
    distill_loss_cpu(&pair, 1, LossKind::L2, 1.f, &mean);
    pl[0] = (float)mean;
  });
  Napi::Env env = info.Env();
  Napi::Object r = Napi::Object::New(env);
  r.Set("loss", output_to_js(env, loss));
  r.Set("dPred", output_to_js(env, pa.grad));
  return r;
}

void register_loss(Napi::Env env, Napi::Object exports) {
  exports.Set("distillLoss", make_binding(env, "distillLoss", DistillLoss));
  exports.Set("mseLoss", make_binding(env, "mseLoss", MseLoss));
}

}  // namespace

MVD_REGISTER_BINDINGS(loss, register_loss)

}  // namespace mvd
