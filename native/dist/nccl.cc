#include "nccl.h"

#include <dlfcn.h>

#include <cstdlib>
#include <mutex>

namespace mvd::dist {
namespace {

template <typename F>
bool bind(void* lib, const char* name, F* fn, std::string* missing) {
  *fn = reinterpret_cast<F>(dlsym(lib, name));
  if (!*fn) *missing += std::string(missing->empty() ? "" : ", ") + name;
  return *fn != nullptr;
}

NcclApi load() {
  NcclApi a;
  const char* env = std::getenv("MVD_NCCL_LIBRARY");
  a.path = env && *env ? env : "libnccl.so.2";
  // RTLD_LOCAL: NCCL's symbols serve only this table, never another library's lookups.
  void* lib = dlopen(a.path.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (!lib) {
    const char* e = dlerror();
    a.reason = std::string("dlopen ") + a.path + ": " + (e ? e : "unknown error");
    return a;
  }
  std::string missing;
  bind(lib, "ncclGetVersion", &a.GetVersion, &missing);
  bind(lib, "ncclGetUniqueId", &a.GetUniqueId, &missing);
  bind(lib, "ncclCommInitRank", &a.CommInitRank, &missing);
  bind(lib, "ncclCommDestroy", &a.CommDestroy, &missing);
  bind(lib, "ncclAllReduce", &a.AllReduce, &missing);
  bind(lib, "ncclBroadcast", &a.Broadcast, &missing);
  bind(lib, "ncclAllGather", &a.AllGather, &missing);
  bind(lib, "ncclGetErrorString", &a.GetErrorString, &missing);
  if (!missing.empty()) {
    a.reason = a.path + " lacks " + missing;
    return a;
  }
  if (a.GetVersion(&a.version) != 0) {
    a.reason = a.path + ": ncclGetVersion failed";
    return a;
  }
  if (a.version < 21000) {
    a.reason = a.path + " is NCCL " + std::to_string(a.version) + "; mvd needs 2.10 or later (ncclAvg, bf16)";
    return a;
  }
  a.loaded = true;
  return a;
}

}  // namespace

const NcclApi& nccl() {
  static std::once_flag once;
  static NcclApi api;
  std::call_once(once, [] { api = load(); });
  return api;
}

std::string nccl_status() {
  const NcclApi& a = nccl();
  if (!a.loaded) return "not available: " + a.reason;
  const int v = a.version;
  return "NCCL " + std::to_string(v / 10000) + "." + std::to_string(v / 100 % 100) + "." + std::to_string(v % 100) +
         " (" + a.path + ")";
}

}  // namespace mvd::dist
