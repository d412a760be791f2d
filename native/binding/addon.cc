// The addon's entry point: per-environment data, then every binding file registers its functions.
#include "args.h"
#include "bindings.h"

namespace mvd {

std::vector<std::pair<const char*, RegisterFn>>& binding_registry() {
  static std::vector<std::pair<const char*, RegisterFn>> r;
  return r;
}

std::vector<BindingSpec>& op_registry() {
  static std::vector<BindingSpec> r;
  return r;
}

static Napi::Object Init(Napi::Env env, Napi::Object exports) {
  auto* ad = new AddonData();
  env.SetInstanceData<AddonData>(ad);
  ad->storage_ctor = Napi::Persistent(StorageHandle::Define(env));
  ad->tsfn = Napi::ThreadSafeFunction::New(env, Napi::Function::New(env, [](const Napi::CallbackInfo&) {}),
                                           "mvd-readback", 0, 1);
  ad->tsfn.Unref(env);  // referenced only while a read-back is pending
  env.AddCleanupHook([ad] { ad->tsfn.Abort(); });
  for (auto& [name, fn] : binding_registry()) fn(env, exports);
  for (const BindingSpec& b : op_registry()) bind(env, exports, b.name, b.fn, b.params);
  bind(
      env, exports, "nativeSignatures",
      [](const Napi::CallbackInfo& info) -> Napi::Value {
        Napi::Object r = Napi::Object::New(info.Env());
        for (auto& [name, params] : binding_signatures()) r.Set(name, params);
        return r;
      },
      "");
  return exports;
}

}  // namespace mvd

static Napi::Object InitAddon(Napi::Env env, Napi::Object exports) { return mvd::Init(env, exports); }

NODE_API_MODULE(mvd_addon, InitAddon)
