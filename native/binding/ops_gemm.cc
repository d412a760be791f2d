// gemm(A, B, {bias?, out?, transA?, transB?, alpha?, beta?, backend?, gelu?, packed?}) -> C, or [C, G]
// with gelu (C is `out` when given).
// A is [M,K] (or [K,M] with transA) and may carry leading batch dims that fold into M;
// B is [K,N] (or [N,K] with transB); bias is [N]. With C given, the result accumulates into it
// (beta scales the old contents) and C is returned; otherwise a new [...,M,N] tensor is made.
// backend 'portable' forces our blocked GEMM (benchmarks compare the two); default is the build's.
// gelu: C receives the pre-activation and a new tensor G of C's shape receives gelu(C), in the same
// pass (the MLP's fc1). On cuda:N tensors the tensor-core GEMM runs (backend must be 'auto').
// packed (optional): gemmPackWeights(B, transB) of this same B; CPU products then
// read op(B) from it (B itself is still needed for the products the packed path cannot serve).
//
// gemmPackWeights(B, transB, precision?) -> a 1-D f32 tensor holding op(B) packed for oneDNN, or
// null where B is not on the CPU or (fp32) the build cannot pack (no oneDNN pack API). 'bf16'
// rounds op(B) to bf16 in oneDNN's matmul layout, and is a DeviceError where this CPU or build
// cannot run it (bf16GemmSupport says why).
#include "../ops/gemm/gemm.h"
#include "args.h"
#include "bindings.h"
#include "dispatch.h"

