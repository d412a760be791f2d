// MPI behind native/dist/comm.h; without MVD_HAVE_MPI the one-process world.
#include "comm.h"

#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <mutex>
#include <vector>

#include "../core/errors.h"
#if MVD_HAVE_MPI
// The C API only: the deprecated C++ bindings would pull libmpi_cxx into the link.
#define OMPI_SKIP_MPICXX 1
#define MPICH_SKIP_MPICXX 1
#include <mpi.h>
#endif

namespace mvd::dist {
namespace {

std::mutex init_mutex;
World the_world;
bool initialised = false;
bool finalised = false;

float bf16_to_f32(uint16_t h) {
  uint32_t u = uint32_t(h) << 16;
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}
// Round to nearest even, NaN kept quiet (the same rule as the kernels' bf16 stores).
uint16_t f32_to_bf16(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  if ((u & 0x7fffffffu) > 0x7f800000u) return uint16_t((u >> 16) | 0x40);
  return uint16_t((u + 0x7fffu + ((u >> 16) & 1u)) >> 16);
}

#if MVD_HAVE_MPI
// MPI counts are int: larger buffers go in pieces of this many elements.
constexpr int64_t kChunk = int64_t(1) << 28;

void check(int rc, const char* op, const char* what) {
  if (rc == MPI_SUCCESS) return;
  char msg[MPI_MAX_ERROR_STRING];
  int len = 0;
  MPI_Error_string(rc, msg, &len);
  throw OpError(ErrorKind::Native, op, std::string(what) + " failed: " + std::string(msg, len));
}

MPI_Datatype mpi_type(DType d) {
  switch (d) {
    case DType::F32:
      return MPI_FLOAT;
    case DType::BF16:
      return MPI_UINT16_T;  // moved as bits; reduced through f32 staging
    case DType::U8:
      return MPI_UINT8_T;
    case DType::I32:
      return MPI_INT32_T;
  }
  return MPI_BYTE;
}

// MPI_COMM_WORLD's duplicate for Channel::Overlap, made in init() (MPI_Comm_dup is collective).
MPI_Comm overlap_comm = MPI_COMM_NULL;
MPI_Comm comm_of(Channel ch) { return ch == Channel::Overlap ? overlap_comm : MPI_COMM_WORLD; }

void require_init(const char* op) {
  if (!initialised)
    throw OpError(ErrorKind::Value, op, "the process group is not initialised (call initDistributed() first)");
}
#endif

void scale_avg(float* p, int64_t n, int size) {
  const float s = float(size);
  for (int64_t i = 0; i < n; ++i) p[i] /= s;
}

}  // namespace

bool mpi_compiled() {
#if MVD_HAVE_MPI
  return true;
#else
  return false;
#endif
}

std::string mpi_library() {
#if MVD_HAVE_MPI
  char v[MPI_MAX_LIBRARY_VERSION_STRING];
  int len = 0;
  MPI_Get_library_version(v, &len);
  std::string s(v, strnlen(v, len));
  // The first field names the implementation and version; the rest is build detail.
  s = s.substr(0, s.find_first_of(",\r\n"));
  while (!s.empty() && (s.back() == ',' || s.back() == ' ')) s.pop_back();
  return s;
#else
  return "not compiled (MPI was not found when the addon was built)";
#endif
}

World init(bool use_mpi) {
  std::lock_guard<std::mutex> lock(init_mutex);
  if (initialised) return the_world;
  if (finalised)
    throw OpError(ErrorKind::Value, "initDistributed",
                  "MPI was already finalised in this process; it cannot start again");
  World w;
  if (use_mpi) {
#if MVD_HAVE_MPI
    int provided = 0;
    check(MPI_Init_thread(nullptr, nullptr, MPI_THREAD_MULTIPLE, &provided), "initDistributed", "MPI_Init_thread");
    if (provided < MPI_THREAD_SERIALIZED)
      throw OpError(ErrorKind::Device, "initDistributed",
                    "the MPI library gives thread level " + std::to_string(provided) +
                        "; mvd calls MPI from its device worker threads and needs MPI_THREAD_SERIALIZED or higher");
    w.mpi_thread_multiple = provided >= MPI_THREAD_MULTIPLE;
    // Failures become exceptions (typed errors at the next read-back), not an abort inside MPI.
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
    MPI_Comm_rank(MPI_COMM_WORLD, &w.rank);
    MPI_Comm_size(MPI_COMM_WORLD, &w.size);
    MPI_Comm local;
    check(MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, w.rank, MPI_INFO_NULL, &local), "initDistributed",
          "MPI_Comm_split_type");
    MPI_Comm_rank(local, &w.local_rank);
    MPI_Comm_size(local, &w.local_size);
    MPI_Comm_free(&local);
    check(MPI_Comm_dup(MPI_COMM_WORLD, &overlap_comm), "initDistributed", "MPI_Comm_dup");
    MPI_Comm_set_errhandler(overlap_comm, MPI_ERRORS_RETURN);
    w.mpi = true;
#else
    throw OpError(ErrorKind::Device, "initDistributed",
                  "this addon was built without MPI, so it cannot join a multi-process launch; rebuild with "
                  "libopenmpi-dev installed (mvd info shows 'mpi'), or run one process");
#endif
  }
  the_world = w;
  initialised = true;
  return w;
}

