// Collectives over the buffers of one device, as queued closures call them (on the device's
// worker). A list of buffers is one bucket: packed into one contiguous buffer, reduced with one
// collective, unpacked. CPU buffers go through MPI (comm.h); CUDA buffers through NCCL when it
// loaded (nccl.h), otherwise through MPI with host staging (copy to host, reduce, copy back).
#pragma once
#include <string>
#include <vector>

#include "../core/storage.h"
#include "comm.h"

namespace mvd::dist {

struct Buf {
  void* p;
  int64_t n;  // elements
};

// Copies between a bucket's buffers (on the device `d`) and one contiguous buffer.
using CopyFn = void (*)(const Device&, void* dst, const void* src, size_t bytes);
CopyFn to_host_copy(const Device& d);    // device buffer -> host
CopyFn from_host_copy(const Device& d);  // host -> device buffer
void pack(const Device& d, const std::vector<Buf>& bufs, size_t esz, char* flat, CopyFn copy);
void unpack(const Device& d, const std::vector<Buf>& bufs, size_t esz, const char* flat, CopyFn copy);

void allreduce_bufs(const Device& d, const std::vector<Buf>& bufs, DType dtype, Reduce red, const char* op);
void broadcast_bufs(const Device& d, const std::vector<Buf>& bufs, DType dtype, int root, const char* op);
// `out` holds world().size * n elements.
void allgather_buf(const Device& d, const void* in, void* out, int64_t n, DType dtype, const char* op);

// How CUDA tensors are reduced in this process: "nccl" or "host staging through MPI", with the
// reason NCCL is not used.
std::string cuda_collectives_path();

}  // namespace mvd::dist
