// The SIMT emulator itself: schedules, barriers, warp collectives, shared memory, atomics, launch
// checks and the faults it reports. Op kernels are tested in test_cuda_<family>.cc.
#if MVD_SIMT
#include <cmath>
#include <cstring>
#include <string>
#include <vector>

#include "check.h"
#include "simt/simt.h"

namespace {

using mvd::simt::Schedule;

struct ScheduleCase {
  Schedule s;
  uint64_t seed;
  const char* name;
};
const ScheduleCase kSchedules[] = {{Schedule::Forward, 0, "forward"},
                                   {Schedule::Reverse, 0, "reverse"},
                                   {Schedule::Shuffle, 1, "shuffle:1"},
                                   {Schedule::Shuffle, 7, "shuffle:7"}};

// Restores the schedule a test changed, so test order does not matter.
struct ScheduleScope {
  Schedule s = mvd::simt::schedule();
  uint64_t seed = mvd::simt::schedule_seed();
  ~ScheduleScope() { mvd::simt::set_schedule(s, seed); }
};

template <typename T>
struct DeviceBuf {
  T* p = nullptr;
  size_t n;
  explicit DeviceBuf(size_t n) : n(n) { CHECK(cudaMalloc((void**)&p, n * sizeof(T)) == cudaSuccess); }
  DeviceBuf(const std::vector<T>& v) : DeviceBuf(v.size()) {
    cudaMemcpy(p, v.data(), n * sizeof(T), cudaMemcpyHostToDevice);
  }
  ~DeviceBuf() { cudaFree(p); }
  std::vector<T> get() const {
    std::vector<T> v(n);
    cudaMemcpy(v.data(), p, n * sizeof(T), cudaMemcpyDeviceToHost);
    return v;
  }
};

// Expects `fn` to raise an emulator fault whose message contains `needle`.
template <typename F>
void expect_fault(F fn, const char* needle) {
  mvd::simt::FaultCapture capture;
  try {
    fn();
  } catch (const mvd::simt::Fault& f) {
    if (!std::strstr(f.what(), needle)) mvdtest::fail(std::string("fault without '") + needle + "': " + f.what());
    return;
  }
  mvdtest::fail(std::string("no fault (expected '") + needle + "')");
}

// ---- kernels -----------------------------------------------------------------------------------

__global__ void record_order(int* counter, int* order) {
  order[blockIdx.x * blockDim.x + threadIdx.x] = atomicAdd(counter, 1);
}

// Block tree reduction of 256 floats per block. Without the barrier inside the loop, a thread reads
// its partner's partial sum before (or after) the partner has updated it, depending on the order.
template <bool Sync>
__global__ void tree_sum(const float* x, float* out, int n) {
  MVD_SHARED(float, part, 256);
  int i = blockIdx.x * 256 + threadIdx.x;
  part[threadIdx.x] = i < n ? x[i] : 0.f;
  __syncthreads();
  for (int s = 128; s > 0; s >>= 1) {
    if ((int)threadIdx.x < s) part[threadIdx.x] += part[threadIdx.x + s];
    if (Sync) __syncthreads();
  }
  if (threadIdx.x == 0) out[blockIdx.x] = part[0];
}

float host_tree_sum(const float* x, int n) {
  std::vector<float> p(256);
  for (int t = 0; t < 256; ++t) p[t] = t < n ? x[t] : 0.f;
  for (int s = 128; s > 0; s >>= 1)
    for (int t = 0; t < s; ++t) p[t] += p[t + s];
  return p[0];
}

__global__ void warp_ops(const float* x, float* sums, float* ups, float* idx16, unsigned* ballots, int* votes) {
  int t = threadIdx.x;
  float v = x[t];
  float s = v;
  for (int o = 16; o > 0; o >>= 1) s += __shfl_xor_sync(0xffffffffu, s, o);
  sums[t] = s;
  ups[t] = __shfl_up_sync(0xffffffffu, v, 1);
  idx16[t] = __shfl_sync(0xffffffffu, v, 3, 16);
  ballots[t] = __ballot_sync(0xffffffffu, v > 0.f);
  votes[2 * t] = __any_sync(0xffffffffu, t == 37);
  votes[2 * t + 1] = __all_sync(0xffffffffu, t < 64);
}

__global__ void shfl_down_partial(const float* x, float* out) {
  float v = x[threadIdx.x];
  v += __shfl_down_sync(0xffffffffu, v, 16);
  out[threadIdx.x] = v;
}

__global__ void atomics_kernel(float* fsum, int* imax, unsigned* cas_winner, unsigned* count) {
  int t = blockIdx.x * blockDim.x + threadIdx.x;
  atomicAdd(fsum, 0.5f);
  atomicMax(imax, (t * 37) % 101);
  atomicCAS(cas_winner, 0xffffffffu, (unsigned)t);
  atomicAdd(count, 1u);
}

__global__ void dyn_smem_kernel(float* out, int n) {
  MVD_DYN_SHARED(float, buf);
  for (int i = threadIdx.x; i < n; i += blockDim.x) buf[i] = (float)i;
  __syncthreads();
  for (int i = threadIdx.x; i < n; i += blockDim.x) out[i] = buf[n - 1 - i];
}

__global__ void read_before_write(float* out) {
  MVD_SHARED(float, tile, 32);
  out[threadIdx.x] = tile[threadIdx.x];
}

__global__ void dims_kernel(int* out) {
  int t = threadIdx.x + blockDim.x * (threadIdx.y + blockDim.y * threadIdx.z);
  int b = blockIdx.x + gridDim.x * (blockIdx.y + gridDim.y * blockIdx.z);
  int nt = blockDim.x * blockDim.y * blockDim.z;
  out[b * nt + t] = ((int)blockIdx.z << 24) | ((int)blockIdx.y << 20) | ((int)blockIdx.x << 16) |
                    ((int)threadIdx.z << 8) | ((int)threadIdx.y << 4) | (int)threadIdx.x;
}

__global__ void syncthreads_count_kernel(int* out) {
  int c = __syncthreads_count(threadIdx.x % 3 == 0);
  int a = __syncthreads_and(threadIdx.x < 1000);
  int o = __syncthreads_or(threadIdx.x == 5);
  if (threadIdx.x == 0) out[0] = c, out[1] = a, out[2] = o;
}

struct Triple {
  int a, b, c;
};
__global__ void exchange_kernel(int* out) {
  int lane = mvd::simt::lane_id();
  Triple mine{lane, lane * lane, -lane};
  Triple all[32];
  mvd::simt::warp_exchange(&mine, sizeof mine, all);
  int ok = 1;
  for (int l = 0; l < 32; ++l) ok &= all[l].a == l && all[l].b == l * l && all[l].c == -l;
  out[blockIdx.x * blockDim.x + threadIdx.x] = ok;
}

__global__ void early_exit_then_barrier(float* out) {
  if (threadIdx.x == 3) return;
  __syncthreads();
  out[threadIdx.x] = 1.f;
}

__global__ void barriers_on_two_lines(float* out) {
  if (threadIdx.x < 16) __syncthreads();
  else __syncthreads();
  out[threadIdx.x] = 1.f;
}

__global__ void shuffle_with_exited_lanes(float* out) {
  if (threadIdx.x >= 20) return;
  out[threadIdx.x] = __shfl_xor_sync(0xffffffffu, 1.f, 1);
}

__global__ void shuffles_on_two_lines(float* out) {
  float v;
  if (threadIdx.x & 1) v = __shfl_xor_sync(0xffffffffu, 1.f, 1);
  else v = __shfl_xor_sync(0xffffffffu, 2.f, 1);
  out[threadIdx.x] = v;
}

__global__ void lane_not_in_mask(float* out) { out[threadIdx.x] = __shfl_sync(0x0000ffffu, 1.f, 0); }

__global__ void shared_decl_order(float* out) {
  if (threadIdx.x == 0) {
    MVD_SHARED(float, a, 16);
    a[0] = 1.f;
  } else {
    MVD_SHARED(float, b, 32);
    b[0] = 2.f;
  }
  out[threadIdx.x] = 0.f;
}

__global__ void half_warp_groups(float* out) {
  // Two disjoint half-warp collectives at one line: legal, each half completes on its own.
  unsigned m = threadIdx.x < 16 ? 0x0000ffffu : 0xffff0000u;
  float v = (float)threadIdx.x;
  for (int o = 8; o > 0; o >>= 1) v += __shfl_xor_sync(m, v, o);
  out[threadIdx.x] = v;
}

// ---- tests -------------------------------------------------------------------------------------

std::vector<int> run_order(Schedule s, uint64_t seed) {
  mvd::simt::set_schedule(s, seed);
  DeviceBuf<int> counter(std::vector<int>{0}), order(64);
  mvd_launch(record_order, 1, 64, 0, nullptr, counter.p, order.p);
  return order.get();
}

MVD_TEST(simt_schedules_change_order) {
  ScheduleScope keep;
  auto fwd = run_order(Schedule::Forward, 0), rev = run_order(Schedule::Reverse, 0);
  auto sh1 = run_order(Schedule::Shuffle, 1), sh2 = run_order(Schedule::Shuffle, 2);
  CHECK(fwd[0] == 0 && fwd[63] == 63);
  CHECK(rev[0] == 63 && rev[63] == 0);
  CHECK(sh1 != fwd && sh1 != rev && sh1 != sh2);
  CHECK(sh1 == run_order(Schedule::Shuffle, 1));  // a seed reproduces its order
}

MVD_TEST(simt_correct_reduction_is_schedule_independent) {
  ScheduleScope keep;
  const int n = 1000, blocks = (n + 255) / 256;
  auto x = mvdtest::randn(n, 11);
  DeviceBuf<float> dx(x), out(blocks);
  std::vector<float> first;
  for (const auto& sc : kSchedules) {
    mvd::simt::set_schedule(sc.s, sc.seed);
    mvd_launch(tree_sum<true>, blocks, 256, 0, nullptr, dx.p, out.p, n);
    CHECK(cudaGetLastError() == cudaSuccess);
    auto got = out.get();
    for (int b = 0; b < blocks; ++b) CHECK(got[b] == host_tree_sum(x.data() + b * 256, std::min(256, n - b * 256)));
    if (first.empty()) first = got;
    CHECK(std::memcmp(first.data(), got.data(), blocks * sizeof(float)) == 0);
  }
}

// Issue 7's demonstration: deleting the __syncthreads inside the loop makes the run fail.
MVD_TEST(simt_missing_syncthreads_is_caught) {
  ScheduleScope keep;
  const int n = 256;
  auto x = mvdtest::randn(n, 5);
  const float ref = host_tree_sum(x.data(), n);
  DeviceBuf<float> dx(x), out(1);
  int wrong = 0;
  std::string report;
  for (const auto& sc : kSchedules) {
    mvd::simt::set_schedule(sc.s, sc.seed);
    mvd_launch(tree_sum<false>, 1, 256, 0, nullptr, dx.p, out.p, n);
    float got = out.get()[0];
    if (got != ref) ++wrong;
    report += std::string(sc.name) + "=" + std::to_string(got) + " ";
  }
  if (wrong == 0) mvdtest::fail("the racy reduction matched the reference under every schedule: " + report);
}

MVD_TEST(simt_shuffles_and_votes) {
  std::vector<float> x(64);
  for (int i = 0; i < 64; ++i) x[i] = (float)(i % 5) - 1.5f;
  DeviceBuf<float> dx(x), sums(64), ups(64), idx16(64);
  DeviceBuf<unsigned> ballots(64);
  DeviceBuf<int> votes(128);
  mvd_launch(warp_ops, 1, 64, 0, nullptr, dx.p, sums.p, ups.p, idx16.p, ballots.p, votes.p);
  auto s = sums.get(), u = ups.get(), i16 = idx16.get();
  auto b = ballots.get();
  auto v = votes.get();
  for (int t = 0; t < 64; ++t) {
    int w = t / 32 * 32;
    float ws = 0;
    unsigned ball = 0;
    for (int l = 0; l < 32; ++l) {
      ws += x[w + l];
      if (x[w + l] > 0) ball |= 1u << l;
    }
    CHECK(std::fabs(s[t] - ws) < 1e-5f);
    CHECK(u[t] == (t % 32 == 0 ? x[t] : x[t - 1]));
    CHECK(i16[t] == x[t / 16 * 16 + 3]);
    CHECK(b[t] == ball);
    CHECK(v[2 * t] == (t / 32 == 1));
    CHECK(v[2 * t + 1] == 1);
  }
}

MVD_TEST(simt_partial_warp_reads_missing_lane_as_nan) {
  std::vector<float> x(24, 1.f);
  DeviceBuf<float> dx(x), out(24);
  mvd_launch(shfl_down_partial, 1, 24, 0, nullptr, dx.p, out.p);
  auto o = out.get();
  // Lanes 24..31 do not exist: lanes 8..15 read them and get NaN; lanes 0..7 read lanes 16..23;
  // lanes 16..23 would read past lane 31 and get their own value back, as CUDA specifies.
  for (int t = 0; t < 24; ++t) CHECK(t >= 8 && t < 16 ? std::isnan(o[t]) : o[t] == 2.f);
}

MVD_TEST(simt_half_warp_groups) {
  DeviceBuf<float> out(32);
  mvd_launch(half_warp_groups, 1, 32, 0, nullptr, out.p);
  auto o = out.get();
  for (int t = 0; t < 32; ++t) CHECK(o[t] == (t < 16 ? 120.f : 376.f));
}

MVD_TEST(simt_atomics) {
  DeviceBuf<float> fsum(std::vector<float>{0.f});
  DeviceBuf<int> imax(std::vector<int>{-1});
  DeviceBuf<unsigned> cas(std::vector<unsigned>{0xffffffffu}), count(std::vector<unsigned>{0});
  mvd_launch(atomics_kernel, 3, 100, 0, nullptr, fsum.p, imax.p, cas.p, count.p);
  CHECK(fsum.get()[0] == 150.f);
  CHECK(imax.get()[0] == 100);
  CHECK(cas.get()[0] < 300u);
  CHECK(count.get()[0] == 300u);
}

MVD_TEST(simt_dynamic_shared_memory) {
  const int n = 20000;  // 80 KB: needs the opt-in attribute, as on a GPU
  DeviceBuf<float> out(n);
  mvd_launch(dyn_smem_kernel, 1, 128, n * sizeof(float), nullptr, out.p, n);
  CHECK(cudaGetLastError() == cudaErrorInvalidValue);
  CHECK(mvd::simt::last_launch_detail().find("cudaFuncSetAttribute") != std::string::npos);
  CHECK(cudaFuncSetAttribute(reinterpret_cast<const void*>(dyn_smem_kernel),
                             cudaFuncAttributeMaxDynamicSharedMemorySize, n * sizeof(float)) == cudaSuccess);
  mvd_launch(dyn_smem_kernel, 1, 128, n * sizeof(float), nullptr, out.p, n);
  CHECK(cudaGetLastError() == cudaSuccess);
  auto o = out.get();
  for (int i = 0; i < n; ++i) CHECK(o[i] == (float)(n - 1 - i));
}

MVD_TEST(simt_poisoned_shared_memory_reads_nan) {
  DeviceBuf<float> out(32);
  mvd_launch(read_before_write, 1, 32, 0, nullptr, out.p);
  for (float v : out.get()) CHECK(std::isnan(v));
}

MVD_TEST(simt_block_and_grid_dims) {
  dim3 grid(3, 2, 2), block(4, 3, 2);
  const int nt = 24, nb = 12;
  DeviceBuf<int> out(nb * nt);
  mvd_launch(dims_kernel, grid, block, 0, nullptr, out.p);
  auto o = out.get();
  for (int bz = 0; bz < 2; ++bz)
    for (int by = 0; by < 2; ++by)
      for (int bx = 0; bx < 3; ++bx)
        for (int tz = 0; tz < 2; ++tz)
          for (int ty = 0; ty < 3; ++ty)
            for (int tx = 0; tx < 4; ++tx) {
              int b = bx + 3 * (by + 2 * bz), t = tx + 4 * (ty + 3 * tz);
              CHECK(o[b * nt + t] == ((bz << 24) | (by << 20) | (bx << 16) | (tz << 8) | (ty << 4) | tx));
            }
}

MVD_TEST(simt_syncthreads_reductions) {
  DeviceBuf<int> out(3);
  mvd_launch(syncthreads_count_kernel, 1, 100, 0, nullptr, out.p);
  auto o = out.get();
  CHECK(o[0] == 34 && o[1] == 1 && o[2] == 1);
}

MVD_TEST(simt_warp_exchange) {
  ScheduleScope keep;
  for (const auto& sc : kSchedules) {
    mvd::simt::set_schedule(sc.s, sc.seed);
    DeviceBuf<int> out(128);
    mvd_launch(exchange_kernel, 2, 64, 0, nullptr, out.p);
    for (int v : out.get()) CHECK(v == 1);
  }
}

MVD_TEST(simt_rejects_bad_launch_configs) {
  DeviceBuf<float> out(32);
  cudaGetLastError();
  mvd_launch(read_before_write, 1, 1025, 0, nullptr, out.p);
  CHECK(cudaPeekAtLastError() == cudaErrorInvalidConfiguration);
  CHECK(cudaGetLastError() == cudaErrorInvalidConfiguration);
  CHECK(cudaGetLastError() == cudaSuccess);  // reading it clears it
  mvd_launch(read_before_write, 1, dim3(1, 1, 65), 0, nullptr, out.p);
  CHECK(cudaGetLastError() == cudaErrorInvalidConfiguration);
  mvd_launch(read_before_write, dim3(1, 65536, 1), 32, 0, nullptr, out.p);
  CHECK(cudaGetLastError() == cudaErrorInvalidConfiguration);
  mvd_launch(read_before_write, 0, 32, 0, nullptr, out.p);
  CHECK(cudaGetLastError() == cudaErrorInvalidConfiguration);
  mvd_launch(dyn_smem_kernel, 1, 32, 228 * 1024, nullptr, out.p, 1);
  CHECK(cudaGetLastError() == cudaErrorInvalidValue);
  CHECK(mvd::simt::last_launch_detail().find("227 KB") != std::string::npos);
}

MVD_TEST(simt_faults) {
  DeviceBuf<float> out(64);
  expect_fault([&] { mvd_launch(early_exit_then_barrier, 1, 64, 0, nullptr, out.p); }, "has exited");
  expect_fault([&] { mvd_launch(barriers_on_two_lines, 1, 64, 0, nullptr, out.p); }, "barrier divergence");
  expect_fault([&] { mvd_launch(shuffle_with_exited_lanes, 1, 32, 0, nullptr, out.p); }, "lane 20 has exited");
  expect_fault([&] { mvd_launch(shuffles_on_two_lines, 1, 32, 0, nullptr, out.p); }, "cannot complete");
  expect_fault([&] { mvd_launch(lane_not_in_mask, 1, 32, 0, nullptr, out.p); }, "does not name it");
  expect_fault([&] { mvd_launch(shared_decl_order, 1, 32, 0, nullptr, out.p); }, "same order");
  // The emulator is usable again after a fault.
  mvd_launch(read_before_write, 1, 32, 0, nullptr, out.p);
  CHECK(cudaGetLastError() == cudaSuccess);
}

MVD_TEST(simt_runtime_shims) {
  int n = 0;
  CHECK(cudaGetDeviceCount(&n) == cudaSuccess && n == 1);
  cudaDeviceProp p;
  CHECK(cudaGetDeviceProperties(&p, 0) == cudaSuccess);
  CHECK(std::string(p.name) == "mvd SIMT emulator" && p.major == 9 && p.minor == 0);
  CHECK(cudaSetDevice(1) == cudaErrorInvalidDevice);
  CHECK(cudaGetLastError() == cudaErrorInvalidDevice);
  void* d = nullptr;
  CHECK(cudaMalloc(&d, 1000) == cudaSuccess && ((uintptr_t)d % 256) == 0);
  CHECK(cudaMemset(d, 7, 1000) == cudaSuccess);
  unsigned char h[1000];
  CHECK(cudaMemcpy(h, d, 1000, cudaMemcpyDeviceToHost) == cudaSuccess && h[999] == 7);
  CHECK(cudaFree(d) == cudaSuccess);
  CHECK(cudaFree(h) == cudaErrorInvalidValue);  // not a device allocation
  cudaGetLastError();
  cudaEvent_t a, b;
  cudaEventCreate(&a);
  cudaEventCreate(&b);
  cudaEventRecord(a, nullptr);
  cudaEventRecord(b, nullptr);
  float ms = -1;
  CHECK(cudaEventElapsedTime(&ms, a, b) == cudaSuccess && ms >= 0);
  cudaEventDestroy(a);
  cudaEventDestroy(b);
  mvd::simt::Schedule s;
  uint64_t seed;
  CHECK(mvd::simt::parse_schedule("shuffle:42", &s, &seed) && s == Schedule::Shuffle && seed == 42);
  CHECK(!mvd::simt::parse_schedule("sideways", &s, &seed));
}

}  // namespace
#endif  // MVD_SIMT