World world() {
  std::lock_guard<std::mutex> lock(init_mutex);
  return the_world;
}

void finalize() {
  std::lock_guard<std::mutex> lock(init_mutex);
#if MVD_HAVE_MPI
  if (initialised && the_world.mpi && !finalised) {
    if (overlap_comm != MPI_COMM_NULL) MPI_Comm_free(&overlap_comm);
    MPI_Finalize();
  }
#endif
  if (initialised) finalised = true;
  initialised = false;
  the_world = World();
}

void abort_job(int code) {
#if MVD_HAVE_MPI
  if (initialised && the_world.mpi) MPI_Abort(MPI_COMM_WORLD, code);
#endif
  _exit(code);
}

void allreduce(void* buf, int64_t n, DType dtype, Reduce red, const char* op, Channel ch) {
  const World w = world();
  if (w.size == 1 || n == 0) return;
#if MVD_HAVE_MPI
  require_init(op);
  if (dtype == DType::BF16) {
    // bf16 has no MPI type: sum in f32 and round once, as a reduction in f32 would.
    uint16_t* h = static_cast<uint16_t*>(buf);
    std::vector<float> f(n);
    for (int64_t i = 0; i < n; ++i) f[i] = bf16_to_f32(h[i]);
    allreduce(f.data(), n, DType::F32, red, op, ch);
    for (int64_t i = 0; i < n; ++i) h[i] = f32_to_bf16(f[i]);
    return;
  }
  if (dtype == DType::U8) {
    // Summed in i32 and wrapped mod 256 (C's and PyTorch's uint8 sum): Open MPI 4.1's AVX op
    // component saturates MPI_UINT8_T sums at 255 instead.
    uint8_t* b = static_cast<uint8_t*>(buf);
    std::vector<int32_t> wide(b, b + n);
    allreduce(wide.data(), n, DType::I32, red, op, ch);
    for (int64_t i = 0; i < n; ++i) b[i] = uint8_t(wide[i] & 0xff);
    return;
  }
  const size_t esz = dtype_size(dtype);
  for (int64_t at = 0; at < n; at += kChunk) {
    const int cnt = int(std::min(kChunk, n - at));
    check(MPI_Allreduce(MPI_IN_PLACE, static_cast<char*>(buf) + at * esz, cnt, mpi_type(dtype), MPI_SUM, comm_of(ch)),
          op, "MPI_Allreduce");
  }
  if (red == Reduce::Avg) scale_avg(static_cast<float*>(buf), n, w.size);
#else
  (void)buf, (void)dtype, (void)red, (void)op, (void)ch;
#endif
}

void broadcast(void* buf, int64_t n, DType dtype, int root, const char* op) {
  const World w = world();
  if (root < 0 || root >= w.size)
    throw OpError(ErrorKind::Value, op,
                  "root " + std::to_string(root) + " is not a rank of this world of " + std::to_string(w.size));
  if (w.size == 1 || n == 0) return;
#if MVD_HAVE_MPI
  require_init(op);
  const size_t esz = dtype_size(dtype);
  for (int64_t at = 0; at < n; at += kChunk) {
    const int cnt = int(std::min(kChunk, n - at));
    check(MPI_Bcast(static_cast<char*>(buf) + at * esz, cnt, mpi_type(dtype), root, MPI_COMM_WORLD), op, "MPI_Bcast");
  }
#else
  (void)buf, (void)dtype;
#endif
}

void broadcast_bytes(void* buf, int64_t bytes, const char* op) { broadcast(buf, bytes, DType::U8, 0, op); }

void allgather(const void* in, void* out, int64_t n, DType dtype, const char* op) {
  const World w = world();
  const size_t bytes = size_t(n) * dtype_size(dtype);
  if (w.size == 1 || n == 0) {
    if (bytes) std::memcpy(out, in, bytes);
    return;
  }
#if MVD_HAVE_MPI
  require_init(op);
  if (n <= kChunk) {
    check(MPI_Allgather(in, int(n), mpi_type(dtype), out, int(n), mpi_type(dtype), MPI_COMM_WORLD), op,
          "MPI_Allgather");
    return;
  }
  // Past an int count: one broadcast per rank's block.
  for (int r = 0; r < w.size; ++r) {
    char* block = static_cast<char*>(out) + size_t(r) * bytes;
    if (r == w.rank) std::memcpy(block, in, bytes);
    broadcast(block, n, dtype, r, op);
  }
#endif
}

void barrier(const char* op) {
  const World w = world();
  if (w.size == 1) return;
#if MVD_HAVE_MPI
  require_init(op);
  check(MPI_Barrier(MPI_COMM_WORLD), op, "MPI_Barrier");
#else
  (void)op;
#endif
}

}  // namespace mvd::dist
