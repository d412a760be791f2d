// distillLoss({predImg?, targetImg?, predVid?, targetVid?, kind, wImg?, wVid?, beta?})
//   -> {loss f32 [3] (total, img, vid), dPredImg|null, dPredVid|null}
// mseLoss(pred, target) -> {loss f32 [1], dPred}
// Both run as one enqueued task over every pair (SPEC §3.6).
#include <array>
#include <cmath>

#include "../ops/loss/loss.h"
#include "args.h"
#include "bindings.h"
#include "dispatch.h"

namespace mvd {
namespace {

struct PairArgs {
  TensorArg pred, target;
  Output grad;
};

// Validates one pred/target pair (both null = absent) and allocates its gradient.
void read_pair(const std::string& op, const Napi::Value& pred, const Napi::Value& target, const char* pname,
               const char* tname, PairArgs& pa) {
  pa.pred = optional_tensor_arg(op, pred, pname);
  pa.target = optional_tensor_arg(op, target, tname);
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
  const char* op = "distillLoss";
  PairArgs img, vid;
  Napi::Object o = options_arg(op, info[0]);
  read_pair(op, o.Get("predImg"), o.Get("targetImg"), "predImg", "targetImg", img);
  read_pair(op, o.Get("predVid"), o.Get("targetVid"), "predVid", "targetVid", vid);
  std::string k = o.Get("kind").IsString() ? o.Get("kind").As<Napi::String>().Utf8Value() : "";
  LossKind kind;
  if (k == "smoothl1") kind = LossKind::SmoothL1;
  else if (k == "l2") kind = LossKind::L2;
  else if (k == "l1") kind = LossKind::L1;
  else throw OpError(ErrorKind::Value, op, "kind must be 'smoothl1', 'l2' or 'l1', got '" + k + "'");
  double w_img = opt_number(op, o.Get("wImg"), "wImg", 1.0);
  double w_vid = opt_number(op, o.Get("wVid"), "wVid", 1.0);
  double beta = opt_number(op, o.Get("beta"), "beta", 1.0);
  if (beta < 0) throw OpError(ErrorKind::Value, op, "beta must be >= 0");
  Dispatch d(op, {&img.pred, &img.target, &vid.pred, &vid.target});  // CPU when both pairs are absent
  Output loss = d.output({3}, DType::F32);
  auto pl = loss.data<float>();
  const float fbeta = (float)beta;
  // The pairs' raw pointers are taken inside the closures (LazyPtr in args.h says why); img and vid
  // hold the storages until then.
  d.run(
      [=] {
        const std::array<LossPair, 2> pairs{to_pair(img, w_img), to_pair(vid, w_vid)};
        double means[2];
        distill_loss_cpu(pairs.data(), 2, kind, fbeta, means);
        pl[0] = (float)(w_img * means[0] + w_vid * means[1]);
        pl[1] = (float)means[0];
        pl[2] = (float)means[1];
      },
      MVD_CUDA([=](const CudaLaunch& c) {
        const std::array<LossPair, 2> pairs{to_pair(img, w_img), to_pair(vid, w_vid)};
        // loss = [total, img, vid]: the launcher writes the total and both means on the device.
        void* scratch = c.scratch(distill_loss_cuda_scratch_bytes(pairs.data(), 2));
        distill_loss_cuda(pairs.data(), 2, kind, fbeta, nullptr, pl, pl + 1, scratch, c.stream());
      }));
  return outputs_to_js(info.Env(), {{"loss", &loss}, {"dPredImg", &img.grad}, {"dPredVid", &vid.grad}});
}
MVD_BINDING("distillLoss", DistillLoss, "{predImg?, targetImg?, predVid?, targetVid?, kind, wImg?, wVid?, beta?}")

Napi::Value MseLoss(const Napi::CallbackInfo& info) {
  const char* op = "mseLoss";
  PairArgs pa;
  pa.pred = tensor_arg(op, info[0], "pred");
  pa.target = tensor_arg(op, info[1], "target");
  read_pair(op, info[0], info[1], "pred", "target", pa);
  Dispatch d(op, {&pa.pred, &pa.target});
  Output loss = d.output({1}, DType::F32);
  auto pl = loss.data<float>();
  d.run(
      [=] {
        const LossPair pair = to_pair(pa, 1.0);
        double mean;
        distill_loss_cpu(&pair, 1, LossKind::L2, 1.f, &mean);
        pl[0] = (float)mean;
      },
      MVD_CUDA([=](const CudaLaunch& c) {
        const LossPair pair = to_pair(pa, 1.0);
        void* scratch = c.scratch(distill_loss_cuda_scratch_bytes(&pair, 1));
        distill_loss_cuda(&pair, 1, LossKind::L2, 1.f, nullptr, pl, nullptr, scratch, c.stream());
      }));
  return outputs_to_js(info.Env(), {{"loss", &loss}, {"dPred", &pa.grad}});
}
MVD_BINDING("mseLoss", MseLoss, "pred, target")

}  // namespace

}  // namespace mvd
