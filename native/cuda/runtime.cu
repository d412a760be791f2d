// Streams, scratch, the caching device allocator and pinned staging (runtime.h). A .cu file so the
// nvcc build and the SIMT build (g++ against native/simt/) compile the same code.
#include "simt/simt.h"

#include <algorithm>
#include <cstring>
#include <map>
#include <mutex>
#include <vector>

#include "core/errors.h"
#include "cuda/device_info.h"
#include "cuda/runtime.h"

namespace mvd {
namespace {

constexpr int kMaxDevices = 64;  // parse_device's limit
constexpr size_t kStagingChunk = size_t(32) << 20;

struct DeviceState {
  std::mutex stream_m;
  cudaStream_t stream = nullptr;
  std::mutex scratch_m;
  void* scratch = nullptr;
  size_t scratch_bytes = 0;
  std::mutex staging_m;
  void* staging = nullptr;
  size_t staging_bytes = 0;
  std::mutex cache_m;
  std::map<size_t, std::vector<void*>> free_blocks;
  size_t cached = 0;
};

DeviceState& state(int index) {
  static DeviceState* s = new DeviceState[kMaxDevices];  // leaked: storages may outlive statics
  return s[index];
}

bool is_device_kind(cudaError_t e) {
  return e == cudaErrorNoDevice || e == cudaErrorInsufficientDriver || e == cudaErrorInvalidDevice ||
         e == cudaErrorDevicesUnavailable || e == cudaErrorSystemDriverMismatch ||
         e == cudaErrorCompatNotSupportedOnDevice;
}

// Blocks of similar size share a class, so activations whose shapes vary slightly still reuse.
// Under the emulator classes are exact sizes, so AddressSanitizer still sees every overrun.
size_t size_class(size_t bytes) {
  size_t b = bytes ? bytes : 1;
#if MVD_SIMT
  return b;
#else
  const size_t small = 512, large = size_t(1) << 20;
  return b <= large ? (b + small - 1) / small * small : (b + large - 1) / large * large;
#endif
}

void set_device(const Device& d, const char* op) {
  if (d.kind != Device::CUDA || d.index < 0 || d.index >= kMaxDevices)
    throw OpError(ErrorKind::Device, op, "not a CUDA device", "", d.str());
  cuda_check(cudaSetDevice(d.index), op);
}

void trim_device(DeviceState& s, int index) {
  std::lock_guard<std::mutex> lk(s.cache_m);
  if (s.free_blocks.empty()) return;
  cudaSetDevice(index);
  for (auto& [size, list] : s.free_blocks)
    for (void* p : list) cudaFree(p);
  s.free_blocks.clear();
  s.cached = 0;
}

// Host<->device through the device's pinned buffer, chunk by chunk.
template <typename Step>
void staged(const Device& d, size_t bytes, const char* op, Step step) {
  DeviceState& s = state(d.index);
  cudaStream_t stream = cuda_stream(d);
  std::lock_guard<std::mutex> lk(s.staging_m);
  size_t want = std::min(bytes, kStagingChunk);
  if (s.staging_bytes < want) {
    if (s.staging) cudaFreeHost(s.staging);
    s.staging = nullptr;
    s.staging_bytes = 0;
    cuda_check(cudaMallocHost(&s.staging, want), op);
    s.staging_bytes = want;
  }
  for (size_t off = 0; off < bytes; off += s.staging_bytes) {
    size_t n = std::min(s.staging_bytes, bytes - off);
    step(s.staging, off, n, stream);
  }
}

}  // namespace

void cuda_check(cudaError_t err, const char* op) {
  if (err == cudaSuccess) return;
  cudaGetLastError();  // the failed call also set the sticky error; it is reported here
  std::string msg = std::string(cudaGetErrorName(err)) + ": " + cudaGetErrorString(err);
#if MVD_SIMT
  std::string detail = simt::last_launch_detail();
  if (!detail.empty()) msg += " (" + detail + ")";
#endif
  throw OpError(is_device_kind(err) ? ErrorKind::Device : ErrorKind::Native, op, msg);
}

int cuda_device_count(std::string* reason) {
  // Asked once: the answer does not change while the process runs, and asking costs a driver call.
  static const CudaInfo info = cuda_info();
  if (reason) *reason = info.reason;
  return (int)info.devices.size();
}

void cuda_require_device(const std::string& op, const Device& d) {
  std::string reason;
  int n = cuda_device_count(&reason);
  if (d.kind != Device::CUDA) return;
  if (n == 0) throw OpError(ErrorKind::Device, op, "no CUDA device is available: " + reason, "", d.str());
  if (d.index >= n)
    throw OpError(ErrorKind::Device, op,
                  d.str() + " does not exist (" + std::to_string(n) + " CUDA device" + (n == 1 ? "" : "s") + ")", "",
                  d.str());
}

cudaStream_t cuda_stream(const Device& d) {
  set_device(d, "cudaStream");
  DeviceState& s = state(d.index);
  std::lock_guard<std::mutex> lk(s.stream_m);
  // Non-blocking: the legacy default stream must not serialise against our work (and the
  // emulator's synchronous stream behaves the same either way).
  if (!s.stream) cuda_check(cudaStreamCreateWithFlags(&s.stream, cudaStreamNonBlocking), "cudaStreamCreate");
  return s.stream;
}

void* cuda_scratch(const Device& d, size_t bytes) {
  DeviceState& s = state(d.index);
  std::lock_guard<std::mutex> lk(s.scratch_m);
  if (s.scratch_bytes >= bytes && s.scratch) return s.scratch;
  set_device(d, "cudaScratch");
  if (s.scratch) {
    // The old buffer may still be read by queued kernels: free it in stream order.
    cuda_check(cudaStreamSynchronize(cuda_stream(d)), "cudaScratch");
    cudaFree(s.scratch);
    s.scratch = nullptr;
    s.scratch_bytes = 0;
  }
  size_t grow = std::max<size_t>(bytes ? bytes : 1, 1 << 20);
  cuda_check(cudaMalloc(&s.scratch, grow), "cudaScratch");
  s.scratch_bytes = grow;
  return s.scratch;
}

void* cuda_alloc(const Device& d, size_t bytes) {
  set_device(d, "alloc");
  DeviceState& s = state(d.index);
  const size_t cls = size_class(bytes);
  {
    std::lock_guard<std::mutex> lk(s.cache_m);
    auto it = s.free_blocks.find(cls);
    if (it != s.free_blocks.end() && !it->second.empty()) {
      void* p = it->second.back();
      it->second.pop_back();
      s.cached -= cls;
      return p;
    }
  }
  void* p = nullptr;
  cudaError_t err = cudaMalloc(&p, cls);
  if (err == cudaErrorMemoryAllocation) {  // give the cache back and try once more
    cudaGetLastError();
    trim_device(s, d.index);
    err = cudaMalloc(&p, cls);
  }
  if (err == cudaErrorMemoryAllocation) {
    cudaGetLastError();
    throw OpError(ErrorKind::Native, "alloc", "out of device memory allocating " + std::to_string(bytes) + " bytes", "",
                  d.str());
  }
  cuda_check(err, "alloc");
  return p;
}

void cuda_release(const Device& d, void* p, size_t bytes) {
  if (!p) return;
  DeviceState& s = state(d.index);
  const size_t cls = size_class(bytes);
  std::lock_guard<std::mutex> lk(s.cache_m);
  s.free_blocks[cls].push_back(p);
  s.cached += cls;
}

int64_t cuda_cached_bytes() {
  int64_t total = 0;
  for (int i = 0; i < kMaxDevices; ++i) {
    DeviceState& s = state(i);
    std::lock_guard<std::mutex> lk(s.cache_m);
    total += (int64_t)s.cached;
  }
  return total;
}

void cuda_trim_cache() {
  for (int i = 0; i < kMaxDevices; ++i) trim_device(state(i), i);
}

void cuda_copy_from_host(const Device& d, void* dst, const void* src, size_t bytes) {
  if (!bytes) return;
  staged(d, bytes, "copyToDevice", [&](void* stage, size_t off, size_t n, cudaStream_t stream) {
    std::memcpy(stage, static_cast<const char*>(src) + off, n);
    cuda_check(cudaMemcpyAsync(static_cast<char*>(dst) + off, stage, n, cudaMemcpyHostToDevice, stream),
               "copyToDevice");
    cuda_check(cudaStreamSynchronize(stream), "copyToDevice");  // before the stage is refilled
  });
}

void cuda_copy_to_host(const Device& d, void* dst, const void* src, size_t bytes) {
  if (!bytes) return;
  staged(d, bytes, "copyToHost", [&](void* stage, size_t off, size_t n, cudaStream_t stream) {
    cuda_check(cudaMemcpyAsync(stage, static_cast<const char*>(src) + off, n, cudaMemcpyDeviceToHost, stream),
               "copyToHost");
    cuda_check(cudaStreamSynchronize(stream), "copyToHost");
    std::memcpy(static_cast<char*>(dst) + off, stage, n);
  });
}

void cuda_copy_on_device(const Device& d, void* dst, const void* src, size_t bytes) {
  if (!bytes) return;
  cuda_check(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToDevice, cuda_stream(d)), "copy");
}

void cuda_memset(const Device& d, void* dst, int value, size_t bytes) {
  if (!bytes) return;
  cuda_check(cudaMemsetAsync(dst, value, bytes, cuda_stream(d)), "memset");
}

void cuda_synchronize(const Device& d, const char* op) { cuda_check(cudaStreamSynchronize(cuda_stream(d)), op); }

}  // namespace mvd