namespace mvd {
namespace {

Napi::Value Gemm(const Napi::CallbackInfo& info) {
  const char* op = "gemm";
  TensorArg A = tensor_arg(op, info[0], "A");
  TensorArg B = tensor_arg(op, info[1], "B");
  Napi::Object opts = options_arg(op, info[2]);
  // An absent option reads as undefined: the default.
  auto flag = [&](const char* name) { return !opts.Get(name).IsUndefined() && bool_arg(op, opts.Get(name), name); };
  const Napi::Value out_js = opts.Get("out");
  TensorArg bias = optional_tensor_arg(op, opts.Get("bias"), "bias");
  TensorArg C = optional_tensor_arg(op, out_js, "C");
  GemmArgs g;
  g.trans_a = flag("transA");
  g.trans_b = flag("transB");
  g.alpha = opts.Get("alpha").IsUndefined() ? 1.f : (float)finite_arg(op, opts.Get("alpha"), "alpha");
  g.beta = opts.Get("beta").IsUndefined() ? 0.f : (float)finite_arg(op, opts.Get("beta"), "beta");
  const Napi::Value backend_js = opts.Get("backend");
  if (!backend_js.IsUndefined() && !backend_js.IsString())
    throw OpError(ErrorKind::Value, op, "backend must be a string ('auto', 'portable' or the build's CPU backend)");
  std::string backend = backend_js.IsString() ? backend_js.As<Napi::String>().Utf8Value() : "auto";
  if (backend != "auto" && backend != "portable" && backend != gemm_cpu_backend())
    throw OpError(ErrorKind::Value, op,
                  "backend '" + backend + "' is not in this build (have '" + gemm_cpu_backend() + "' and 'portable')");
  void (*kernel)(const GemmArgs&) = backend == "portable" ? gemm_portable : gemm_cpu;
  const bool want_gelu = flag("gelu");
  TensorArg packed = optional_tensor_arg(op, opts.Get("packed"), "packedB");
  std::vector<const TensorArg*> all{&A, &B, &bias, &C, &packed};
  for (auto* t : all)
    if (t->storage) expect_dtype(op, *t, DType::F32);
  expect_same_device(op, all);
  if (A.device.kind != Device::CPU && backend != "auto")
    throw OpError(ErrorKind::Value, op,
                  "backend '" + backend + "' is a CPU backend; " + A.device.str() + " tensors take 'auto'",
                  describe(all), A.device.str());
  if (A.ndim() < 2) throw OpError(ErrorKind::Shape, op, "A must have at least 2 dimensions", describe(all));
  if (g.trans_a && A.ndim() != 2) throw OpError(ErrorKind::Shape, op, "a transposed A must be 2-D", describe(all));
  expect_ndim(op, B, 2);
  const int64_t a_rows = leading_rows(A.shape);
  g.M = g.trans_a ? A.dim(-1) : a_rows;
  g.K = g.trans_a ? a_rows : A.dim(-1);
  int64_t kb = g.trans_b ? B.dim(1) : B.dim(0);
  g.N = g.trans_b ? B.dim(0) : B.dim(1);
  if (kb != g.K)
    throw OpError(ErrorKind::Shape, op,
                  "inner dimensions differ: op(A) is " + std::to_string(g.M) + "x" + std::to_string(g.K) +
                      ", op(B) is " + std::to_string(kb) + "x" + std::to_string(g.N),
                  describe(all), A.device.str());
  if (bias.storage && (bias.ndim() != 1 || bias.dim(0) != g.N))
    throw OpError(ErrorKind::Shape, op, "bias must be [N] = [" + std::to_string(g.N) + "]", describe(all),
                  A.device.str());
  if (packed.storage && (packed.ndim() != 1 || backend == "portable" || g.trans_a))
    throw OpError(ErrorKind::Value, op,
                  "packedB needs a 1-D buffer from gemmPackWeights, A not transposed and the "
                  "default backend",
                  describe(all), A.device.str());
  std::vector<int64_t> out_shape = g.trans_a ? std::vector<int64_t>{g.M, g.N} : A.shape;
  out_shape.back() = g.N;
  gemm_set_dense_strides(g);

  Dispatch d(op, all);
  // Accumulate into the caller's C, or allocate a fresh output.
  Output o;
  LazyPtr<float> pc;
  if (C.storage) {
    if (C.numel() != g.M * g.N || C.dim(-1) != g.N)
      throw OpError(ErrorKind::Shape, op, "C must hold M x N = " + std::to_string(g.M) + "x" + std::to_string(g.N),
                    describe(all), A.device.str());
    pc = C.data<float>();
  } else {
    if (g.beta != 0.f) throw OpError(ErrorKind::Value, op, "beta != 0 needs an existing C", describe(all));
    o = d.output(out_shape, DType::F32);
    pc = o.data<float>();
  }
  // The GELU output has C's shape and, like C, leading dimension N.
  Output go;
  if (want_gelu) go = d.output(C.storage ? C.shape : out_shape, DType::F32);
  auto pa = A.data<float>(), pb = B.data<float>(), pbias = bias.data<float>(), pg = go.data<float>();
  // A packed B's header is checked where it is read: the pack may still be queued now.
  auto pp = packed.data<float>();
  const int64_t floats = packed.numel();
  d.run(
      [=]() mutable {
        g.A = pa;
        g.B = pb;
        g.bias = pbias;
        g.C = pc;
        g.gelu_out = pg;
        if (pp) gemm_cpu_packed(g, pp, floats);
        else kernel(g);
      },
      MVD_CUDA([=](const CudaLaunch& c) mutable {
        g.A = pa;
        g.B = pb;
        g.bias = pbias;
        g.C = pc;
        g.gelu_out = pg;
        gemm_cuda(g, c.stream());
      }));
  Napi::Value c_js = C.storage ? out_js : Napi::Value(output_to_js(info.Env(), o));
  if (!want_gelu) return c_js;
  Napi::Array r = Napi::Array::New(info.Env(), 2);
  r.Set(0u, c_js);
  r.Set(1u, output_to_js(info.Env(), go));
  return r;
}
MVD_BINDING("gemm", Gemm, "A, B, {bias?, out?, transA?, transB?, alpha?, beta?, backend?, gelu?, packed?}")

// The precision argument of gemmPackWeights: 'fp32' (default) or 'bf16'.
bool bf16_precision(const char* op, const Napi::Value& v) {
  if (v.IsUndefined()) return false;
  const std::string p = v.IsString() ? v.As<Napi::String>().Utf8Value() : "";
  if (p != "fp32" && p != "bf16") throw OpError(ErrorKind::Value, op, "precision must be 'fp32' or 'bf16'");
  return p == "bf16";
}

Napi::Value GemmPackWeights(const Napi::CallbackInfo& info) {
  const char* op = "gemmPackWeights";
  TensorArg B = tensor_arg(op, info[0], "B");
  const bool trans_b = bool_arg(op, info[1], "transB");
  const bool bf16 = bf16_precision(op, info[2]);
  expect_dtype(op, B, DType::F32);
  expect_ndim(op, B, 2);
  if (B.device.kind != Device::CPU) return info.Env().Null();
  const int64_t N = trans_b ? B.dim(0) : B.dim(1), K = trans_b ? B.dim(1) : B.dim(0);
  // bf16 is asked for by name, so its absence is an error (fp32 packing is an optimisation: null).
  if (bf16 && !gemm_bf16_unavailable_reason().empty())
    throw OpError(ErrorKind::Device, op, "bf16 weights are not available here: " + gemm_bf16_unavailable_reason());
  const int blocks = bf16 ? 1 : gemm_pack_b_blocks(N);
  const int64_t floats = N == 0 || K == 0 ? 0
                         : bf16           ? gemm_pack_b_bf16_floats(N, K)
                                          : gemm_pack_b_floats(N, K, trans_b, blocks);
  if (floats == 0) {
    if (bf16) throw OpError(ErrorKind::Shape, op, "bf16 weights need N and K of at least 1", describe({&B}));
    return info.Env().Null();
  }
  Dispatch d(op, {&B}, kCpuOnly);
  Output o = d.output({floats}, DType::F32);
  auto pb = B.data<float>();
  auto pdst = o.data<float>();
  const int64_t ldb = trans_b ? K : N;
  if (bf16) d.run([=] { gemm_pack_b_bf16(pb, ldb, trans_b, N, K, pdst, floats); });
  else d.run([=] { gemm_pack_b(pb, ldb, trans_b, N, K, blocks, pdst, floats); });
  return output_to_js(info.Env(), o);
}
MVD_BINDING("gemmPackWeights", GemmPackWeights, "B, transB, precision?")

// gemmPacked(A, packed, {n, k, transB, bias?, gelu?}) -> C, or [C, G] with gelu: C = A·op(B) + bias
// with op(B) ([k, n]) read from a gemmPackWeights buffer alone (either precision), for layers
// whose plain weights were released. n, k and transB are what the caller packed (the header is
// written on the queue, so it is checked against them where the product runs).
Napi::Value GemmPacked(const Napi::CallbackInfo& info) {
  const char* op = "gemmPacked";
  TensorArg A = tensor_arg(op, info[0], "A");
  TensorArg packed = tensor_arg(op, info[1], "packed");
  Napi::Object opts = options_arg(op, info[2]);
  TensorArg bias = optional_tensor_arg(op, opts.Get("bias"), "bias");
  const bool want_gelu = !opts.Get("gelu").IsUndefined() && bool_arg(op, opts.Get("gelu"), "gelu");
  GemmArgs g;
  g.N = int_arg(op, opts.Get("n"), "n", 1);
  g.K = int_arg(op, opts.Get("k"), "k", 1);
  g.trans_b = bool_arg(op, opts.Get("transB"), "transB");
  std::vector<const TensorArg*> all{&A, &packed, &bias};
  for (auto* t : all)
    if (t->storage) expect_dtype(op, *t, DType::F32);
  expect_same_device(op, all);
  expect_ndim(op, packed, 1);
  if (A.ndim() < 2) throw OpError(ErrorKind::Shape, op, "A must have at least 2 dimensions", describe(all));
  if (A.dim(-1) != g.K)
    throw OpError(
        ErrorKind::Shape, op,
        "A's last dimension is " + std::to_string(A.dim(-1)) + ", the packed weights' K is " + std::to_string(g.K),
        describe(all));
  if (bias.storage && (bias.ndim() != 1 || bias.dim(0) != g.N))
    throw OpError(ErrorKind::Shape, op, "bias must be [N] = [" + std::to_string(g.N) + "]", describe(all));
  g.M = leading_rows(A.shape);
  gemm_set_dense_strides(g);
  std::vector<int64_t> out_shape = A.shape;
  out_shape.back() = g.N;
  Dispatch d(op, all, kCpuOnly);
  Output o = d.output(out_shape, DType::F32);
  Output go;
  if (want_gelu) go = d.output(out_shape, DType::F32);
  auto pa = A.data<float>(), pbias = bias.data<float>(), pc = o.data<float>(), pg = go.data<float>();
  auto pp = packed.data<float>();
  const int64_t floats = packed.numel();
  d.run([=]() mutable {
    g.A = pa;
    g.B = nullptr;
    g.bias = pbias;
    g.C = pc;
    g.gelu_out = pg;
    gemm_cpu_packed(g, pp, floats);
  });
  if (!want_gelu) return output_to_js(info.Env(), o);
  return outputs_to_js(info.Env(), {&o, &go});
}
MVD_BINDING("gemmPacked", GemmPacked, "A, packed, {n, k, transB, bias?, gelu?}")

// bf16GemmSupport() -> '' where bf16 weights can be packed here, else why not.
Napi::Value Bf16GemmSupport(const Napi::CallbackInfo& info) {
  return Napi::String::New(info.Env(), gemm_bf16_unavailable_reason());
}
MVD_BINDING("bf16GemmSupport", Bf16GemmSupport, "")

}  // namespace

}  // namespace mvd
