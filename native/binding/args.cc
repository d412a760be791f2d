#include "args.h"

#include <cmath>
#include <mutex>
#include <unordered_map>

namespace mvd {

AddonData& addon_data(Napi::Env env) { return *env.GetInstanceData<AddonData>(); }

// ---- StorageHandle -------------------------------------------------------------------------

Napi::Function StorageHandle::Define(Napi::Env env) {
  return DefineClass(
      env, "StorageHandle",
      {InstanceMethod("dispose", &StorageHandle::Dispose), InstanceMethod("share", &StorageHandle::Share),
       InstanceAccessor("bytes", &StorageHandle::Bytes, nullptr),
       InstanceAccessor("disposed", &StorageHandle::Disposed, nullptr)});
}

StorageHandle::StorageHandle(const Napi::CallbackInfo& info) : Napi::ObjectWrap<StorageHandle>(info) {}

// V8 starts a major GC whenever the external memory it was told about rises 64 MB above its level
// at the last GC. Reporting every allocation and release exactly made any op pattern with more than
// 64 MB of outputs alive at once pay a GC per repetition: two 38 MB GELU outputs alive together
// ran 12-16 ms per pair against 7.6 ms one at a time, the difference all V8 marking (perf; a build
// without the reports ran it in the single-output time; bench/NOTES.md "V8 and external memory").
// Training's per-step churn is the same pattern at a larger scale. So the report follows the live
// total in steps of kReportSlack: churn within that band costs V8 nothing, while tensors leaked
// without dispose() still build pressure and are collected, a step later.
constexpr int64_t kReportSlack = 128ll << 20;

static void report_external(Napi::Env env, ExternalMemoryAccount& a) {
  const int64_t d = a.live - a.reported;
  if (d > kReportSlack || d < -kReportSlack) {
    Napi::MemoryManagement::AdjustExternalMemory(env, d);
    a.reported = a.live;
  }
}

StorageHandle::~StorageHandle() {
  // Finalizer path (garbage collected without dispose()). Telling V8 at once lowers the pressure
  // it sees as soon as leaked tensors are collected.
  if (storage_ && account_) {
    account_->live -= accounted_;
    report_external(Env(), *account_);
  }
  storage_.reset();
}

Napi::Object StorageHandle::Wrap(Napi::Env env, StoragePtr s) {
  AddonData& ad = addon_data(env);
  Napi::Object obj = ad.storage_ctor.New({});
  StorageHandle* h = StorageHandle::Unwrap(obj);
  h->accounted_ = (int64_t)s->bytes();
  h->storage_ = std::move(s);
  h->account_ = ad.external;
  h->account_->live += h->accounted_;
  report_external(env, *h->account_);
  return obj;
}

void StorageHandle::release(Napi::Env env) {
  if (!storage_) return;
  storage_.reset();  // queued ops still hold their own references
  account_->live -= accounted_;
  accounted_ = 0;
  report_external(env, *account_);
}

Napi::Value StorageHandle::Dispose(const Napi::CallbackInfo& info) {
  release(info.Env());
  return info.Env().Undefined();
}

Napi::Value StorageHandle::Share(const Napi::CallbackInfo& info) {
  if (!storage_) throw_js(info.Env(), OpError(ErrorKind::Disposed, "share", "tensor storage was disposed"));
  return Wrap(info.Env(), storage_);
}

Napi::Value StorageHandle::Bytes(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), storage_ ? (double)storage_->bytes() : 0);
}

Napi::Value StorageHandle::Disposed(const Napi::CallbackInfo& info) {
  return Napi::Boolean::New(info.Env(), !storage_);
}

// ---- arguments ----------------------------------------------------------------------------

int64_t TensorArg::numel() const {
  int64_t n = 1;
  for (auto s : shape) n *= s;
  return n;
}

int64_t leading_rows(const std::vector<int64_t>& shape) {
  int64_t n = 1;
  for (size_t i = 0; i + 1 < shape.size(); ++i) n *= shape[i];
  return n;
}

int64_t checked_numel(const std::string& op, const std::vector<int64_t>& shape, const std::string& name,
                      size_t elem_bytes) {
  // Each dimension is already a non-negative integer; one zero makes the tensor empty whatever the
  // others are, and otherwise the product must not wrap (a wrapped product allocated 0 bytes and a
  // later op wrote past it).
  for (auto d : shape)
    if (d == 0) return 0;
  int64_t n = 1;
  for (auto d : shape) {
    if (__builtin_mul_overflow(n, d, &n) || n > kMaxTensorBytes / (int64_t)elem_bytes)
      throw OpError(ErrorKind::Shape, op,
                    name + " " + shape_str(shape) + " of " + std::to_string(elem_bytes) +
                        "-byte elements is larger than the " + std::to_string(kMaxTensorBytes >> 40) +
                        " TiB a tensor may hold");
  }
  return n;
}

