// Included last by a *_isa.cc file (after every other #include, see isa.h): switches the rest of
// that file to AVX-512 in its second, MVD_ISA_LEVEL=4 build.
#include "isa.h"
#if MVD_ISA_LEVEL == 4
#pragma GCC target("avx512f,avx512bw,avx512dq,avx512vl,prefer-vector-width=512")
#endif
