// The CPU LayerNorm entry points: the AVX2 or AVX-512 build of norm_cpu_isa.cc, as the CPU allows.
#include "norm.h"

namespace mvd {

void layernorm_forward_cpu(const float* x, const float* residual, float* sum, const float* weight, const float* bias,
                           float* y, float* mean, float* rstd, int64_t rows, int64_t D, float eps) {
  MVD_ISA_CALL(layernorm_forward_cpu, x, residual, sum, weight, bias, y, mean, rstd, rows, D, eps);
}

void layernorm_backward_cpu(const float* dy, const float* x, const float* mean, const float* rstd, const float* weight,
                            const float* dresidual, float* dx, float* dweight, float* dbias, int64_t rows, int64_t D) {
  MVD_ISA_CALL(layernorm_backward_cpu, dy, x, mean, rstd, weight, dresidual, dx, dweight, dbias, rows, D);
}

}  // namespace mvd
