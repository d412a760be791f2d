#include "device_info.h"

namespace mvd {

CudaInfo cuda_info() {
  CudaInfo info;
  info.compiled = false;
  info.reason = "this addon was built without CUDA (CMake found no nvcc); rebuild on a machine with the CUDA toolkit";
  return info;
}

}  // namespace mvd
