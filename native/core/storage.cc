#include "storage.h"

#include <atomic>
#include <cstdlib>
#include <cstring>

#include "errors.h"

namespace mvd {

static std::atomic<int64_t> g_live_bytes{0};

size_t dtype_size(DType d) {
  switch (d) {
    case DType::F32: return 4;
    case DType::BF16: return 2;
    case DType::U8: return 1;
    case DType::I32: return 4;
  }
  return 0;
}

const char* dtype_name(DType d) {
  switch (d) {
    case DType::F32: return "f32";
    case DType::BF16: return "bf16";
    case DType::U8: return "u8";
    case DType::I32: return "i32";
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
  if (s == "cpu") { *out = Device{Device::CPU, 0}; return true; }
  if (s.rfind("cuda", 0) == 0) {
    if (s == "cuda") { *out = Device{Device::CUDA, 0}; return true; }
    if (s.size() > 5 && s[4] == ':') {
      char* end = nullptr;
      long idx = std::strtol(s.c_str() + 5, &end, 10);
      if (*end == '\0' && idx >= 0 && idx < 64) { *out = Device{Device::CUDA, (int)idx}; return true; }
    }
  }
  return false;
}

Storage::Storage(Device device, size_t bytes) : device_(device), bytes_(bytes) {
  if (device.kind != Device::CPU)
    throw OpError(ErrorKind::Device, "alloc", "CUDA storage is not available in this build", "", device.str());
  // 64-byte alignment: one cache line, and what AVX-512 loads prefer. Never a zero-byte malloc.
  size_t rounded = ((bytes ? bytes : 1) + 63) / 64 * 64;
  data_ = std::aligned_alloc(64, rounded);
  if (!data_)
    throw OpError(ErrorKind::Native, "alloc", "out of host memory allocating " + std::to_string(bytes) + " bytes",
                  "", device.str());
  g_live_bytes += (int64_t)bytes_;
}

Storage::~Storage() {
  std::free(data_);
  g_live_bytes -= (int64_t)bytes_;
}

int64_t Storage::live_bytes() { return g_live_bytes.load(); }

}  // namespace mvd