std::vector<int64_t> shape_arg(const std::string& op, const Napi::Value& v, const std::string& name) {
  if (!v.IsArray()) throw OpError(ErrorKind::Value, op, name + " must be an array of dimensions");
  Napi::Array a = v.As<Napi::Array>();
  std::vector<int64_t> s(a.Length());
  for (uint32_t i = 0; i < a.Length(); ++i) {
    Napi::Value d = a.Get(i);
    if (!d.IsNumber()) throw OpError(ErrorKind::Value, op, name + " holds a non-number dimension");
    double x = d.As<Napi::Number>().DoubleValue();
    // 2^53 - 1: past it a double no longer names one integer.
    if (!(x >= 0) || !(x <= 9007199254740991.0) || x != std::floor(x))
      throw OpError(
          ErrorKind::Shape, op,
          name + " dimension " + std::to_string(i) + " is " + std::to_string(x) + ", not a non-negative integer");
    s[i] = (int64_t)x;
  }
  checked_numel(op, s, name, 1);
  return s;
}

double finite_arg(const std::string& op, const Napi::Value& v, const std::string& name) {
  const double x = number_arg(op, v, name);
  if (!std::isfinite(x)) throw OpError(ErrorKind::Value, op, name + " must be finite, got " + std::to_string(x));
  return x;
}

uint64_t seed_arg(const std::string& op, const Napi::Value& v, const std::string& name) {
  const double x = number_arg(op, v, name);
  if (!(x >= 0) || !(x < 9007199254740992.0) || x != std::floor(x))
    throw OpError(ErrorKind::Value, op, name + " must be an integer in [0, 2^53), got " + std::to_string(x));
  return (uint64_t)x;
}

int64_t int_arg(const std::string& op, const Napi::Value& v, const std::string& name, int64_t min) {
  double x = number_arg(op, v, name);
  if (x != std::floor(x) || x < (double)min || x > 1.0e9)
    throw OpError(ErrorKind::Value, op,
                  name + " must be an integer >= " + std::to_string(min) + ", got " + std::to_string(x));
  return (int64_t)x;
}

std::vector<float> channel_list(const std::string& op, const Napi::Value& v, const std::string& name, int64_t C,
                                bool positive) {
  if (!v.IsArray())
    throw OpError(ErrorKind::Value, op, name + " must be an array of " + std::to_string(C) + " numbers");
  Napi::Array a = v.As<Napi::Array>();
  if ((int64_t)a.Length() != C)
    throw OpError(ErrorKind::Value, op,
                  name + " has " + std::to_string(a.Length()) + " entries for " + std::to_string(C) + " channels");
  std::vector<float> out((size_t)C);
  for (uint32_t i = 0; i < a.Length(); ++i) {
    double x = number_arg(op, a.Get(i), name + "[" + std::to_string(i) + "]");
    if (!std::isfinite(x) || (positive && !(x > 0)))
      throw OpError(ErrorKind::Value, op,
                    name + "[" + std::to_string(i) + "] must be finite" + (positive ? " and > 0" : ""));
    out[i] = (float)x;
  }
  return out;
}

TensorArg tensor_arg(const std::string& op, const Napi::Value& v, const std::string& name) {
  if (!v.IsObject()) throw OpError(ErrorKind::Value, op, name + " must be a Tensor");
  Napi::Object o = v.As<Napi::Object>();
  Napi::Value h = o.Get("handle");
  if (!h.IsObject() || !h.As<Napi::Object>().InstanceOf(addon_data(v.Env()).storage_ctor.Value()))
    throw OpError(ErrorKind::Value, op, name + " is not a Tensor (no native handle)");
  TensorArg t;
  t.name = name;
  t.storage = StorageHandle::Unwrap(h.As<Napi::Object>())->storage();
  if (!t.storage) throw OpError(ErrorKind::Disposed, op, name + " was used after dispose()");
  t.shape = shape_arg(op, o.Get("shape"), name + ".shape");
  Napi::Value off = o.Get("offset");
  const double offset = off.IsNumber() ? off.As<Napi::Number>().DoubleValue() : -1;
  if (!(offset >= 0) || !(offset <= 9007199254740991.0) || offset != std::floor(offset))
    throw OpError(ErrorKind::Value, op, name + ".offset must be a non-negative integer");
  t.offset = (int64_t)offset;
  Napi::Value dtv = o.Get("dtype");
  std::string dt = dtv.IsString() ? dtv.As<Napi::String>().Utf8Value() : "(not a string)";
  if (!parse_dtype(dt, &t.dtype)) throw OpError(ErrorKind::DType, op, name + " has unknown dtype " + dt);
  t.device = t.storage->device();
  // shape_arg capped numel at 2^46 and offset is below 2^53, so this cannot wrap.
  const size_t need =
      ((size_t)t.offset + (size_t)checked_numel(op, t.shape, name, dtype_size(t.dtype))) * dtype_size(t.dtype);
  if (need > t.storage->bytes())
    throw OpError(ErrorKind::Shape, op, name + " view runs past its storage", t.desc(), t.device.str());
  return t;
}

