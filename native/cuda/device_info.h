// What the CUDA side of the build can see. Never throws: with no driver or no device it says why.
#pragma once
#include <string>
#include <vector>

namespace mvd {

struct CudaDeviceInfo {
  int index;
  std::string name;
  int cc_major, cc_minor;
  size_t total_mem;
  int multiprocessors;
};

struct CudaInfo {
  bool compiled = false;        // the addon contains CUDA code
  std::string archs;            // CMAKE_CUDA_ARCHITECTURES it was built for
  std::string runtime_version;  // CUDA runtime linked into the addon
  int driver_version = 0;       // 0 when no driver
  std::vector<CudaDeviceInfo> devices;
  std::string reason;  // why there are no devices (CUDA error name + text), else empty
};

CudaInfo cuda_info();

}  // namespace mvd
