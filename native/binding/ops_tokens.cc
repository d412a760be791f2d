// Token ops: patchify, gatherTokens/scatterTokens, assembleDecoderInput(+Backward),
// placeTokens(+Backward). Shapes and dtypes are checked here, synchronously; index values are
// checked by the kernels on the queue (reading an index tensor here could race a queued writer),
// so an out-of-range index surfaces at the next read-back. On CUDA the kernels cannot throw: they
// never follow a bad index and leave NaN where the CPU op throws (see tokens.h).
#include <cmath>

#include "../ops/tokens/tokens.h"
#include "args.h"
#include "bindings.h"
#include "dispatch.h"

namespace mvd {
namespace {

int64_t int_arg(const std::string& op, const Napi::Value& v, const std::string& name, int64_t min) {
  double x = number_arg(op, v, name);
  if (x != std::floor(x) || x < (double)min || x > 9.0e15)
    throw OpError(ErrorKind::Value, op,
                  name + " must be an integer >= " + std::to_string(min) + ", got " + std::to_string(x));
  return (int64_t)x;
}

[[noreturn]] void shape_error(const std::string& op, const std::string& msg, const std::vector<const TensorArg*>& ts) {
  throw OpError(ErrorKind::Shape, op, msg, describe(ts), ts[0]->device.str());
}

void expect_tensors(const std::string& op, const std::vector<const TensorArg*>& f32,
                    const std::vector<const TensorArg*>& i32) {
  for (auto* t : f32) expect_dtype(op, *t, DType::F32);
  for (auto* t : i32) expect_dtype(op, *t, DType::I32);
  std::vector<const TensorArg*> all = f32;
  all.insert(all.end(), i32.begin(), i32.end());
  expect_same_device(op, all);
}

// A learned mask token may come as [D] or as the checkpoint's [1,1,D].
void expect_vector_of(const std::string& op, const TensorArg& t, int64_t D, const std::vector<const TensorArg*>& all) {
  if (t.ndim() == 0 || t.dim(-1) != D || t.numel() != D)
    shape_error(op, t.name + " must hold exactly D = " + std::to_string(D) + " values", all);
}

Napi::Value Patchify(const Napi::CallbackInfo& info) {
  const char* op = "patchify";
  TensorArg x = tensor_arg(op, info[0], "video");
  Napi::Object opts = options_arg(op, info[1]);
  PatchifyArgs a;
  a.kt = int_arg(op, opts.Get("kt"), "kt", 1);
  a.kh = int_arg(op, opts.Get("kh"), "kh", 1);
  a.kw = int_arg(op, opts.Get("kw"), "kw", 1);
  a.frame_stride = opts.Get("frameStride").IsUndefined() ? 1 : int_arg(op, opts.Get("frameStride"), "frameStride", 1);
  expect_tensors(op, {&x}, {});
  expect_ndim(op, x, 5);
  a.B = x.dim(0);
  a.C = x.dim(1);
  a.T = x.dim(2);
  a.H = x.dim(3);
  a.W = x.dim(4);
  const std::vector<const TensorArg*> all{&x};
  if (a.frame_stride > 1 && a.kt != 1)
    throw OpError(ErrorKind::Value, op, "frameStride > 1 needs kt = 1 (one frame per image)", describe(all),
                  x.device.str());
  if (a.T % (a.kt * a.frame_stride) || a.H % a.kh || a.W % a.kw)
    shape_error(op,
                "T, H, W must be multiples of kt*frameStride, kh, kw = " + std::to_string(a.kt * a.frame_stride) +
                    ", " + std::to_string(a.kh) + ", " + std::to_string(a.kw),
                all);
  const int64_t Tn = a.T / (a.kt * a.frame_stride), Ns = (a.H / a.kh) * (a.W / a.kw), P = a.C * a.kt * a.kh * a.kw;
  Dispatch d(op, {&x});
  Output o = d.output(
      a.frame_stride > 1 ? std::vector<int64_t>{a.B * Tn, Ns, P} : std::vector<int64_t>{a.B, Tn * Ns, P}, DType::F32);
  auto px = x.data<float>();
  auto po = o.data<float>();
  d.run([=] { patchify_cpu(px, po, a); }, MVD_CUDA([=](const CudaLaunch& c) { patchify_cuda(px, po, a, c.stream()); }));
  return output_to_js(info.Env(), o);
}
MVD_BINDING("patchify", Patchify, "video, {kt, kh, kw, frameStride?}")

Napi::Value GatherTokens(const Napi::CallbackInfo& info) {
  const char* op = "gatherTokens";
  TensorArg x = tensor_arg(op, info[0], "x"), idx = tensor_arg(op, info[1], "idx");
  expect_tensors(op, {&x}, {&idx});
  expect_ndim(op, x, 3);
  expect_ndim(op, idx, 2);
  const std::vector<const TensorArg*> all{&x, &idx};
  if (idx.dim(0) != x.dim(0)) shape_error(op, "idx must be [B,K] with B = x.shape[0]", all);
  const int64_t B = x.dim(0), N = x.dim(1), D = x.dim(2), K = idx.dim(1);
  Dispatch d(op, {&x});
  Output o = d.output({B, K, D}, DType::F32);
  auto px = x.data<float>();
  auto pi = idx.data<int32_t>();
  auto po = o.data<float>();
  d.run([=] { gather_tokens_cpu(px, pi, po, B, N, K, D); },
        MVD_CUDA([=](const CudaLaunch& c) { gather_tokens_cuda(px, pi, po, B, N, K, D, nullptr, c.stream()); }));
  return output_to_js(info.Env(), o);
}
MVD_BINDING("gatherTokens", GatherTokens, "x, idx")

Napi::Value ScatterTokens(const Napi::CallbackInfo& info) {
  const char* op = "scatterTokens";
  TensorArg dy = tensor_arg(op, info[0], "dy"), idx = tensor_arg(op, info[1], "idx");
  const int64_t N = int_arg(op, info[2], "n", 0);
  expect_tensors(op, {&dy}, {&idx});
  expect_ndim(op, dy, 3);
  expect_ndim(op, idx, 2);
  const std::vector<const TensorArg*> all{&dy, &idx};
  if (idx.dim(0) != dy.dim(0) || idx.dim(1) != dy.dim(1)) shape_error(op, "idx must be [B,K] matching dy [B,K,D]", all);
  const int64_t B = dy.dim(0), K = dy.dim(1), D = dy.dim(2);
  Dispatch d(op, {&dy});
  Output o = d.output({B, N, D}, DType::F32);
  auto pd = dy.data<float>();
  auto pi = idx.data<int32_t>();
  auto po = o.data<float>();
  d.run([=] { scatter_tokens_cpu(pd, pi, po, B, N, K, D); }, MVD_CUDA([=](const CudaLaunch& c) {
          void* scratch = c.scratch(scatter_tokens_cuda_scratch_bytes(B, N));
          scatter_tokens_cuda(pd, pi, po, B, N, K, D, nullptr, scratch, c.stream());
        }));
  return output_to_js(info.Env(), o);
}
MVD_BINDING("scatterTokens", ScatterTokens, "dy, idx, n")

Napi::Value AssembleDecoderInput(const Napi::CallbackInfo& info) {
  const char* op = "assembleDecoderInput";
  Napi::Object opts = options_arg(op, info[1]);
  TensorArg vis = tensor_arg(op, info[0], "vis"), vi = tensor_arg(op, opts.Get("visIdx"), "visIdx"),
            mi = tensor_arg(op, opts.Get("maskIdx"), "maskIdx"),
            mt = tensor_arg(op, opts.Get("maskToken"), "maskToken"), pos = tensor_arg(op, opts.Get("pos"), "pos");
  expect_tensors(op, {&vis, &mt, &pos}, {&vi, &mi});
  expect_ndim(op, vis, 3);
  expect_ndim(op, vi, 2);
  expect_ndim(op, mi, 2);
  expect_ndim(op, pos, 2);
  const std::vector<const TensorArg*> all{&vis, &vi, &mi, &mt, &pos};
  const int64_t B = vis.dim(0), Nv = vis.dim(1), D = vis.dim(2), Nm = mi.dim(1), N = pos.dim(0);
  if (vi.dim(0) != B || vi.dim(1) != Nv) shape_error(op, "visIdx must be [B,Nv] matching vis", all);
  if (mi.dim(0) != B) shape_error(op, "maskIdx must be [B,Nm] with the batch of vis", all);
  if (pos.dim(1) != D) shape_error(op, "pos must be [N,D] with the width of vis", all);
  expect_vector_of(op, mt, D, all);
  Dispatch d(op, {&vis});
  Output o = d.output({B, Nv + Nm, D}, DType::F32);
  auto pv = vis.data<float>(), pm = mt.data<float>(), pp = pos.data<float>();
  auto pvi = vi.data<int32_t>(), pmi = mi.data<int32_t>();
  auto po = o.data<float>();
  d.run([=] { assemble_decoder_input_cpu(pv, pvi, pmi, pm, pp, po, B, Nv, Nm, N, D); },
        MVD_CUDA([=](const CudaLaunch& c) {
          assemble_decoder_input_cuda(pv, pvi, pmi, pm, pp, po, B, Nv, Nm, N, D, nullptr, c.stream());
        }));
  return output_to_js(info.Env(), o);
}
MVD_BINDING("assembleDecoderInput", AssembleDecoderInput, "vis, {visIdx, maskIdx, maskToken, pos}")

Napi::Object pair_to_js(Napi::Env env, const Output& dvis, const Output& dmask) {
  return outputs_to_js(env, {{"dVis", &dvis}, {"dMaskToken", &dmask}});
}

Napi::Value AssembleDecoderInputBackward(const Napi::CallbackInfo& info) {
  const char* op = "assembleDecoderInputBackward";
  TensorArg dy = tensor_arg(op, info[0], "dy");
  const int64_t Nv = int_arg(op, info[1], "nv", 0);
  expect_tensors(op, {&dy}, {});
  expect_ndim(op, dy, 3);
  const int64_t B = dy.dim(0), L = dy.dim(1), D = dy.dim(2);
  if (Nv > L) shape_error(op, "nv = " + std::to_string(Nv) + " exceeds the sequence length", {&dy});
  const int64_t Nm = L - Nv;
  Dispatch d(op, {&dy});
  Output dv = d.output({B, Nv, D}, DType::F32), dm = d.output({D}, DType::F32);
  auto pd = dy.data<float>();
  auto pv = dv.data<float>(), pm = dm.data<float>();
  d.run([=] { assemble_decoder_input_backward_cpu(pd, pv, pm, B, Nv, Nm, D); }, MVD_CUDA([=](const CudaLaunch& c) {
          void* scratch = c.scratch(assemble_decoder_input_backward_cuda_scratch_bytes(B, Nm, D));
          assemble_decoder_input_backward_cuda(pd, pv, pm, B, Nv, Nm, D, scratch, c.stream());
        }));
  return pair_to_js(info.Env(), dv, dm);
}
MVD_BINDING("assembleDecoderInputBackward", AssembleDecoderInputBackward, "dy, nv")

Napi::Value PlaceTokens(const Napi::CallbackInfo& info) {
  const char* op = "placeTokens";
  TensorArg vis = tensor_arg(op, info[0], "vis"), vi = tensor_arg(op, info[1], "visIdx"),
            mt = tensor_arg(op, info[2], "maskToken");
  const int64_t N = int_arg(op, info[3], "n", 0);
  expect_tensors(op, {&vis, &mt}, {&vi});
  expect_ndim(op, vis, 3);
  expect_ndim(op, vi, 2);
  const std::vector<const TensorArg*> all{&vis, &vi, &mt};
  const int64_t B = vis.dim(0), Nv = vis.dim(1), D = vis.dim(2);
  if (vi.dim(0) != B || vi.dim(1) != Nv) shape_error(op, "visIdx must be [B,Nv] matching vis", all);
  if (Nv > N) shape_error(op, "more visible tokens than n = " + std::to_string(N), all);
  expect_vector_of(op, mt, D, all);
  Dispatch d(op, {&vis});
  Output o = d.output({B, N, D}, DType::F32);
  auto pv = vis.data<float>(), pm = mt.data<float>();
  auto pi = vi.data<int32_t>();
  auto po = o.data<float>();
  d.run([=] { place_tokens_cpu(pv, pi, pm, po, B, Nv, N, D); }, MVD_CUDA([=](const CudaLaunch& c) {
          void* scratch = c.scratch(place_tokens_cuda_scratch_bytes(B, N));
          place_tokens_cuda(pv, pi, pm, po, B, Nv, N, D, nullptr, scratch, c.stream());
        }));
  return output_to_js(info.Env(), o);
}
MVD_BINDING("placeTokens", PlaceTokens, "vis, visIdx, maskToken, n")

Napi::Value PlaceTokensBackward(const Napi::CallbackInfo& info) {
  const char* op = "placeTokensBackward";
  TensorArg dy = tensor_arg(op, info[0], "dy"), vi = tensor_arg(op, info[1], "visIdx");
  expect_tensors(op, {&dy}, {&vi});
  expect_ndim(op, dy, 3);
  expect_ndim(op, vi, 2);
  const std::vector<const TensorArg*> all{&dy, &vi};
  const int64_t B = dy.dim(0), N = dy.dim(1), D = dy.dim(2), Nv = vi.dim(1);
  if (vi.dim(0) != B) shape_error(op, "visIdx must be [B,Nv] with the batch of dy", all);
  if (Nv > N) shape_error(op, "more visible tokens than rows in dy", all);
  Dispatch d(op, {&dy});
  Output dv = d.output({B, Nv, D}, DType::F32), dm = d.output({D}, DType::F32);
  auto pd = dy.data<float>();
  auto pi = vi.data<int32_t>();
  auto pv = dv.data<float>(), pm = dm.data<float>();
  d.run([=] { place_tokens_backward_cpu(pd, pi, pv, pm, B, Nv, N, D); }, MVD_CUDA([=](const CudaLaunch& c) {
          void* scratch = c.scratch(place_tokens_backward_cuda_scratch_bytes(B, N, D));
          place_tokens_backward_cuda(pd, pi, pv, pm, B, Nv, N, D, nullptr, scratch, c.stream());
        }));
  return pair_to_js(info.Env(), dv, dm);
}
MVD_BINDING("placeTokensBackward", PlaceTokensBackward, "dy, visIdx")

}  // namespace

}  // namespace mvd
