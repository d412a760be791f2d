// Token-level data movement for the ViT pipelines: tubelet/patch unfolding (the input side of the
// patch-embedding GEMM), visible-token gather/scatter and the two decoder-input layouts
// (MVD/VideoMAE "visible then masked" and MAE "unshuffled"). Plain C++ over dense row-major
// buffers; the N-API glue is in native/binding/ops_tokens.cc.
#pragma once
#include <cstdint>

namespace mvd {

// x [B,C,T,H,W] -> out [B, Tn*(H/kh)*(W/kw), C*kt*kh*kw], token order (t, row, column), vector order
// (c, dt, dy, dx): the im2col of a Conv3d with kernel == stride. With frame_stride s > 1 (kt must
// be 1), only frames 0, s, 2s, ... are read and Tn = T/s, which is the image teacher's batch of
// B*Tn frames laid out sample-major.
struct PatchifyArgs {
  int64_t B = 0, C = 0, T = 0, H = 0, W = 0;
  int64_t kt = 1, kh = 1, kw = 1;
  int64_t frame_stride = 1;
};
void patchify_cpu(const float* x, float* out, const PatchifyArgs& a);

// Throws OpError(Value) naming `op` when an index lies outside [0, limit). Kernels call it before
// any parallel region so a bad index never reaches memory and never throws inside OpenMP.
void check_token_indices(const char* op, const int32_t* idx, int64_t n, int64_t limit);

// out[b,k,:] = x[b, idx[b,k], :]
void gather_tokens_cpu(const float* x, const int32_t* idx, float* out, int64_t B, int64_t N, int64_t K, int64_t D);
// out = zeros [B,N,D]; out[b, idx[b,k], :] += dy[b,k,:]  (duplicates accumulate, in k order)
void scatter_tokens_cpu(const float* dy, const int32_t* idx, float* out, int64_t B, int64_t N, int64_t K, int64_t D);

// out[b, i]      = vis[b,i] + pos[vis_idx[b,i]]          i <  Nv
// out[b, Nv + j] = mask_token + pos[mask_idx[b,j]]       j <  Nm
void assemble_decoder_input_cpu(const float* vis, const int32_t* vis_idx, const int32_t* mask_idx,
                                const float* mask_token, const float* pos, float* out, int64_t B, int64_t Nv,
                                int64_t Nm, int64_t N, int64_t D);
// dvis = dy[:, :Nv]; dmask = sum of dy[:, Nv:] over samples and rows.
void assemble_decoder_input_backward_cpu(const float* dy, float* dvis, float* dmask, int64_t B, int64_t Nv, int64_t Nm,
                                         int64_t D);

// MAE unshuffle: out[b, vis_idx[b,i]] = vis[b,i]; every other row = mask_token. Indices must be
// distinct within a sample (checked), otherwise the op has no well-defined adjoint.
void place_tokens_cpu(const float* vis, const int32_t* vis_idx, const float* mask_token, float* out, int64_t B,
                      int64_t Nv, int64_t N, int64_t D);
void place_tokens_backward_cpu(const float* dy, const int32_t* vis_idx, float* dvis, float* dmask, int64_t B,
                               int64_t Nv, int64_t N, int64_t D);

}  // namespace mvd

#if MVD_HAVE_CUDA || MVD_SIMT
#include <cstddef>

#include "../../cuda/stream.h"

namespace mvd {

// CUDA launchers: the same contracts over device pointers, enqueued on `stream`. An index outside
// [0, limit) cannot throw on the device: the kernels never dereference it and write NaN where the
// CPU op would have thrown (gather, assemble) or skip it (scatter), and set *bad = 1 when `bad` (a
// device int, may be null) is given. `scratch` is device memory of the *_scratch_bytes size, from
// cuda_scratch(); it is free again once the stream passes the launch.
void patchify_cuda(const float* x, float* out, const PatchifyArgs& a, cudaStream_t stream);
void gather_tokens_cuda(const float* x, const int32_t* idx, float* out, int64_t B, int64_t N, int64_t K, int64_t D,
                        int* bad, cudaStream_t stream);
// Rows hit once are copies (fully parallel: the masking case), rows hit repeatedly are summed in k
// order, as on the CPU: bit-identical to it.
size_t scatter_tokens_cuda_scratch_bytes(int64_t B, int64_t N);
void scatter_tokens_cuda(const float* dy, const int32_t* idx, float* out, int64_t B, int64_t N, int64_t K, int64_t D,
                         int* bad, void* scratch, cudaStream_t stream);
void assemble_decoder_input_cuda(const float* vis, const int32_t* vis_idx, const int32_t* mask_idx,
                                 const float* mask_token, const float* pos, float* out, int64_t B, int64_t Nv,
                                 int64_t Nm, int64_t N, int64_t D, int* bad, cudaStream_t stream);
size_t assemble_decoder_input_backward_cuda_scratch_bytes(int64_t B, int64_t Nm, int64_t D);
// dmask: fixed row chunks summed in double, then the chunks in order: deterministic, no atomics.
void assemble_decoder_input_backward_cuda(const float* dy, float* dvis, float* dmask, int64_t B, int64_t Nv, int64_t Nm,
                                          int64_t D, void* scratch, cudaStream_t stream);
// A repeated visible index (an error on the CPU) sets *bad; the output stays deterministic.
size_t place_tokens_cuda_scratch_bytes(int64_t B, int64_t N);
void place_tokens_cuda(const float* vis, const int32_t* vis_idx, const float* mask_token, float* out, int64_t B,
                       int64_t Nv, int64_t N, int64_t D, int* bad, void* scratch, cudaStream_t stream);
size_t place_tokens_backward_cuda_scratch_bytes(int64_t B, int64_t N, int64_t D);
void place_tokens_backward_cuda(const float* dy, const int32_t* vis_idx, float* dvis, float* dmask, int64_t B,
                                int64_t Nv, int64_t N, int64_t D, int* bad, void* scratch, cudaStream_t stream);

}  // namespace mvd
#endif
