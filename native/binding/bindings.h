// Binding files register themselves: MVD_BINDING("jsName", Fn, "params") after each binding
// function (or MVD_REGISTER_BINDINGS(name, fn) for a hand-written registration function), and
// addon.cc exports every registered one at load. Adding an op never touches a central list.
#pragma once
#include <napi.h>

#include <utility>
#include <vector>

#include "args.h"

namespace mvd {
using RegisterFn = void (*)(Napi::Env, Napi::Object);
std::vector<std::pair<const char*, RegisterFn>>& binding_registry();
struct BindingRegistrar {
  BindingRegistrar(const char* name, RegisterFn fn) { binding_registry().emplace_back(name, fn); }
};

// One binding: addon.cc exports it with bind() (args.h), which also records its parameters
// ("x, s, {opt?}", as lib/native.ts's NativeAddon declares them) for the interface test.
struct BindingSpec {
  const char* name;
  BindingFn fn;
  const char* params;
};
std::vector<BindingSpec>& op_registry();
struct OpRegistrar {
  OpRegistrar(const char* name, BindingFn fn, const char* params) {
    op_registry().push_back({name, std::move(fn), params});
  }
};
}  // namespace mvd

#define MVD_REGISTER_BINDINGS(name, fn) static ::mvd::BindingRegistrar mvd_binding_registrar_##name(#name, fn);

#define MVD_BINDING_CAT2(a, b) a##b
#define MVD_BINDING_CAT(a, b) MVD_BINDING_CAT2(a, b)
#define MVD_BINDING(name, fn, params) \
  static ::mvd::OpRegistrar MVD_BINDING_CAT(mvd_op_registrar_, __LINE__)(name, fn, params);
