// The device side of Dispatch and of the tensor copies: the only binding code that knows whether
// the build has CUDA.
#include "dispatch.h"

#include <cstring>

#if MVD_HAVE_CUDA
#include "../cuda/runtime.h"
#endif

namespace mvd {

WorkQueue& queue_for(const std::string& op, const Device& d) {
  if (d.kind == Device::CPU) return WorkQueue::cpu();
#if MVD_HAVE_CUDA
  cuda_require_device(op, d);
  return WorkQueue::cuda(d.index);
#else
  throw OpError(ErrorKind::Device, op,
                "this addon was built without CUDA (CMake found no nvcc), so " + d.str() + " cannot be used", "",
                d.str());
#endif
}

#if MVD_HAVE_CUDA
cudaStream_t CudaLaunch::stream() const { return cuda_stream(device); }
void* CudaLaunch::scratch(size_t bytes) const { return cuda_scratch(device, bytes); }
#endif

static Device common_device(const char* op, const std::vector<const TensorArg*>& tensors, Device fallback) {
  expect_same_device(op, tensors);
  for (const TensorArg* t : tensors)
    if (t->storage) return t->device;
  return fallback;
}

Dispatch::Dispatch(const char* op, std::vector<const TensorArg*> tensors, Launchers l, Device fallback) : op_(op) {
  if (l == Launchers::CpuOnly) expect_cpu(op, tensors);
  device_ = common_device(op, tensors, fallback);
  if (l == Launchers::CpuOnly && device_.kind != Device::CPU) no_launcher();
  queue_ = &queue_for(op, device_);
  for (const TensorArg* t : tensors) hold(t->storage);
}

Dispatch::Dispatch(const char* op, Device device, Launchers l) : op_(op), device_(device) {
  if (l == Launchers::CpuOnly && device_.kind != Device::CPU) no_launcher();
  queue_ = &queue_for(op, device_);
}

Output Dispatch::output(const std::vector<int64_t>& shape, DType dtype) {
  Output o = make_output(shape, dtype, device_);
  hold(o.storage);
  return o;
}

void Dispatch::no_launcher() const {
  throw OpError(ErrorKind::Device, op_,
                std::string("no CUDA implementation of ") + op_ + " (tensors are on " + device_.str() +
                    "; the family runs on the CPU only)",
                "", device_.str());
}

void copy_with_host(const Device& d, HostCopy dir, void* dst, const void* src, size_t bytes) {
  if (!bytes) return;
#if MVD_HAVE_CUDA
  // To the host, this synchronises the stream, so kernels queued before have finished.
  if (d.kind == Device::CUDA)
    return dir == HostCopy::ToDevice ? cuda_copy_from_host(d, dst, src, bytes) : cuda_copy_to_host(d, dst, src, bytes);
#else
  (void)dir;
#endif
  std::memcpy(dst, src, bytes);
}

void copy_within(const Device& d, void* dst, const void* src, size_t bytes) {
  if (!bytes || dst == src) return;
#if MVD_HAVE_CUDA
  if (d.kind == Device::CUDA) {
    auto* to = static_cast<uint8_t*>(dst);
    auto* from = static_cast<const uint8_t*>(src);
    if (to < from + bytes && from < to + bytes) {
      // Overlapping views of one storage: cudaMemcpy does not allow that, so go through a
      // temporary block (stream-ordered, so releasing it right away is safe).
      void* tmp = cuda_alloc(d, bytes);
      cuda_copy_on_device(d, tmp, from, bytes);
      cuda_copy_on_device(d, to, tmp, bytes);
      cuda_release(d, tmp, bytes);
      return;
    }
    return cuda_copy_on_device(d, dst, src, bytes);
  }
#endif
  std::memmove(dst, src, bytes);
}

void device_synchronize(const Device& d, const char* op) {
#if MVD_HAVE_CUDA
  if (d.kind == Device::CUDA) cuda_synchronize(d, op);
#else
  (void)d;
  (void)op;
#endif
}

void copy_bytes_now(const StoragePtr& dst, size_t doff, const StoragePtr& src, size_t soff, size_t bytes) {
  if (!bytes) return;
  uint8_t* d = static_cast<uint8_t*>(dst->data()) + doff;
  const uint8_t* s = static_cast<const uint8_t*>(src->data()) + soff;
  const Device& dd = dst->device();
  const Device& sd = src->device();
  if (dd.kind == Device::CPU && sd.kind == Device::CPU) {
    std::memmove(d, s, bytes);
    return;
  }
#if MVD_HAVE_CUDA
  if (sd.kind == Device::CPU) return cuda_copy_from_host(dd, d, s, bytes);
  if (dd.kind == Device::CPU) return cuda_copy_to_host(sd, d, s, bytes);
  if (dd == sd) {
    cuda_copy_on_device(dd, d, s, bytes);
    return cuda_synchronize(dd, "copy");
  }
  std::vector<uint8_t> host(bytes);  // between two GPUs: through the host, rarely used
  cuda_copy_to_host(sd, host.data(), s, bytes);
  cuda_copy_from_host(dd, d, host.data(), bytes);
#else
  throw OpError(ErrorKind::Device, "copy", "CUDA is not available in this build", "", dd.str());
#endif
}

}  // namespace mvd
