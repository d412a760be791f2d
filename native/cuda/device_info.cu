// What CUDA sees (devices, versions), for gpuInfo(). Under the SIMT build the emulator answers
// (one device, "mvd SIMT emulator").
#include "simt/simt.h"

#include "build_config.h"
#include "device_info.h"

namespace mvd {

// Touch a trivial kernel so the fatbinary really holds device code for every listed architecture.
__global__ void mvd_probe_kernel(int* out) {
  if (out) *out = 1;
}

CudaInfo cuda_info() {
  CudaInfo info;
  info.compiled = true;
  info.archs = MVD_CUDA_ARCHS;
  int rt = 0;
  if (cudaRuntimeGetVersion(&rt) == cudaSuccess)
    info.runtime_version = std::to_string(rt / 1000) + "." + std::to_string((rt % 1000) / 10);
  int drv = 0;
  if (cudaDriverGetVersion(&drv) == cudaSuccess) info.driver_version = drv;
  int n = 0;
  cudaError_t err = cudaGetDeviceCount(&n);
  if (err != cudaSuccess) {
    info.reason = std::string(cudaGetErrorName(err)) + ": " + cudaGetErrorString(err);
    cudaGetLastError();  // clear, so later calls do not see a stale error
    return info;
  }
  if (n == 0) info.reason = "cudaGetDeviceCount returned 0 devices";
  for (int i = 0; i < n; ++i) {
    cudaDeviceProp p{};
    if (cudaGetDeviceProperties(&p, i) != cudaSuccess) continue;
    info.devices.push_back(CudaDeviceInfo{i, p.name, p.major, p.minor, p.totalGlobalMem, p.multiProcessorCount});
  }
  return info;
}

}  // namespace mvd
