// The addon's entry point: per-environment data, then every binding file registers its functions.
#include "args.h"
#include "bindings.h"

namespace mvd {

std::vector<std::pair<const char*, RegisterFn>>& binding_registry() {
  static std::vector<std::pair<const char*, RegisterFn>> r;
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
  return exports;
}

}  // namespace mvd

static Napi::Object InitAddon(Napi::Env env, Napi::Object exports) { return mvd::Init(env, exports); }

NODE_API_MODULE(mvd_addon, InitAddon)
