// Process-level collectives for data-parallel training (issue 19). MPI supplies the launch,
// rank/world and the host-memory collectives; without MPI in the build the world is one process
// and every collective is the identity, so single-process code needs no special case.
// These functions block the calling thread until the collective completes: bindings call them
// inside a queued closure (native/binding/ops_collectives.cc), so they run on the device's worker
// in order with the kernels around them.
#pragma once
#include <cstdint>
#include <string>

#include "../core/storage.h"

namespace mvd::dist {

enum class Reduce { Sum, Avg };

struct World {
  int rank = 0;
  int size = 1;
  // Rank among the processes of this node, and their count (one GPU per local rank).
  int local_rank = 0;
  int local_size = 1;
  bool mpi = false;  // MPI initialised (false: single process)
  // MPI_THREAD_MULTIPLE granted: two threads may be inside MPI at once (the overlapped gradient
  // reduction's own thread needs it; with MPI_THREAD_SERIALIZED buckets reduce on the worker).
  bool mpi_thread_multiple = false;
};

// Whether this build links MPI, and the library's own version line (or why not).
bool mpi_compiled();
std::string mpi_library();

// Initialises MPI once (thread level MPI_THREAD_MULTIPLE, since ops run on device workers while
// the JS thread initialises and finalises) when `use_mpi`; otherwise the single-process world.
// Calling it again returns the same world. A build without MPI asked for MPI is a DeviceError.
World init(bool use_mpi);
World world();
// MPI_Finalize once, if MPI was initialised (idempotent); nothing is in flight when it is called.
void finalize();
// Ends every process of the job with `code` (MPI_Abort); without MPI, _exit(code).
[[noreturn]] void abort_job(int code);

// Which communicator a collective uses. MPI matches collectives on one communicator by their
// order on each rank, so two threads must never issue them on the same one concurrently: the
// device workers use Queue, the gradient thread (overlap.h) its own duplicate, Overlap.
enum class Channel { Queue, Overlap };

// Host-memory collectives on `n` elements of `dtype`. `op` names the caller for errors.
// Avg is for f32 and bf16 only (the binding checks); bf16 is reduced in f32 and rounded once.
void allreduce(void* buf, int64_t n, DType dtype, Reduce red, const char* op, Channel ch = Channel::Queue);
void broadcast(void* buf, int64_t n, DType dtype, int root, const char* op);
// `out` holds world().size * n elements, rank r's block at r * n.
void allgather(const void* in, void* out, int64_t n, DType dtype, const char* op);
void barrier(const char* op);
// Broadcast of raw bytes from rank 0 (NCCL's unique id).
void broadcast_bytes(void* buf, int64_t bytes, const char* op);

}  // namespace mvd::dist
