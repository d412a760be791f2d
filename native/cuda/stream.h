// The CUDA stream type alone, so op headers can declare launchers
// `void foo_cuda(..., cudaStream_t stream)` without including CUDA's headers. The same typedef as
// CUDA's driver_types.h (repeating an identical typedef is legal C++).
#pragma once
typedef struct CUstream_st* cudaStream_t;
