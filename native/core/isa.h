// Kernels compiled twice: once for x86-64-v3 (AVX2 + FMA, what the addon assumes) and once more
// with AVX-512 (16-lane vectors), chosen at run time. Only files named *_isa.cc take part: the
// build compiles each one a second time with MVD_ISA_LEVEL=4 (CMakeLists.txt), the file wraps its
// kernels in namespace MVD_ISA_NS and enables AVX-512 with a target pragma after its #includes, so
// the standard-library code both copies instantiate is identical (one copy survives linking) and
// only our own loops differ. Why: on CPUs with two full-width 512-bit FMA pipes (AMD Zen 5, recent
// Xeons) the measured AVX-512 FMA peak is twice the AVX2 one, and our own kernels (not oneDNN,
// which dispatches itself) were capped at half the machine (bench/NOTES.md "AVX-512 builds of the kernels we write").
#pragma once
#include <string>

#ifndef MVD_ISA_LEVEL
#define MVD_ISA_LEVEL 3
#endif
#if MVD_ISA_LEVEL == 4
#define MVD_ISA_NS isa_v4
#else
#define MVD_ISA_NS isa_v3
#endif

// Declares `decl` in both variant namespaces (inside namespace mvd).
#define MVD_ISA_DECLARE(decl) \
  namespace isa_v3 {          \
  decl;                       \
  }                           \
  namespace isa_v4 {          \
  decl;                       \
  }

// Calls the variant the CPU (and MVD_CPU_ISA) selects.
#if MVD_HAVE_ISA_V4
#define MVD_ISA_CALL(fn, ...) \
  (::mvd::cpu_isa_level() == 4 ? ::mvd::isa_v4::fn(__VA_ARGS__) : ::mvd::isa_v3::fn(__VA_ARGS__))
#else
#define MVD_ISA_CALL(fn, ...) ::mvd::isa_v3::fn(__VA_ARGS__)
#endif

namespace mvd {
// 4 when the AVX-512 variants are built in, the CPU has AVX-512 F/BW/DQ/VL and MVD_CPU_ISA is not
// "avx2"; else 3. Read once, then fixed unless set_cpu_isa_level changes it (tests).
int cpu_isa_level();
// Forces a level for the variants ("avx2" → 3, "avx512" → 4, "auto"). Returns false, changing
// nothing, when the name is unknown or level 4 is asked for where it cannot run.
bool set_cpu_isa(const std::string& name);
// The build in use by name: "avx512" (level 4) or "avx2" (level 3), the names set_cpu_isa takes.
const char* cpu_isa_name();
// The levels this build holds: "avx2" or "avx2 avx512".
std::string cpu_isa_variants();
}  // namespace mvd
