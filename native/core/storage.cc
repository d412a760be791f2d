#include "storage.h"

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <unordered_map>
#include <vector>

#include "errors.h"
#if MVD_HAVE_CUDA
#include "../cuda/runtime.h"
#endif

namespace mvd {

static std::atomic<int64_t> g_live_bytes{0};
static std::atomic<int64_t> g_device_live_bytes{0};

namespace {

// A caching host allocator. A training step allocates the same activation shapes every step; with
// plain malloc/free, glibc returns large blocks to the OS on free and every call page-faults and
// zeroes them again (measured: LayerNorm fwd+bwd at [3136,768] 12.5 ms with fresh memory vs
// 2.4 ms reused). Freed blocks are kept by exact rounded size, up to a cap, and handed out again.
// The cap follows the working set: cached bytes may reach max(256 MB, high-water mark of bytes in
// use minus bytes in use now), and blocks of other sizes are evicted first to keep the one just
// released. A fixed
// 256 MB was too small once run-ahead keeps up to 16 large outputs in flight (16 × 19 MB patchify
// outputs): blocks over the cap went back to glibc, were faulted in again, and the op ran 50×
// slower in half the runs (bench/NOTES.md "Host cache cap"). MVD_HOST_CACHE_MB fixes the cap.
class HostCache {
 public:
  static HostCache& get() {
    static HostCache* c = new HostCache();  // leaked on purpose: storages may outlive statics
    return *c;
  }
  void* alloc(size_t rounded) {
    {
      std::lock_guard<std::mutex> lk(m_);
      auto it = free_.find(rounded);
      if (it != free_.end() && !it->second.empty()) {
        void* p = it->second.back();
        it->second.pop_back();
        cached_ -= rounded;
        in_use(rounded);
        return p;
      }
    }
    void* p = std::aligned_alloc(64, rounded);
    if (!p) {  // out of memory: drop the cache and try once more
      trim();
      p = std::aligned_alloc(64, rounded);
    }
    if (p) {
      std::lock_guard<std::mutex> lk(m_);
      in_use(rounded);
    }
    return p;
  }
  void release(void* p, size_t rounded) {
    std::lock_guard<std::mutex> lk(m_);
    used_ -= rounded;
    // Cached bytes allowed: the floor, or (without MVD_HOST_CACHE_MB) whatever keeps in-use +
    // cached within the high-water mark, so the process never holds more than it needed at once.
    const size_t budget = fixed_ ? limit_ : std::max(limit_, peak_used_ - std::min(peak_used_, used_));
    // Sizes of an earlier phase (another shape) give way to the one being released now: it is
    // the working set's, the others may never be asked for again.
    for (auto it = free_.begin(); cached_ + rounded > budget && it != free_.end(); ++it) {
      if (it->first == rounded) continue;
      while (!it->second.empty() && cached_ + rounded > budget) {
        std::free(it->second.back());
        it->second.pop_back();
        cached_ -= it->first;
      }
    }
    if (cached_ + rounded <= budget) {
      free_[rounded].push_back(p);
      cached_ += rounded;
      return;
    }
    std::free(p);
  }
  void trim() {
    std::lock_guard<std::mutex> lk(m_);
    for (auto& [size, list] : free_)
      for (void* p : list) std::free(p);
    free_.clear();
    cached_ = 0;
  }
  size_t cached() {
    std::lock_guard<std::mutex> lk(m_);
    return cached_;
  }

