// N-API glue shared by every op binding: reading tensor arguments, creating outputs, and turning
// native errors into the typed JS error classes (registered once by lib/native.ts).
#pragma once
#include <napi.h>

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "../core/errors.h"
#include "../core/queue.h"
#include "../core/storage.h"

namespace mvd {

// What this env's V8 is told about the native memory its JS handles hold (args.cc says why the
// report moves in steps). Shared by the handles, so a finalizer can still count after teardown began.
struct ExternalMemoryAccount {
  int64_t live = 0;      // bytes held by handles neither disposed nor finalized
  int64_t reported = 0;  // what V8 was last told
};

// A native handle to a Storage. JS tensors (lib/tensor.ts) hold one; views share the Storage.
class StorageHandle : public Napi::ObjectWrap<StorageHandle> {
 public:
  static Napi::Function Define(Napi::Env env);
  static Napi::Object Wrap(Napi::Env env, StoragePtr s);
  explicit StorageHandle(const Napi::CallbackInfo& info);
  ~StorageHandle() override;
  const StoragePtr& storage() const { return storage_; }

 private:
  Napi::Value Dispose(const Napi::CallbackInfo& info);
  Napi::Value Share(const Napi::CallbackInfo& info);
  Napi::Value Bytes(const Napi::CallbackInfo& info);
  Napi::Value Disposed(const Napi::CallbackInfo& info);
  void release(Napi::Env env);
  StoragePtr storage_;
  std::shared_ptr<ExternalMemoryAccount> account_;
  int64_t accounted_ = 0;
};

struct AddonData {
  Napi::FunctionReference storage_ctor;
  Napi::FunctionReference error_classes[6];  // indexed by ErrorKind
  Napi::ThreadSafeFunction tsfn;             // resolves read-back promises on the JS thread
  int pending_syncs = 0;
  std::shared_ptr<ExternalMemoryAccount> external = std::make_shared<ExternalMemoryAccount>();
};

AddonData& addon_data(Napi::Env env);

// Where an op's operand lives: a storage (kept alive by this object) and an element offset. It turns
// into the raw pointer only where it is used as one, which in a binding is inside the queued
// closure: so the pointer is resolved on the worker, when the op runs, and a CPU output is
// allocated then (storage.h), not on the JS thread at enqueue time. Capturing it also keeps the
// storage alive for the closure's lifetime, so no separate keep list can forget it.
// Declare such variables `auto`: `float* p = out.data<float>()` would resolve on the JS thread.
template <typename T>
class LazyPtr {
 public:
  LazyPtr() = default;
  LazyPtr(std::nullptr_t) {}
  LazyPtr(StoragePtr s, int64_t offset) : s_(std::move(s)), offset_(offset) {}
  operator T*() const { return s_ ? reinterpret_cast<T*>(s_->data()) + offset_ : nullptr; }
  T* get() const { return *this; }
  // A pointer `n` elements further on, still resolved late.
  LazyPtr operator+(int64_t n) const { return LazyPtr(s_, offset_ + n); }
  explicit operator bool() const { return s_ != nullptr; }

