// Device memory owned by shared_ptr: a tensor handle and every queued op that reads or writes the
// storage each hold a reference, so dispose() on the JS side never frees memory an op still uses.
#pragma once
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

namespace mvd {

enum class DType : int { F32 = 0, BF16 = 1, U8 = 2, I32 = 3 };

size_t dtype_size(DType d);
const char* dtype_name(DType d);
bool parse_dtype(const std::string& s, DType* out);

struct Device {
  enum Kind { CPU = 0, CUDA = 1 } kind = CPU;
  int index = 0;
  std::string str() const;
  bool operator==(const Device& o) const { return kind == o.kind && index == o.index; }
  bool operator!=(const Device& o) const { return !(*this == o); }
};

bool parse_device(const std::string& s, Device* out);

// CPU storage comes from a caching host allocator; CUDA storage (builds with MVD_HAVE_CUDA) from
// the caching device allocator in native/cuda/runtime.h, so data() is then a device pointer.
//
// CPU memory is allocated on the first data() call, from whichever thread makes it: an op's output
// is then allocated when the worker runs the op, not when the JS thread enqueues it, so memory in
// use follows the worker's position in the queue as in synchronous execution, however far ahead
// the JS thread runs (docs/ARCHITECTURE.md, "Execution model"). CUDA memory stays eager.
class Storage {
 public:
  Storage(Device device, size_t bytes);
  ~Storage();
  Storage(const Storage&) = delete;
  Storage& operator=(const Storage&) = delete;

  // Allocates CPU memory on first use (thread-safe); throws OpError (NativeError) when the OS refuses.
  void* data() const {
    void* p = data_.load(std::memory_order_acquire);
    return p ? p : allocate();
  }
  // Whether the memory exists yet (tests of the lazy allocation).
  bool allocated() const { return data_.load(std::memory_order_acquire) != nullptr; }
  size_t bytes() const { return bytes_; }
  const Device& device() const { return device_; }

  // Total bytes currently held by all CPU storages (for `mvd info`, leak checks in tests).
  static int64_t live_bytes();
  // The same for CUDA storages (all devices).
  static int64_t device_live_bytes();
  // Bytes held by the caching allocators (host, and CUDA devices) for reuse (not live);
  // trim_cache() returns them to the OS / driver.
  static int64_t cached_bytes();
  static void trim_cache();

 private:
  void* allocate() const;
  Device device_;
  size_t bytes_;
  mutable std::atomic<void*> data_{nullptr};
};

using StoragePtr = std::shared_ptr<Storage>;

}  // namespace mvd
