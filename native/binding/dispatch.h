// The one place an op binding meets the devices. A binding declares its tensors once:
//
//   Dispatch d("gelu", {&x});                  // same device for all; that device's queue exists
//   Output y = d.output(x.shape, DType::F32);  // on that device, kept alive by the queued op
//   auto px = x.data<float>();                 // LazyPtr: resolved inside the closure, on the worker
//   auto py = y.data<float>();
//   d.run([=] { gelu_cpu(px, py, n); },
//         MVD_CUDA([=](const CudaLaunch& c) { gelu_cuda(px, py, n, c.stream()); }));
//
// run() enqueues the CPU closure or the CUDA launcher for the tensors' device. The queued op holds
// every declared tensor's and output's storage, so a pointer the closure resolves cannot outlive
// its memory even where it is not a LazyPtr. A family without a CUDA launcher passes kCpuOnly to
// the constructor and CUDA tensors are a DeviceError naming the op and the device before anything
// is allocated. MVD_CUDA(...) drops the launcher from builds without CUDA (where its declarations
// do not exist); MVD_IF_CUDA(...) does the same for a statement that names a launcher's limits.
// These are the only build switches a binding needs.
#pragma once
#include <type_traits>
#include <utility>
#include <vector>

#include "../cuda/stream.h"
#include "args.h"

namespace mvd {

struct NoCudaLauncher {};

#if MVD_HAVE_CUDA
#define MVD_CUDA(...) __VA_ARGS__
#define MVD_IF_CUDA(...) __VA_ARGS__
#else
#define MVD_CUDA(...) \
  ::mvd::NoCudaLauncher {}
#define MVD_IF_CUDA(...)
#endif

// What a CUDA launcher is handed: its device's stream and scratch (native/cuda/runtime.h).
struct CudaLaunch {
  Device device;
  cudaStream_t stream() const;
  void* scratch(size_t bytes) const;
};

enum class Launchers { CpuAndCuda, CpuOnly };
constexpr Launchers kCpuOnly = Launchers::CpuOnly;

class Dispatch {
 public:
  // Null optional tensors (storage == nullptr) are skipped. With no tensor at all the op runs on
  // `fallback` (ops that only create outputs).
  Dispatch(const char* op, std::vector<const TensorArg*> tensors, Launchers l = Launchers::CpuAndCuda,
           Device fallback = Device());
  // An op whose device comes from an argument rather than from a tensor (tables, random init).
  Dispatch(const char* op, Device device, Launchers l = Launchers::CpuAndCuda);

  const Device& device() const { return device_; }
  const char* op() const { return op_; }
  // A new tensor on the op's device, held by the queued op.
  Output output(const std::vector<int64_t>& shape, DType dtype);
  // Holds another storage until the queued op has run (a tensor read through a raw pointer list).
  void hold(const StoragePtr& s) {
    if (s) keep_.push_back(s);
  }

  template <class Cpu, class Cuda>
  void run(Cpu cpu, Cuda cuda) {
    if (device_.kind == Device::CUDA) {
      if constexpr (std::is_same_v<Cuda, NoCudaLauncher>) {
        no_launcher();
      } else {
        queue_->enqueue(
            op_, [cuda = std::move(cuda), c = CudaLaunch{device_}, keep = std::move(keep_)]() mutable { cuda(c); });
      }
      return;
    }
    queue_->enqueue(op_, [cpu = std::move(cpu), keep = std::move(keep_)]() mutable { cpu(); });
  }
  template <class Cpu>
  void run(Cpu cpu) {
    run(std::move(cpu), NoCudaLauncher{});
  }

 private:
  [[noreturn]] void no_launcher() const;
  const char* op_;
  Device device_;
  WorkQueue* queue_;
  std::vector<StoragePtr> keep_;
};

// Byte copies between storages of any devices, for the tensor bindings (tensor_binding.cc).
// Now, on the calling thread; the caller makes sure no queued op still writes src or reads dst.
void copy_bytes_now(const StoragePtr& dst, size_t doff, const StoragePtr& src, size_t soff, size_t bytes);
// Host memory into memory of device `d`, or back (a plain memcpy on the CPU). To the host from
// CUDA it waits for the device's stream first.
enum class HostCopy { ToDevice, ToHost };
void copy_with_host(const Device& d, HostCopy dir, void* dst, const void* src, size_t bytes);
// Within one device's memory; the ranges may overlap. Call on the device's queue.
void copy_within(const Device& d, void* dst, const void* src, size_t bytes);
// Waits until the device has finished what was issued to it (nothing to wait for on the CPU).
void device_synchronize(const Device& d, const char* op);

}  // namespace mvd
