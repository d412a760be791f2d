#include "cpu_features.h"

#ifdef _OPENMP
#include <omp.h>
#endif

namespace mvd {

std::string cpu_features_runtime() {
  std::string s;
#if defined(__x86_64__) || defined(__i386__)
  __builtin_cpu_init();
  const char* names[] = {"sse4.2", "avx", "avx2", "fma", "avx512f", "avx512bw", "avx512vl", "avx512bf16"};
  bool has[] = {(bool)__builtin_cpu_supports("sse4.2"),   (bool)__builtin_cpu_supports("avx"),
                (bool)__builtin_cpu_supports("avx2"),     (bool)__builtin_cpu_supports("fma"),
                (bool)__builtin_cpu_supports("avx512f"),  (bool)__builtin_cpu_supports("avx512bw"),
                (bool)__builtin_cpu_supports("avx512vl"), (bool)__builtin_cpu_supports("avx512bf16")};
  for (size_t i = 0; i < sizeof(has) / sizeof(has[0]); ++i)
    if (has[i]) s += (s.empty() ? "" : " ") + std::string(names[i]);
#endif
  return s;
}

std::string cpu_features_compiled() {
  std::string s;
  auto add = [&](const char* n) { s += (s.empty() ? "" : " ") + std::string(n); };
#ifdef __SSE4_2__
  add("sse4.2");
#endif
#ifdef __AVX__
  add("avx");
#endif
#ifdef __AVX2__
  add("avx2");
#endif
#ifdef __FMA__
  add("fma");
#endif
#ifdef __AVX512F__
  add("avx512f");
#endif
  return s.empty() ? "baseline" : s;
}

int cpu_threads() {
#ifdef _OPENMP
  return omp_get_max_threads();
#else
  return 1;
#endif
}

}  // namespace mvd
