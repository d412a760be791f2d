// readFileRanges: tensors whose bytes come straight from a file. Each range is read with pread into
// its new tensor's own storage (CPU) or into one host buffer that the device queue then uploads
// (CUDA): the file's bytes are copied once, never through a JS array. The reads run on a libuv pool
// thread, so the JS thread keeps running; the tensors reach JS only when every read is done, so
// nothing can use a storage while it is being filled. The storage is private memory (not a mapping
// of the file), so writing to a loaded tensor can never reach the file.
#include <memory>
#include <vector>

#include "../io/read_range.h"
#include "args.h"
#include "bindings.h"
#include "dispatch.h"

namespace mvd {
namespace {

const char* const kOp = "readFileRanges";

struct Range {
  uint64_t offset;
  Output out;
  std::vector<uint8_t> staging;  // CUDA only: the host copy uploaded once the reads are done
};

class ReadRangesWorker : public Napi::AsyncWorker {
 public:
  ReadRangesWorker(Napi::Env env, int fd, std::vector<Range> ranges, Device device)
      : Napi::AsyncWorker(env, "mvd.readFileRanges"),
        deferred_(Napi::Promise::Deferred::New(env)),
        fd_(fd),
        ranges_(std::move(ranges)),
        device_(device) {}

  Napi::Promise promise() const { return deferred_.Promise(); }

 protected:
  // On a pool thread: touches only storages no JS object holds yet.
  void Execute() override {
    try {
      for (size_t i = 0; i < ranges_.size(); ++i) {
        Range& r = ranges_[i];
        const size_t n = r.out.storage->bytes();
        if (n == 0) continue;
        void* dst;
        if (device_.kind == Device::CPU) {
          dst = r.out.storage->data();
        } else {
          r.staging.resize(n);
          dst = r.staging.data();
        }
        if (read_range(fd_, dst, n, r.offset, kOp) < n) {
          ended_at_ = (int64_t)i;
          return;
        }
      }
    } catch (const OpError& e) { failure_ = std::make_unique<OpError>(e); } catch (const std::exception& e) {
      failure_ = std::make_unique<OpError>(ErrorKind::Native, kOp, e.what());
    }
  }

  void OnOK() override {
    Napi::Env env = Env();
    if (failure_) {
      try {
        throw_js(env, *failure_);
      } catch (const Napi::Error& e) { deferred_.Reject(e.Value()); }
      return;
    }
    Napi::Object result = Napi::Object::New(env);
    result.Set("endedAt", Napi::Number::New(env, (double)ended_at_));
    const bool complete = ended_at_ < 0;
    Napi::Array tensors = Napi::Array::New(env, complete ? ranges_.size() : 0);
    if (complete) {
      for (size_t i = 0; i < ranges_.size(); ++i) {
        Range& r = ranges_[i];
        if (device_.kind == Device::CUDA && !r.staging.empty()) {
          // Queued like fromArray's upload: ops on the tensor are queued after it.
          auto host = std::make_shared<std::vector<uint8_t>>(std::move(r.staging));
          StoragePtr dst = r.out.storage;
          Device dev = device_;
          queue_for(kOp, dev).enqueue(kOp, [host, dst, dev] {
            copy_with_host(dev, HostCopy::ToDevice, dst->data(), host->data(), host->size());
          });
        }
        tensors.Set((uint32_t)i, output_to_js(env, r.out));
      }
    }
    result.Set("tensors", tensors);
    deferred_.Resolve(result);
  }

  // Only node-addon-api's own failures land here; Execute keeps ours for OnOK's typed error.
  void OnError(const Napi::Error& e) override { deferred_.Reject(e.Value()); }

 private:
  Napi::Promise::Deferred deferred_;
  int fd_;
  std::vector<Range> ranges_;
  Device device_;
  int64_t ended_at_ = -1;
  std::unique_ptr<OpError> failure_;
};

Device device_arg(const Napi::Value& v) {
  const std::string s = v.IsString() ? v.As<Napi::String>().Utf8Value() : "";
  Device d;
  if (!parse_device(s, &d)) throw OpError(ErrorKind::Device, kOp, "unknown device '" + s + "' (use 'cpu' or 'cuda:N')");
  return d;
}

Range range_arg(const Napi::Value& v, size_t i, const Device& device) {
  const std::string name = "ranges[" + std::to_string(i) + "]";
  if (!v.IsObject() || v.IsArray())
    throw OpError(ErrorKind::Value, kOp, name + " must be an object {offset, shape, dtype}");
  Napi::Object o = v.As<Napi::Object>();
  const uint64_t offset = seed_arg(kOp, o.Get("offset"), name + ".offset");
  const std::vector<int64_t> shape = shape_arg(kOp, o.Get("shape"), name + ".shape");
  const std::string dt = o.Get("dtype").IsString() ? o.Get("dtype").As<Napi::String>().Utf8Value() : "";
  DType dtype;
  if (!parse_dtype(dt, &dtype))
    throw OpError(ErrorKind::DType, kOp, name + ".dtype is '" + dt + "', expected f32, bf16, u8 or i32");
  return Range{offset, make_output(shape, dtype, device), {}};
}

// readFileRanges(fd, [{offset, shape, dtype}], device) -> Promise<{tensors, endedAt}>: one new
// tensor per range, filled from the file at that byte offset. endedAt is -1, or the index of the
// first range the file ended inside (tensors then empty: the caller names the tensor in its error).
// The caller keeps fd open until the promise settles.
Napi::Value ReadFileRanges(const Napi::CallbackInfo& info) {
  const int fd = (int)int_arg(kOp, info[0], "fd", 0);
  if (!info[1].IsArray()) throw OpError(ErrorKind::Value, kOp, "ranges must be an array of {offset, shape, dtype}");
  Napi::Array list = info[1].As<Napi::Array>();
  const Device device = device_arg(info[2]);
  queue_for(kOp, device);  // an absent CUDA device is a DeviceError before anything is allocated
  std::vector<Range> ranges;
  ranges.reserve(list.Length());
  for (uint32_t i = 0; i < list.Length(); ++i) ranges.push_back(range_arg(list.Get(i), i, device));
  auto* worker = new ReadRangesWorker(info.Env(), fd, std::move(ranges), device);
  Napi::Promise p = worker->promise();
  worker->Queue();  // node-addon-api deletes the worker after OnOK/OnError
  return p;
}
MVD_BINDING("readFileRanges", ReadFileRanges, "fd, ranges, device")

}  // namespace
}  // namespace mvd
