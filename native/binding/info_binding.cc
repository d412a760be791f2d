// Build facts and devices, for `mvd info` and gpuInfo().
#include "../core/cpu_features.h"
#include "../core/isa.h"
#include "../cuda/device_info.h"
#include "../dist/collectives.h"
#include "../ops/gemm/gemm.h"
#include "args.h"
#include "bindings.h"
#include "build_config.h"

namespace mvd {
namespace {

Napi::Value BuildInfo(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object o = Napi::Object::New(env);
  o.Set("addonVersion", MVD_VERSION);
  o.Set("napiVersion", NAPI_VERSION);
  o.Set("compiler", MVD_COMPILER);
  o.Set("buildType", MVD_BUILD_TYPE);
  o.Set("buildSystem", MVD_BUILD_SYSTEM);
  o.Set("cpuFeaturesCompiled", cpu_features_compiled());
  o.Set("cpuFeaturesRuntime", cpu_features_runtime());
  o.Set("cpuThreads", cpu_threads());
  o.Set("cpuIsaVariants", cpu_isa_variants());
  o.Set("cpuIsa", cpu_isa_name());
  o.Set("gemmBackend", gemm_cpu_backend());
  o.Set("gemmBackendDetail", MVD_GEMM_DETAIL);
  CudaInfo ci = cuda_info();
  o.Set("cudaCompiled", ci.compiled);
  o.Set("cudaArchitectures", ci.archs);
  o.Set("cudaRuntime", ci.runtime_version);
  o.Set("mpi", MVD_MPI_DETAIL);
  o.Set("mpiCompiled", dist::mpi_compiled());
  o.Set("cudaCollectives", dist::cuda_collectives_path());
  return o;
}
MVD_BINDING("buildInfo", BuildInfo, "")

Napi::Value GpuInfo(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  CudaInfo ci = cuda_info();
  Napi::Object o = Napi::Object::New(env);
  o.Set("compiled", ci.compiled);
  o.Set("architectures", ci.archs);
  o.Set("runtimeVersion", ci.runtime_version);
  o.Set("driverVersion", ci.driver_version);
  Napi::Array devs = Napi::Array::New(env, ci.devices.size());
  for (size_t i = 0; i < ci.devices.size(); ++i) {
    const CudaDeviceInfo& d = ci.devices[i];
    Napi::Object x = Napi::Object::New(env);
    x.Set("index", d.index);
    x.Set("name", d.name);
    x.Set("computeCapability", std::to_string(d.cc_major) + "." + std::to_string(d.cc_minor));
    x.Set("totalMemoryBytes", (double)d.total_mem);
    x.Set("multiprocessors", d.multiprocessors);
    devs.Set(i, x);
  }
  o.Set("devices", devs);
  o.Set("reason", ci.reason);
  return o;
}
// gpuInfo never throws: cuda_info() catches every CUDA failure and reports it as `reason`.
MVD_BINDING("gpuInfo", GpuInfo, "")

// setCpuIsa('avx2' | 'avx512' | 'auto') -> boolean: which build of the *_isa.cc kernels runs
// (tests compare the two; MVD_CPU_ISA=avx2 does the same for a whole process).
Napi::Value SetCpuIsa(const Napi::CallbackInfo& info) {
  if (info.Length() < 1 || !info[0].IsString())
    throw OpError(ErrorKind::Value, "setCpuIsa", "expects 'avx2', 'avx512' or 'auto'");
  // Ops read the level when they run, so ops still queued may run on either build (both correct).
  return Napi::Boolean::New(info.Env(), set_cpu_isa(info[0].As<Napi::String>().Utf8Value()));
}
MVD_BINDING("setCpuIsa", SetCpuIsa, "isa")

}  // namespace

}  // namespace mvd
