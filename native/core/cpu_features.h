#pragma once
#include <string>

namespace mvd {
// Features the CPU reports at run time (cpuid), and the ones this binary was compiled to use.
std::string cpu_features_runtime();
std::string cpu_features_compiled();
int cpu_threads();
}  // namespace mvd