TensorArg optional_tensor_arg(const std::string& op, const Napi::Value& v, const std::string& name) {
  if (v.IsNull() || v.IsUndefined()) {
    TensorArg t;
    t.name = name;
    return t;
  }
  return tensor_arg(op, v, name);
}

std::string describe(const std::vector<const TensorArg*>& ts) {
  std::string s;
  for (auto* t : ts) {
    if (!t->storage) continue;
    if (!s.empty()) s += ", ";
    s += t->name + " " + shape_str(t->shape);
  }
  return s;
}

void expect_dtype(const std::string& op, const TensorArg& t, DType d) {
  if (t.dtype != d)
    throw OpError(ErrorKind::DType, op, t.name + " must be " + dtype_name(d) + ", got " + dtype_name(t.dtype),
                  t.name + " " + shape_str(t.shape), t.device.str());
}

void expect_ndim(const std::string& op, const TensorArg& t, size_t ndim) {
  if (t.shape.size() != ndim)
    throw OpError(ErrorKind::Shape, op, t.name + " must have " + std::to_string(ndim) + " dimensions",
                  t.name + " " + shape_str(t.shape), t.device.str());
}

void expect_same_device(const std::string& op, const std::vector<const TensorArg*>& ts) {
  const TensorArg* first = nullptr;
  for (auto* t : ts) {
    if (!t->storage) continue;
    if (!first) {
      first = t;
      continue;
    }
    if (t->device != first->device)
      throw OpError(ErrorKind::Device, op,
                    "tensors on different devices: " + first->name + " on " + first->device.str() + ", " + t->name +
                        " on " + t->device.str(),
                    describe(ts));
  }
}

double number_arg(const std::string& op, const Napi::Value& v, const std::string& name) {
  if (!v.IsNumber()) throw OpError(ErrorKind::Value, op, name + " must be a number");
  return v.As<Napi::Number>().DoubleValue();
}

bool bool_arg(const std::string& op, const Napi::Value& v, const std::string& name) {
  if (v.IsUndefined()) return false;
  if (!v.IsBoolean()) throw OpError(ErrorKind::Value, op, name + " must be a boolean");
  return v.As<Napi::Boolean>().Value();
}

Output make_output(const std::vector<int64_t>& shape, DType dtype, Device device) {
  for (auto d : shape)
    if (d < 0)
      throw OpError(ErrorKind::Shape, "alloc", "output shape " + shape_str(shape) + " has a negative dimension");
  const int64_t n = checked_numel("alloc", shape, std::string("output ") + dtype_name(dtype), dtype_size(dtype));
  return Output{std::make_shared<Storage>(device, (size_t)n * dtype_size(dtype)), shape, dtype, device};
}

Napi::Object output_to_js(Napi::Env env, const Output& o) {
  Napi::Object r = Napi::Object::New(env);
  r.Set("handle", StorageHandle::Wrap(env, o.storage));
  r.Set("offset", 0);
  Napi::Array s = Napi::Array::New(env, o.shape.size());
  for (size_t i = 0; i < o.shape.size(); ++i) s.Set(i, Napi::Number::New(env, (double)o.shape[i]));
  r.Set("shape", s);
  r.Set("dtype", dtype_name(o.dtype));
  r.Set("device", o.device.str());
  return r;
}

Napi::Array outputs_to_js(Napi::Env env, std::initializer_list<const Output*> outs) {
  Napi::Array r = Napi::Array::New(env, outs.size());
  uint32_t i = 0;
  for (const Output* o : outs) r.Set(i++, output_to_js(env, *o));
  return r;
}

Napi::Object outputs_to_js(Napi::Env env, std::initializer_list<std::pair<const char*, const Output*>> outs) {
  Napi::Object r = Napi::Object::New(env);
  for (auto& [name, o] : outs) r.Set(name, o->storage ? Napi::Value(output_to_js(env, *o)) : env.Null());
  return r;
}

