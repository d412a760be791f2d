// The SIMT emulator's interface (g++ builds with MVD_SIMT=1 only; kernels reach it through simt.h).
// One fiber per CUDA thread; a block's fibers run one at a time until each reaches a barrier, a warp
// collective or its end, in the order the schedule gives; blocks run one after another.
#pragma once
#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>
#include <functional>
#include <stdexcept>
#include <string>
#include <tuple>
#include <type_traits>

namespace mvd {
namespace simt {

// Forward: threads (and blocks) in index order; Reverse: the opposite; Shuffle: a permutation drawn
// from the seed afresh for every barrier phase. A race shows as a result that depends on the order.
enum class Schedule { Forward, Reverse, Shuffle };
void set_schedule(Schedule s, uint64_t seed = 0);
Schedule schedule();
uint64_t schedule_seed();
const char* schedule_name(Schedule s);
// Parses "forward", "reverse", "shuffle" or "shuffle:SEED" (the syntax of $MVD_SIMT_SCHEDULE).
bool parse_schedule(const std::string& text, Schedule* s, uint64_t* seed);

// A kernel bug the emulator detects (barrier divergence, a warp collective that cannot complete,
// shared-memory declarations out of order, ...). By default it prints and aborts; inside a
// FaultCapture on the launching thread it is thrown as Fault from mvd_launch, so tests can assert it.
struct Fault : std::runtime_error {
  using std::runtime_error::runtime_error;
};
class FaultCapture {
 public:
  FaultCapture();
  ~FaultCapture();
  FaultCapture(const FaultCapture&) = delete;
  FaultCapture& operator=(const FaultCapture&) = delete;
};

// Collective over the 32 lanes of the calling warp (all existing lanes must call, from the same
// line): each contributes `bytes` from `mine`; each receives all contributions in lane order in
// `all_out` (32 * bytes; slots of lanes a partial warp lacks are 0xFF bytes).
void warp_exchange(const void* mine, size_t bytes, void* all_out, const char* file = __builtin_FILE(),
                   int line = __builtin_LINE());
// The calling thread's lane in its warp (0..31).
int lane_id();

// Why the last launch on this host thread failed (empty if it did not): the error code alone does
// not say which limit was broken.
std::string last_launch_detail();

namespace detail {

struct ThreadCtx {
  uint3 tid, bid;
  dim3 bdim, gdim;
  unsigned linear, lane, warp;
};

extern thread_local const ThreadCtx* t_ctx;
[[noreturn]] void outside_kernel(const char* what);
inline const ThreadCtx& ctx(const char* what) {
  if (!t_ctx) outside_kernel(what);
  return *t_ctx;
}

// Runs `body` once per thread of every block. Launch-configuration errors set the sticky error
// (cudaGetLastError) and return it without running anything, as CUDA does.
cudaError_t launch(const void* kernel, dim3 grid, dim3 block, size_t smem_bytes, cudaStream_t stream,
                   const std::function<void()>& body);

// Block barrier. kind: 0 plain, 1 count, 2 and, 3 or (of `pred` over the block).
int block_barrier(int kind, int pred, const char* file, int line);

// The primitive every warp intrinsic is built on: as warp_exchange, but over the lanes of `mask`
// (each must call with the same mask from the same line). `all_out` may be null (__syncwarp).
// Returns the mask of lanes that took part (mask less the lanes a partial last warp lacks).
unsigned warp_collective(unsigned mask, const void* mine, size_t bytes, void* all_out, const char* what,
                         const char* file, int line);

void* static_shared(size_t bytes, const char* file, int line);
void* dynamic_shared();
[[noreturn]] void trap(const char* what);

void set_last_error(cudaError_t err);
cudaError_t get_last_error(bool reset);
void set_func_max_dynamic_smem(const void* kernel, int bytes);

}  // namespace detail
}  // namespace simt
}  // namespace mvd
