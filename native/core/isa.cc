#include "isa.h"

#include <atomic>
#include <cstdlib>
#include <cstring>

namespace mvd {
namespace {

bool cpu_has_avx512() {
#if MVD_HAVE_ISA_V4 && (defined(__x86_64__) || defined(__i386__))
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
         __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl");
#else
  return false;
#endif
}

int auto_level() {
  const char* env = std::getenv("MVD_CPU_ISA");
  if (env && std::strcmp(env, "avx2") == 0) return 3;
  return cpu_has_avx512() ? 4 : 3;
}

std::atomic<int> g_level{0};

}  // namespace

int cpu_isa_level() {
  int l = g_level.load(std::memory_order_relaxed);
  if (l == 0) {
    l = auto_level();
    g_level.store(l, std::memory_order_relaxed);
  }
  return l;
}

bool set_cpu_isa(const std::string& name) {
  if (name == "auto") g_level = auto_level();
  else if (name == "avx2") g_level = 3;
  else if (name == "avx512" && cpu_has_avx512()) g_level = 4;
  else return false;
  return true;
}

const char* cpu_isa_name() { return cpu_isa_level() == 4 ? "avx512" : "avx2"; }

std::string cpu_isa_variants() {
#if MVD_HAVE_ISA_V4
  return "avx2 avx512";
#else
  return "avx2";
#endif
}

}  // namespace mvd
