// The CUDA side of mvd's runtime: one stream per device, launcher scratch, a caching device
// allocator, pinned staging for host<->device copies, and error checks that throw OpError.
// The plain-C++ part needs no CUDA header (storage.cc and the bindings include it); cuda_check and
// MVD_CUDA_CHECK_LAUNCH appear when cuda_runtime.h (or simt/simt.h) was included first.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>

#include "../core/storage.h"
#include "stream.h"

namespace mvd {

// Number of usable CUDA devices (0 without a driver or device); `reason` says why when 0.
int cuda_device_count(std::string* reason = nullptr);
// Throws OpError(Device) naming gpuInfo's reason unless `d` is a usable CUDA device.
void cuda_require_device(const std::string& op, const Device& d);

// The device's one stream (non-blocking, created on first use). Also makes `d` the calling
// thread's current device, so a launcher may call it first and then launch.
cudaStream_t cuda_stream(const Device& d);

// Per-device scratch for launchers (grow-only). Valid until the next call for the same device;
// since every op of a device runs in order on its queue and stream, an op's launcher may use it
// for the whole op. Pass the launcher's *_cuda_scratch_bytes().
void* cuda_scratch(const Device& d, size_t bytes);

// Device memory through the caching allocator: freed blocks are kept by size class and handed
// out again, so a training step makes no cudaMalloc once warm. Reuse is safe without events
// because every use of a device's memory is ordered on that device's one stream.
void* cuda_alloc(const Device& d, size_t bytes);
void cuda_release(const Device& d, void* p, size_t bytes);
// Bytes kept for reuse on all devices, and returning them (cudaFree, which synchronises).
int64_t cuda_cached_bytes();
void cuda_trim_cache();

// Copies ordered on the device's stream. Host copies go through a pinned staging buffer and
// return when the host side is complete; the device-to-device copy is asynchronous.
void cuda_copy_from_host(const Device& d, void* dst, const void* src, size_t bytes);
void cuda_copy_to_host(const Device& d, void* dst, const void* src, size_t bytes);
void cuda_copy_on_device(const Device& d, void* dst, const void* src, size_t bytes);
void cuda_memset(const Device& d, void* dst, int value, size_t bytes);
// Waits for everything issued to the device's stream; a failure becomes an OpError for `op`.
void cuda_synchronize(const Device& d, const char* op);

}  // namespace mvd

#if defined(CUDART_VERSION)
namespace mvd {
// Throws OpError for a failed CUDA call: ErrorKind::Device when there is no driver or device,
// Native otherwise; the message has the CUDA error name and text (and the emulator's detail).
void cuda_check(cudaError_t err, const char* op);
}  // namespace mvd
#ifndef MVD_CUDA_CHECK_LAUNCH
#define MVD_CUDA_CHECK_LAUNCH(op) ::mvd::cuda_check(cudaGetLastError(), op)
#endif
#endif