// Filled while the first environment loads; loader worker threads load the addon again, hence the lock.
static std::mutex signatures_mutex;
static std::vector<std::pair<std::string, std::string>>& signatures() {
  static std::vector<std::pair<std::string, std::string>> s;
  return s;
}
// The option names inside the "{...}" of each signature, without their "?", parsed once at bind().
static std::unordered_map<std::string, std::vector<std::string>>& option_table() {
  static std::unordered_map<std::string, std::vector<std::string>> t;
  return t;
}

static std::vector<std::string> parse_option_names(const std::string& params) {
  std::vector<std::string> names;
  size_t open = params.find('{'), close = params.find('}');
  if (open == std::string::npos || close == std::string::npos) return names;
  std::string cur;
  for (size_t i = open + 1; i <= close; ++i) {
    char c = params[i];
    if (c == ',' || c == '}') {
      if (!cur.empty()) names.push_back(cur);
      cur.clear();
    } else if (c != ' ' && c != '?') {
      cur += c;
    }
  }
  return names;
}

std::vector<std::pair<std::string, std::string>> binding_signatures() {
  std::lock_guard<std::mutex> lock(signatures_mutex);
  return signatures();
}

void bind(Napi::Env env, Napi::Object exports, const char* name, BindingFn fn, const char* params) {
  exports.Set(name, make_binding(env, name, std::move(fn)));
  std::lock_guard<std::mutex> lock(signatures_mutex);
  for (auto& [n, p] : signatures())
    if (n == name) return;  // a second environment (worker thread) registers the same table
  signatures().emplace_back(name, params);
  option_table()[name] = parse_option_names(params);
}

// Entries are never changed once made, and an unordered_map keeps references to its elements valid.
static const std::vector<std::string>& option_names(const std::string& op) {
  static const std::vector<std::string> none;
  std::lock_guard<std::mutex> lock(signatures_mutex);
  auto it = option_table().find(op);
  return it == option_table().end() ? none : it->second;
}

Napi::Object options_arg(const std::string& op, const Napi::Value& v) {
  if (!v.IsObject() || v.IsArray() || v.IsFunction())
    throw OpError(ErrorKind::Value, op, "the last argument must be an options object");
  const std::vector<std::string>& names = option_names(op);
  Napi::Object o = v.As<Napi::Object>();
  Napi::Array keys = o.GetPropertyNames();
  for (uint32_t i = 0; i < keys.Length(); ++i) {
    std::string k = keys.Get(i).ToString().Utf8Value();
    bool known = false;
    for (auto& n : names) known = known || k == n;
    if (known) continue;
    std::string list;
    for (auto& n : names) list += (list.empty() ? "" : ", ") + n;
    throw OpError(ErrorKind::Value, op, "unknown option '" + k + "' (known: " + list + ")");
  }
  return o;
}

void expect_cpu(const std::string& op, const TensorArg& t) {
  if (t.storage && t.device.kind != Device::CPU)
    throw OpError(ErrorKind::Device, op,
                  "no CUDA implementation of " + op + " (" + t.name + " is on " + t.device.str() + ")",
                  t.name + " " + shape_str(t.shape), t.device.str());
}

void expect_cpu(const std::string& op, const std::vector<const TensorArg*>& ts) {
  for (const TensorArg* t : ts) expect_cpu(op, *t);
}

[[noreturn]] void throw_js(Napi::Env env, const OpError& e) {
  AddonData& ad = addon_data(env);
  Napi::FunctionReference& cls = ad.error_classes[(int)e.kind];
  Napi::Object err;
  if (!cls.IsEmpty()) {
    err = cls.New({Napi::String::New(env, e.what())});
  } else {
    err = Napi::Error::New(env, e.what()).Value();
  }
  err.Set("op", e.op);
  err.Set("shapes", e.shapes);
  err.Set("device", e.device);
  err.Set("kind", error_kind_name(e.kind));
  throw Napi::Error(env, err);
}

Napi::Function make_binding(Napi::Env env, const char* name, BindingFn fn) {
  std::string op = name;
  return Napi::Function::New(
      env,
      [fn, op](const Napi::CallbackInfo& info) -> Napi::Value {
        try {
          return fn(info);
        } catch (const OpError& e) { throw_js(info.Env(), e); } catch (const Napi::Error&) {
          throw;
        } catch (const std::exception& e) { throw_js(info.Env(), OpError(ErrorKind::Native, op, e.what())); }
      },
      name);
}

}  // namespace mvd
