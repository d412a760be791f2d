// The CPU attention entry points: the AVX2 or AVX-512 build of attention_cpu_isa.cc, as the CPU allows.
#include "attention.h"

namespace mvd {

void attention_forward_cpu(const AttentionShape& s, const float* qkv, float* out, float* lse) {
  MVD_ISA_CALL(attention_forward_cpu, s, qkv, out, lse);
}

void attention_backward_cpu(const AttentionShape& s, const float* dout, const float* qkv, const float* out,
                            const float* lse, float* dqkv) {
  MVD_ISA_CALL(attention_backward_cpu, s, dout, qkv, out, lse, dqkv);
}

}  // namespace mvd
