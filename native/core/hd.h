// MVD_HD marks math shared by a CPU op and its CUDA kernel, so the two cannot drift: nvcc compiles
// it for host and device; plain g++ (the CPU ops, and the SIMT emulator, where every thread is a
// host fiber) sees an ordinary inline function.
#pragma once

#if defined(__CUDACC__)
#define MVD_HD __host__ __device__
#else
#define MVD_HD
#endif