 private:
  HostCache() {
    const char* env = std::getenv("MVD_HOST_CACHE_MB");
    fixed_ = env != nullptr;
    limit_ = (size_t)(env ? std::atof(env) : 256.0) * 1024 * 1024;
  }
  // Caller holds m_.
  void in_use(size_t rounded) {
    used_ += rounded;
    peak_used_ = std::max(peak_used_, used_);
  }
  std::mutex m_;
  std::unordered_map<size_t, std::vector<void*>> free_;
  size_t cached_ = 0, limit_ = 0, used_ = 0, peak_used_ = 0;
  bool fixed_ = false;
};

// Small blocks round to a cache line, large ones to a page, so similar shapes share blocks.
size_t rounded_size(size_t bytes) {
  size_t b = bytes ? bytes : 1;
  return b < 65536 ? (b + 63) / 64 * 64 : (b + 4095) / 4096 * 4096;
}

}  // namespace

int64_t Storage::cached_bytes() {
#if MVD_HAVE_CUDA
  return (int64_t)HostCache::get().cached() + cuda_cached_bytes();
#else
  return (int64_t)HostCache::get().cached();
#endif
}
void Storage::trim_cache() {
  HostCache::get().trim();
#if MVD_HAVE_CUDA
  cuda_trim_cache();
#endif
}

size_t dtype_size(DType d) {
  switch (d) {
    case DType::F32:
      return 4;
    case DType::BF16:
      return 2;
    case DType::U8:
      return 1;
    case DType::I32:
      return 4;
  }
  return 0;
}

const char* dtype_name(DType d) {
  switch (d) {
    case DType::F32:
      return "f32";
    case DType::BF16:
      return "bf16";
    case DType::U8:
      return "u8";
    case DType::I32:
      return "i32";
  }
  return "?";
}

bool parse_dtype(const std::string& s, DType* out) {
  if (s == "f32") *out = DType::F32;
  else if (s == "bf16") *out = DType::BF16;
  else if (s == "u8") *out = DType::U8;
  else if (s == "i32") *out = DType::I32;
  else return false;
  return true;
}

std::string Device::str() const { return kind == CPU ? "cpu" : "cuda:" + std::to_string(index); }

bool parse_device(const std::string& s, Device* out) {
  if (s == "cpu") {
    *out = Device{Device::CPU, 0};
    return true;
  }
  if (s.rfind("cuda", 0) == 0) {
    if (s == "cuda") {
      *out = Device{Device::CUDA, 0};
      return true;
    }
    if (s.size() > 5 && s[4] == ':') {
      char* end = nullptr;
      long idx = std::strtol(s.c_str() + 5, &end, 10);
      if (*end == '\0' && idx >= 0 && idx < 64) {
        *out = Device{Device::CUDA, (int)idx};
        return true;
      }
    }
  }
  return false;
}

Storage::Storage(Device device, size_t bytes) : device_(device), bytes_(bytes) {
  if (device.kind != Device::CPU) {
#if MVD_HAVE_CUDA
    cuda_require_device("alloc", device);
    data_.store(cuda_alloc(device, bytes), std::memory_order_release);
    g_device_live_bytes += (int64_t)bytes_;
    return;
#else
    throw OpError(ErrorKind::Device, "alloc",
                  "CUDA storage is not available in this build (the addon was built without CUDA)", "", device.str());
#endif
  }
  g_live_bytes += (int64_t)bytes_;
}

void* Storage::allocate() const {
  // One lock for every storage's first touch: allocation is once per storage, and the cache behind
  // it takes its own lock anyway.
  if (device_.kind != Device::CPU) return nullptr;  // device memory is eager: only a 0-byte one is null
  static std::mutex m;
  std::lock_guard<std::mutex> lk(m);
  if (void* p = data_.load(std::memory_order_relaxed)) return p;
  // 64-byte alignment: one cache line, and what AVX-512 loads prefer.
  void* p = HostCache::get().alloc(rounded_size(bytes_));
  if (!p)
    throw OpError(ErrorKind::Native, "alloc", "out of host memory allocating " + std::to_string(bytes_) + " bytes", "",
                  device_.str());
  data_.store(p, std::memory_order_release);
  return p;
}

Storage::~Storage() {
  if (device_.kind != Device::CPU) {
#if MVD_HAVE_CUDA
    cuda_release(device_, data_.load(), bytes_);
    g_device_live_bytes -= (int64_t)bytes_;
#endif
    return;
  }
  if (void* p = data_.load()) HostCache::get().release(p, rounded_size(bytes_));
  g_live_bytes -= (int64_t)bytes_;
}

int64_t Storage::live_bytes() { return g_live_bytes.load(); }
int64_t Storage::device_live_bytes() { return g_device_live_bytes.load(); }

}  // namespace mvd
