// Binding files register themselves: each ends with MVD_REGISTER_BINDINGS(name, fn), and addon.cc
// calls every registered function at load. Adding an op never touches a central list.
#pragma once
#include <napi.h>

#include <utility>
#include <vector>

namespace mvd {
using RegisterFn = void (*)(Napi::Env, Napi::Object);
std::vector<std::pair<const char*, RegisterFn>>& binding_registry();
struct BindingRegistrar {
  BindingRegistrar(const char* name, RegisterFn fn) { binding_registry().emplace_back(name, fn); }
};
}  // namespace mvd

#define MVD_REGISTER_BINDINGS(name, fn) static ::mvd::BindingRegistrar mvd_binding_registrar_##name(#name, fn);
