// Gradient all-reduce that overlaps the rest of backward (issue 19). A bucket's reduction is split
// in two queued tasks. start() runs on the device worker once the bucket's gradients are written:
// it copies them into the bucket's own host buffer and hands that to the gradient thread, then
// returns, so the worker goes on with the next backward kernels while the thread sits in
// MPI_Allreduce. finish() runs on the worker before the optimiser reads the gradients: it waits
// for the thread and copies the result back. The thread issues its collectives in the order of
// the start() tasks, which is the same on every rank, on its own communicator (comm.h Channel).
// NCCL buckets are reduced inside start() on the device's stream (NCCL is asynchronous there
// already); finish() then has nothing to do.
#pragma once
#include <memory>
#include <vector>

#include "collectives.h"

namespace mvd::dist {

struct OverlapBucket;

// On the device worker: gradients → the bucket's buffer, then the reduction is queued to the
// gradient thread. `bufs` are resolved pointers; they must not be written until finish().
std::shared_ptr<OverlapBucket> overlap_start(const Device& d, const std::vector<Buf>& bufs, DType dtype, Reduce red,
                                             const char* op);
// On the device worker: waits for the bucket's reduction and writes it back into `bufs`; a failed
// reduction throws its error here.
void overlap_finish(const std::shared_ptr<OverlapBucket>& b, const std::vector<Buf>& bufs);
// Stops the gradient thread after its queued work (before MPI_Finalize).
void overlap_shutdown();

}  // namespace mvd::dist