 private:
  StoragePtr s_;
  int64_t offset_ = 0;
};

// A tensor argument as the kernels see it: storage, element offset, shape, dtype, device.
struct TensorArg {
  std::string name;
  StoragePtr storage;
  int64_t offset = 0;
  std::vector<int64_t> shape;
  DType dtype = DType::F32;
  Device device;
  int64_t numel() const;
  int64_t dim(int i) const { return shape[i < 0 ? shape.size() + i : i]; }
  size_t ndim() const { return shape.size(); }
  template <typename T>
  LazyPtr<T> data() const {
    return storage ? LazyPtr<T>(storage, offset) : LazyPtr<T>();
  }
  std::string desc() const { return name + " " + shape_str(shape) + " " + dtype_name(dtype); }
};

// Reads a JS tensor (lib/tensor.ts Tensor or a plain {handle, offset, shape, dtype, device}).
TensorArg tensor_arg(const std::string& op, const Napi::Value& v, const std::string& name);
// Same, but null/undefined gives an empty optional (storage == nullptr).
TensorArg optional_tensor_arg(const std::string& op, const Napi::Value& v, const std::string& name);

// Typed checks that throw OpError with the op, the shapes and the device.
void expect_dtype(const std::string& op, const TensorArg& t, DType d);
void expect_same_device(const std::string& op, const std::vector<const TensorArg*>& ts);
void expect_ndim(const std::string& op, const TensorArg& t, size_t ndim);
std::string describe(const std::vector<const TensorArg*>& ts);

// Allocates an output and returns {handle, offset, shape, dtype, device} for lib/tensor.ts.
struct Output {
  StoragePtr storage;
  std::vector<int64_t> shape;
  DType dtype;
  Device device;
  template <typename T>
  LazyPtr<T> data() const {
    return storage ? LazyPtr<T>(storage, 0) : LazyPtr<T>();
  }
};
Output make_output(const std::vector<int64_t>& shape, DType dtype, Device device);
Napi::Object output_to_js(Napi::Env env, const Output& o);
// Several outputs: [a, b, ...], or {name: tensor} where an Output without storage (an optional
// one the op did not make) is null.
Napi::Array outputs_to_js(Napi::Env env, std::initializer_list<const Output*> outs);
Napi::Object outputs_to_js(Napi::Env env, std::initializer_list<std::pair<const char*, const Output*>> outs);

// The most bytes one tensor may hold (64 TiB): far above any machine's memory, far below where
// element count x element size could wrap, so a typo'd shape is a ShapeError, not a 0-byte buffer.
constexpr int64_t kMaxTensorBytes = int64_t(1) << 46;
// The product of `shape` for elements of elem_bytes each, or a ShapeError naming `name` and the
// shape when it would pass kMaxTensorBytes (dimensions must already be non-negative).
int64_t checked_numel(const std::string& op, const std::vector<int64_t>& shape, const std::string& name,
                      size_t elem_bytes);
// The product of all but the last dimension (the rows of a row-major matrix view), even when the
// last one is 0.
int64_t leading_rows(const std::vector<int64_t>& shape);

// Reads plain arguments with a clear error naming the op.
double number_arg(const std::string& op, const Napi::Value& v, const std::string& name);
bool bool_arg(const std::string& op, const Napi::Value& v, const std::string& name);
std::vector<int64_t> shape_arg(const std::string& op, const Napi::Value& v, const std::string& name);
// A finite number, else a ValueError naming the argument and the value.
double finite_arg(const std::string& op, const Napi::Value& v, const std::string& name);
// An integer in [0, 2^53) (seeds, stream ids), else a ValueError.
uint64_t seed_arg(const std::string& op, const Napi::Value& v, const std::string& name);
// An integer >= min (and <= 1e9), else a ValueError naming the argument.
int64_t int_arg(const std::string& op, const Napi::Value& v, const std::string& name, int64_t min);
// Exactly C finite numbers (per-channel mean/std); `positive` also requires > 0.
std::vector<float> channel_list(const std::string& op, const Napi::Value& v, const std::string& name, int64_t C,
                                bool positive);

// The queue of the device an op runs on: the CPU queue, or the queue of a CUDA device (one per
// device). A CUDA device that is absent (no driver, no GPU, an index past the last, a build without
// CUDA) is a DeviceError naming gpuInfo()'s reason.
WorkQueue& queue_for(const std::string& op, const Device& d);

// For ops without a CUDA implementation: a DeviceError "no CUDA implementation of <op>" when the
// tensor (or any of the tensors) is not on the CPU. Null optional tensors are ignored.
void expect_cpu(const std::string& op, const TensorArg& t);
void expect_cpu(const std::string& op, const std::vector<const TensorArg*>& ts);

// An op binding dispatches through native/binding/dispatch.h (Dispatch): it validates the
// tensors' device, holds their storages and enqueues the CPU or CUDA launcher.

// The options object of an op with many parameters: a plain object whose keys are all among the
// option names of the op's registered signature (bind below), else a ValueError naming the
// unknown key and the known ones.
Napi::Object options_arg(const std::string& op, const Napi::Value& v);

// Wraps a binding so native exceptions become typed JS errors.
using BindingFn = std::function<Napi::Value(const Napi::CallbackInfo&)>;
Napi::Function make_binding(Napi::Env env, const char* name, BindingFn fn);

// Exports `fn` as `name` (through make_binding) with its parameters as lib/native.ts's NativeAddon
// declares them: "dy, x, alpha?" (a trailing ? marks an optional one), and an options object as
// the last, "{bias?, out?, transA?}". The addon's nativeSignatures() returns them, and
// test/native-interface.test.ts checks every export against the interface with it.
void bind(Napi::Env env, Napi::Object exports, const char* name, BindingFn fn, const char* params);
// name -> params of every bind() so far.
std::vector<std::pair<std::string, std::string>> binding_signatures();
[[noreturn]] void throw_js(Napi::Env env, const OpError& e);

}  // namespace mvd
