#include "collectives.h"

#include <cstring>
#include <map>
#include <mutex>

#include "../core/errors.h"
#include "nccl.h"
#if MVD_HAVE_CUDA
#include "../cuda/runtime.h"
#endif

namespace mvd::dist {
namespace {

int64_t total(const std::vector<Buf>& bufs) {
  int64_t n = 0;
  for (const Buf& b : bufs) n += b.n;
  return n;
}

// One staging buffer per worker thread, grown to the largest bucket: a 25 MB gradient bucket per
// step would otherwise be a fresh allocation (and page faults) every time.
char* host_staging(size_t bytes) {
  thread_local std::vector<char> buf;
  if (buf.size() < bytes) buf.resize(bytes);
  return buf.data();
}

// Runs `fn` on the bucket as one host buffer: in place for a single CPU buffer, else packed.
template <typename Fn>
void on_host(const Device& d, const std::vector<Buf>& bufs, DType dtype, bool write_back, Fn fn) {
  const size_t esz = dtype_size(dtype);
  const int64_t n = total(bufs);
  if (d.kind == Device::CPU && bufs.size() == 1) return fn(bufs[0].p, n);
  char* flat = host_staging(size_t(n) * esz);
  pack(d, bufs, esz, flat, to_host_copy(d));
  fn(flat, n);
  if (write_back) unpack(d, bufs, esz, flat, from_host_copy(d));
}

#if MVD_HAVE_CUDA && !MVD_SIMT
int nccl_type(DType d) {
  switch (d) {
    case DType::F32:
      return kNcclFloat32;
    case DType::BF16:
      return kNcclBfloat16;
    case DType::U8:
      return kNcclUint8;
    case DType::I32:
      return kNcclInt32;
  }
  return kNcclUint8;
}

void nccl_check(int rc, const char* op, const char* what) {
  if (rc == 0) return;
  throw OpError(ErrorKind::Native, op, std::string(what) + " failed: " + nccl().GetErrorString(rc));
}

// One communicator per CUDA device, created at the device's first collective: rank 0 makes the
// unique id and MPI broadcasts it (every rank reaches this point in the same collective order).
NcclComm nccl_comm(const Device& d, const char* op) {
  static std::mutex m;
  static std::map<int, NcclComm> comms;
  std::lock_guard<std::mutex> lock(m);
  auto it = comms.find(d.index);
  if (it != comms.end()) return it->second;
  const World w = world();
  NcclUniqueId id{};
  if (w.rank == 0) nccl_check(nccl().GetUniqueId(&id), op, "ncclGetUniqueId");
  broadcast_bytes(&id, sizeof id, op);
  cuda_stream(d);  // makes d the current device of this worker thread
  NcclComm c = nullptr;
  nccl_check(nccl().CommInitRank(&c, w.size, id, w.rank), op, "ncclCommInitRank");
  comms[d.index] = c;
  return c;
}

// The bucket as one device buffer: the single buffer itself, else packed into the device's scratch.
template <typename Fn>
void on_device(const Device& d, const std::vector<Buf>& bufs, DType dtype, bool write_back, Fn fn) {
  const size_t esz = dtype_size(dtype);
  const int64_t n = total(bufs);
  if (bufs.size() == 1) return fn(bufs[0].p, n);
  char* flat = static_cast<char*>(cuda_scratch(d, size_t(n) * esz));
  pack(d, bufs, esz, flat, cuda_copy_on_device);
  fn(flat, n);
  if (write_back) unpack(d, bufs, esz, flat, cuda_copy_on_device);
}

bool use_nccl(const Device& d) { return d.kind == Device::CUDA && nccl().loaded; }
#endif

}  // namespace

namespace {
void host_copy(const Device&, void* dst, const void* src, size_t bytes) { std::memcpy(dst, src, bytes); }
}  // namespace

CopyFn to_host_copy(const Device& d) {
#if MVD_HAVE_CUDA
  if (d.kind == Device::CUDA) return cuda_copy_to_host;
#endif
  (void)d;
  return host_copy;
}

CopyFn from_host_copy(const Device& d) {
#if MVD_HAVE_CUDA
  if (d.kind == Device::CUDA) return cuda_copy_from_host;
#endif
  (void)d;
  return host_copy;
}

void pack(const Device& d, const std::vector<Buf>& bufs, size_t esz, char* flat, CopyFn copy) {
  for (const Buf& b : bufs) {
    if (b.n) copy(d, flat, b.p, size_t(b.n) * esz);
    flat += size_t(b.n) * esz;
  }
}

void unpack(const Device& d, const std::vector<Buf>& bufs, size_t esz, const char* flat, CopyFn copy) {
  for (const Buf& b : bufs) {
    if (b.n) copy(d, b.p, flat, size_t(b.n) * esz);
    flat += size_t(b.n) * esz;
  }
}

void allreduce_bufs(const Device& d, const std::vector<Buf>& bufs, DType dtype, Reduce red, const char* op) {
#if MVD_HAVE_CUDA && !MVD_SIMT
  if (use_nccl(d)) {
    NcclComm c = nccl_comm(d, op);
    const int nop = red == Reduce::Avg ? kNcclAvg : kNcclSum;
    return on_device(d, bufs, dtype, true, [&](void* p, int64_t n) {
      nccl_check(nccl().AllReduce(p, p, size_t(n), nccl_type(dtype), nop, c, cuda_stream(d)), op, "ncclAllReduce");
    });
  }
#endif
  if (world().size == 1) return;  // the identity: no copies through the host for nothing
  on_host(d, bufs, dtype, true, [&](void* p, int64_t n) { allreduce(p, n, dtype, red, op); });
}

void broadcast_bufs(const Device& d, const std::vector<Buf>& bufs, DType dtype, int root, const char* op) {
#if MVD_HAVE_CUDA && !MVD_SIMT
  if (use_nccl(d)) {
    NcclComm c = nccl_comm(d, op);
    return on_device(d, bufs, dtype, true, [&](void* p, int64_t n) {
      nccl_check(nccl().Broadcast(p, p, size_t(n), nccl_type(dtype), root, c, cuda_stream(d)), op, "ncclBroadcast");
    });
  }
#endif
  const World w = world();
  if (root < 0 || root >= w.size)
    throw OpError(ErrorKind::Value, op,
                  "root " + std::to_string(root) + " is not a rank of this world of " + std::to_string(w.size));
  if (w.size == 1) return;
  // Only the root's data matters going in, but every rank packs so the layout code is one path.
  on_host(d, bufs, dtype, true, [&](void* p, int64_t n) { broadcast(p, n, dtype, root, op); });
}

void allgather_buf(const Device& d, const void* in, void* out, int64_t n, DType dtype, const char* op) {
  const size_t bytes = size_t(n) * dtype_size(dtype);
  if (d.kind == Device::CPU) return allgather(in, out, n, dtype, op);
#if MVD_HAVE_CUDA
#if !MVD_SIMT
  if (use_nccl(d)) {
    NcclComm c = nccl_comm(d, op);
    nccl_check(nccl().AllGather(in, out, size_t(n), nccl_type(dtype), c, cuda_stream(d)), op, "ncclAllGather");
    return;
  }
#endif
  const int size = world().size;
  char* host = host_staging(bytes * (size + 1));
  if (bytes) cuda_copy_to_host(d, host, in, bytes);
  allgather(host, host + bytes, n, dtype, op);
  if (bytes) cuda_copy_from_host(d, out, host + bytes, bytes * size);
#else
  (void)in, (void)out, (void)bytes;
  throw OpError(ErrorKind::Device, op, "this build has no CUDA support", "", d.str());
#endif
}

std::string cuda_collectives_path() {
#if MVD_HAVE_CUDA && !MVD_SIMT
  if (nccl().loaded) return "nccl: " + nccl_status();
  return "host staging through MPI (NCCL " + nccl_status() + ")";
#elif MVD_SIMT
  return "host staging through MPI (emulated CUDA: NCCL is never used)";
#else
  return "none (a CPU-only build)";
#endif
}

}  // namespace mvd::dist
