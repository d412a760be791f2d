// Tensor storage: creation from typed arrays, asynchronous read-back (the synchronisation point),
// copies within and across devices, and queue control. CUDA storage holds device pointers: every
// byte moved to or from it goes through native/cuda/runtime.h, on the device's queue and stream.
#include <cstring>
#include <memory>
#include <vector>

#include "args.h"
#include "bindings.h"
#include "dispatch.h"

namespace mvd {
namespace {

Device device_arg(const std::string& op, const Napi::Value& v) {
  std::string s = v.IsString() ? v.As<Napi::String>().Utf8Value() : "cpu";
  Device d;
  if (!parse_device(s, &d)) throw OpError(ErrorKind::Device, op, "unknown device '" + s + "' (use 'cpu' or 'cuda:N')");
  return d;
}

DType dtype_arg(const std::string& op, const Napi::Value& v) {
  std::string s = v.IsString() ? v.As<Napi::String>().Utf8Value() : "f32";
  DType d;
  if (!parse_dtype(s, &d)) throw OpError(ErrorKind::DType, op, "unknown dtype '" + s + "' (f32, bf16, u8, i32)");
  return d;
}

// empty(shape, dtype, device): uninitialised memory.
Napi::Value Empty(const Napi::CallbackInfo& info) {
  auto shape = shape_arg("empty", info[0], "shape");
  Output o = make_output(shape, dtype_arg("empty", info[1]), device_arg("empty", info[2]));
  return output_to_js(info.Env(), o);
}
MVD_BINDING("empty", Empty, "shape, dtype, device")

// fromBuffer(typedArray, shape, dtype, device): copies the data into new storage.
Napi::Value FromBuffer(const Napi::CallbackInfo& info) {
  const std::string op = "fromArray";
  if (!info[0].IsTypedArray()) throw OpError(ErrorKind::Value, op, "data must be a typed array");
  Napi::TypedArray ta = info[0].As<Napi::TypedArray>();
  auto shape = shape_arg(op, info[1], "shape");
  DType dt = dtype_arg(op, info[2]);
  Device dev = device_arg(op, info[3]);
  Output o = make_output(shape, dt, dev);
  size_t need = o.storage->bytes();
  if (ta.ByteLength() != need)
    throw OpError(ErrorKind::Shape, op,
                  "data has " + std::to_string(ta.ByteLength()) + " bytes but shape " + shape_str(shape) + " of " +
                      dtype_name(dt) + " needs " + std::to_string(need));
  const uint8_t* src = static_cast<const uint8_t*>(ta.ArrayBuffer().Data()) + ta.ByteOffset();
  if (dev.kind == Device::CUDA) {
    // Snapshot now (JS may change the array once we return), upload on the device's queue so the
    // JS thread never waits for the GPU.
    auto snap = std::make_shared<std::vector<uint8_t>>(src, src + need);
    StoragePtr dst = o.storage;
    queue_for(op, dev).enqueue("fromArray", [snap, dst, dev] {
      copy_with_host(dev, HostCopy::ToDevice, dst->data(), snap->data(), snap->size());
    });
    return output_to_js(info.Env(), o);
  }
  // Fresh storage: no queued op can reference it yet, so copying on the JS thread is safe.
  if (need) std::memcpy(o.storage->data(), src, need);
  return output_to_js(info.Env(), o);
}
MVD_BINDING("fromBuffer", FromBuffer, "data, shape, dtype, device")

// Lets every op queued so far on `d` finish; its sticky failure is thrown here, like readSync.
void drain(const std::string& op, const Device& d) {
  WorkQueue::Failure err = queue_for(op, d).wait_idle();
  if (!err.message.empty()) throw OpError(err.kind, op, err.message);
  device_synchronize(d, op.c_str());
}

struct ReadCompletion {
  Napi::Promise::Deferred deferred;
  Napi::Reference<Napi::Value> keep;  // the destination array, alive until resolved
  WorkQueue::Failure error;
};

void finish_on_js_thread(Napi::Env env, ReadCompletion* c) {
  AddonData& ad = addon_data(env);
  if (c->error.message.empty()) {
    c->deferred.Resolve(c->keep.IsEmpty() ? env.Undefined() : c->keep.Value());
  } else {
    // A queued op failed after validation: reject with the typed class it raised.
    Napi::FunctionReference& cls = ad.error_classes[(int)c->error.kind];
    Napi::Object err = cls.IsEmpty() ? Napi::Error::New(env, c->error.message).Value()
                                     : cls.New({Napi::String::New(env, c->error.message)});
    err.Set("kind", error_kind_name(c->error.kind));
    c->deferred.Reject(err);
  }
  delete c;
  if (--ad.pending_syncs == 0) ad.tsfn.Unref(env);
}

// Enqueues `copy` (may be null) after everything queued on the device, then settles a promise.
Napi::Value settle_after_queue(Napi::Env env, WorkQueue& q, std::function<void()> copy, Napi::Value keep) {
  AddonData& ad = addon_data(env);
  auto* c = new ReadCompletion{Napi::Promise::Deferred::New(env), {}, {}};
  if (!keep.IsUndefined()) c->keep = Napi::Persistent(keep);
  Napi::Promise p = c->deferred.Promise();
  if (ad.pending_syncs++ == 0) ad.tsfn.Ref(env);
  Napi::ThreadSafeFunction tsfn = ad.tsfn;
  q.enqueue_sync([c, copy, tsfn](WorkQueue::Failure err) mutable {
    if (err.message.empty() && copy) {
      try {
        copy();
      } catch (const OpError& e) { err = WorkQueue::Failure{e.kind, e.what()}; } catch (const std::exception& e) {
        err = WorkQueue::Failure{ErrorKind::Native, e.what()};
      }
    }
    c->error = std::move(err);
    tsfn.BlockingCall(c, [](Napi::Env env, Napi::Function, ReadCompletion* c) { finish_on_js_thread(env, c); });
  });
  return p;
}

// read(tensor, destTypedArray) -> Promise<destTypedArray>
Napi::Value Read(const Napi::CallbackInfo& info) {
  const std::string op = "read";
  TensorArg t = tensor_arg(op, info[0], "tensor");
  if (!info[1].IsTypedArray()) throw OpError(ErrorKind::Value, op, "destination must be a typed array");
  Napi::TypedArray dst = info[1].As<Napi::TypedArray>();
  size_t bytes = (size_t)t.numel() * dtype_size(t.dtype);
  if (dst.ByteLength() != bytes) throw OpError(ErrorKind::Shape, op, "destination size mismatch", t.desc());
  uint8_t* out = static_cast<uint8_t*>(dst.ArrayBuffer().Data()) + dst.ByteOffset();
  // The source pointer is taken on the worker: the storage may not be allocated yet (storage.h).
  const LazyPtr<const uint8_t> src(t.storage, t.offset * (int64_t)dtype_size(t.dtype));
  Device dev = t.device;
  return settle_after_queue(
      info.Env(), queue_for(op, t.device),
      [out, src, bytes, dev] { copy_with_host(dev, HostCopy::ToHost, out, src, bytes); }, dst);
}
MVD_BINDING("read", Read, "tensor, dest")

// readSync(tensor, destTypedArray): blocks the JS thread until the queue drains. For tests and
// tiny scalars; library code uses read().
Napi::Value ReadSync(const Napi::CallbackInfo& info) {
  const std::string op = "readSync";
  TensorArg t = tensor_arg(op, info[0], "tensor");
  Napi::TypedArray dst = info[1].As<Napi::TypedArray>();
  size_t bytes = (size_t)t.numel() * dtype_size(t.dtype);
  if (dst.ByteLength() != bytes) throw OpError(ErrorKind::Shape, op, "destination size mismatch", t.desc());
  WorkQueue::Failure err = queue_for(op, t.device).wait_idle();
  if (!err.message.empty()) throw OpError(err.kind, op, err.message);
  uint8_t* out = static_cast<uint8_t*>(dst.ArrayBuffer().Data()) + dst.ByteOffset();
  const uint8_t* src = static_cast<const uint8_t*>(t.storage->data()) + t.offset * dtype_size(t.dtype);
  copy_with_host(t.device, HostCopy::ToHost, out, src, bytes);
  return dst;
}
MVD_BINDING("readSync", ReadSync, "tensor, dest")

// sync(device) -> Promise<void>: resolves when everything queued so far has run.
Napi::Value Sync(const Napi::CallbackInfo& info) {
  Device d = device_arg("sync", info[0]);
  std::function<void()> wait;
  // The queue being empty only means the kernels were issued; wait for the GPU too, which is also
  // where an asynchronous kernel failure shows up.
  if (d.kind == Device::CUDA) wait = [d] { device_synchronize(d, "sync"); };
  return settle_after_queue(info.Env(), queue_for("sync", d), wait, info.Env().Undefined());
}
MVD_BINDING("sync", Sync, "device")

// copy(src[, device]): a new contiguous tensor with the same contents, on src's device or on
// `device`. Within a device it is queued, so it sees earlier writes. Across devices it waits for
// src's queue (a synchronisation point, like readSync) and copies at once.
Napi::Value Copy(const Napi::CallbackInfo& info) {
  const std::string op = "copy";
  TensorArg t = tensor_arg(op, info[0], "src");
  Device target = info.Length() > 1 && info[1].IsString() ? device_arg(op, info[1]) : t.device;
  WorkQueue& q = queue_for(op, target);
  Output o = make_output(t.shape, t.dtype, target);
  size_t bytes = (size_t)t.numel() * dtype_size(t.dtype);
  StoragePtr src = t.storage, dst = o.storage;
  size_t off = (size_t)t.offset * dtype_size(t.dtype);
  if (target != t.device) {
    drain(op, t.device);
    copy_bytes_now(dst, 0, src, off, bytes);
    return output_to_js(info.Env(), o);
  }
  q.enqueue("copy", [src, dst, off, bytes, target] {
    if (bytes) copy_within(target, dst->data(), static_cast<const uint8_t*>(src->data()) + off, bytes);
  });
  return output_to_js(info.Env(), o);
}
MVD_BINDING("copy", Copy, "tensor, device?")

// assign(dst, src): copies src's elements into the existing dst (same numel and dtype; views allowed).
// Within a device it is queued, so it lands after earlier writes to src and before later reads of
// dst. Across devices it waits for both queues and copies at once.
Napi::Value Assign(const Napi::CallbackInfo& info) {
  const std::string op = "assign";
  TensorArg dst = tensor_arg(op, info[0], "dst");
  TensorArg src = tensor_arg(op, info[1], "src");
  WorkQueue& q = queue_for(op, dst.device);
  queue_for(op, src.device);
  if (dst.dtype != src.dtype)
    throw OpError(ErrorKind::DType, op,
                  std::string("dtypes differ: ") + dtype_name(dst.dtype) + " vs " + dtype_name(src.dtype),
                  describe({&dst, &src}), dst.device.str());
  if (dst.numel() != src.numel())
    throw OpError(ErrorKind::Shape, op, "element counts differ", describe({&dst, &src}), dst.device.str());
  size_t es = dtype_size(dst.dtype), bytes = (size_t)dst.numel() * es;
  StoragePtr d = dst.storage, s = src.storage;
  size_t doff = (size_t)dst.offset * es, soff = (size_t)src.offset * es;
  if (dst.device != src.device) {
    drain(op, src.device);
    drain(op, dst.device);
    copy_bytes_now(d, doff, s, soff, bytes);
    return info[0];
  }
  Device dev = dst.device;
  q.enqueue("assign", [d, s, doff, soff, bytes, dev] {
    if (bytes)
      copy_within(dev, static_cast<uint8_t*>(d->data()) + doff, static_cast<const uint8_t*>(s->data()) + soff, bytes);
  });
  return info[0];
}
MVD_BINDING("assign", Assign, "dst, src")

Napi::Value LiveBytes(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), (double)Storage::live_bytes());
}
MVD_BINDING("liveBytes", LiveBytes, "")

Napi::Value CachedBytes(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), (double)Storage::cached_bytes());
}
MVD_BINDING("cachedBytes", CachedBytes, "")

Napi::Value TrimCache(const Napi::CallbackInfo& info) {
  Storage::trim_cache();
  return info.Env().Undefined();
}
MVD_BINDING("trimCache", TrimCache, "")

// setErrorClasses({ShapeError, DTypeError, ...}): the JS classes native errors are created from.
Napi::Value SetErrorClasses(const Napi::CallbackInfo& info) {
  Napi::Object o = info[0].As<Napi::Object>();
  AddonData& ad = addon_data(info.Env());
  const ErrorKind kinds[] = {ErrorKind::Shape, ErrorKind::DType,    ErrorKind::Device,
                             ErrorKind::Value, ErrorKind::Disposed, ErrorKind::Native};
  for (ErrorKind k : kinds) {
    Napi::Value c = o.Get(error_kind_name(k));
    if (c.IsFunction()) ad.error_classes[(int)k] = Napi::Persistent(c.As<Napi::Function>());
  }
  return info.Env().Undefined();
}
MVD_BINDING("setErrorClasses", SetErrorClasses, "classes")

}  // namespace

}  // namespace mvd
