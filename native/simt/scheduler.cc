// The emulator's core: runs a grid block after block; inside a block, runs each thread's fiber
// until it reaches a barrier, a warp collective or its end, in the schedule's order, then
// releases whatever can be released. A state nothing can be released from is a kernel bug
// (barrier divergence, a collective some named lane never reaches) and is reported as a fault.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <mutex>
#include <numeric>
#include <string>
#include <vector>

#include "simt/emu.h"
#include "simt/fiber.h"

namespace mvd {
namespace simt {

// ---- schedule ----------------------------------------------------------------------------------
namespace {

std::string strf(const char* fmt, ...) {
  char buf[1024];
  va_list ap;
  va_start(ap, fmt);
  std::vsnprintf(buf, sizeof buf, fmt, ap);
  va_end(ap);
  return buf;
}

struct ScheduleSetting {
  std::atomic<int> kind{(int)Schedule::Forward};
  std::atomic<uint64_t> seed{0};
  ScheduleSetting() {
    const char* e = std::getenv("MVD_SIMT_SCHEDULE");
    if (!e || !*e) return;
    Schedule s;
    uint64_t sd;
    if (parse_schedule(e, &s, &sd)) {
      kind = (int)s;
      seed = sd;
    } else {
      std::fprintf(stderr, "mvd simt: ignoring MVD_SIMT_SCHEDULE='%s' (forward, reverse, shuffle or shuffle:SEED)\n",
                   e);
    }
  }
};
ScheduleSetting& setting() {
  static ScheduleSetting s;
  return s;
}

uint64_t splitmix(uint64_t x) {
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

// Visiting order of n items for one phase; `key` makes each phase's shuffle independent.
void make_order(std::vector<uint32_t>& order, size_t n, uint64_t key) {
  order.resize(n);
  std::iota(order.begin(), order.end(), 0u);
  Schedule s = schedule();
  if (s == Schedule::Reverse) std::reverse(order.begin(), order.end());
  if (s != Schedule::Shuffle) return;
  uint64_t state = splitmix(schedule_seed() ^ splitmix(key));
  for (size_t i = n; i > 1; --i) {
    state = splitmix(state);
    std::swap(order[i - 1], order[state % i]);
  }
}

}  // namespace

void set_schedule(Schedule s, uint64_t seed) {
  setting().kind = (int)s;
  setting().seed = seed;
}
Schedule schedule() { return (Schedule)setting().kind.load(); }
uint64_t schedule_seed() { return setting().seed.load(); }
const char* schedule_name(Schedule s) {
  switch (s) {
    case Schedule::Forward:
      return "forward";
    case Schedule::Reverse:
      return "reverse";
    case Schedule::Shuffle:
      return "shuffle";
  }
  return "?";
}
bool parse_schedule(const std::string& text, Schedule* s, uint64_t* seed) {
  *seed = 0;
  if (text == "forward") *s = Schedule::Forward;
  else if (text == "reverse") *s = Schedule::Reverse;
  else if (text == "shuffle") *s = Schedule::Shuffle;
  else if (text.rfind("shuffle:", 0) == 0 && text.size() > 8) {
    char* end = nullptr;
    *seed = std::strtoull(text.c_str() + 8, &end, 10);
    if (*end) return false;
    *s = Schedule::Shuffle;
  } else {
    return false;
  }
  return true;
}

// ---- per-host-thread emulator state --------------------------------------------------------------
namespace detail {

thread_local const ThreadCtx* t_ctx = nullptr;

namespace {

enum class State : uint8_t { Runnable, AtBarrier, AtWarp, Exited };

struct Thread {
  ThreadCtx ctx;
  State state = State::Runnable;
  const char* what = "";  // the barrier or collective it waits at
  const char* file = "";
  int line = 0;
  int bar_kind = 0, bar_pred = 0, bar_result = 0;
  unsigned mask = 0, took = 0;
  const void* mine = nullptr;
  size_t bytes = 0;
  void* out = nullptr;
  size_t shared_next = 0;  // index of its next MVD_SHARED declaration
};

struct Region {
  const char* file;
  int line;
  size_t bytes;
  void* p;
};

struct Runner {
  std::vector<Fiber> fibers;
  std::vector<Thread> threads;
  std::vector<uint32_t> order;
  std::vector<unsigned char> gather;
  const std::function<void()>* body = nullptr;
  size_t cur = SIZE_MAX;  // index of the running thread
  bool active = false;
  dim3 grid, block;
  uint3 bid{0, 0, 0};
  size_t nthreads = 0;
  std::vector<Region> regions;
  size_t static_bytes = 0;
  void* dyn = nullptr;
  size_t dyn_bytes = 0;
  std::string fault;  // set by a fiber that found a bug; raised by the scheduler
  ~Runner() { fiber_release_all(fibers); }
};

thread_local std::unique_ptr<Runner> t_runner;
thread_local int t_capture = 0;
thread_local cudaError_t t_last_error = cudaSuccess;
thread_local std::string t_launch_detail;

Runner& runner() {
  if (!t_runner) t_runner.reset(new Runner());
  return *t_runner;
}

std::string where(const Runner& r, const Thread& t) {
  return strf("block (%u,%u,%u) thread (%u,%u,%u)", r.bid.x, r.bid.y, r.bid.z, t.ctx.tid.x, t.ctx.tid.y, t.ctx.tid.z);
}

[[noreturn]] void raise(const std::string& msg) {
  if (t_capture > 0) throw Fault("mvd simt: " + msg);
  std::fprintf(stderr, "mvd simt: %s\n", msg.c_str());
  std::fflush(stderr);
  std::abort();
}

Thread& current(const char* what) {
  Runner& r = runner();
  if (!t_ctx || r.cur == SIZE_MAX) outside_kernel(what);
  return r.threads[r.cur];
}

// Called on a fiber: hands the message to the scheduler and never returns.
[[noreturn]] void fiber_fault(const std::string& msg) {
  Runner& r = runner();
  if (r.cur == SIZE_MAX) raise(msg);
  r.fault = msg;
  switch_out(r.fibers[r.cur], true);
  std::abort();  // the scheduler never resumes a faulted fiber
}

void wait_on_scheduler(Runner& r) {
  size_t me = r.cur;
  switch_out(r.fibers[me], false);
}

void fiber_entry() {
  fiber_started();
  Runner& r = runner();
  (*r.body)();
  r.threads[r.cur].state = State::Exited;
  switch_out(r.fibers[r.cur], true);
  std::abort();
}

unsigned existing_lanes(const Runner& r, unsigned warp) {
  size_t first = (size_t)warp * 32, n = std::min<size_t>(32, r.nthreads - first);
  return n == 32 ? 0xffffffffu : ((1u << n) - 1u);
}

bool same_site(const Thread& a, const Thread& b) {
  return a.line == b.line && (a.file == b.file || std::strcmp(a.file, b.file) == 0);
}

// Releases t's warp collective if every lane it names has arrived at the same one.
void try_complete(Runner& r, Thread& t) {
  unsigned took = t.mask & existing_lanes(r, t.ctx.warp);
  size_t base = (size_t)t.ctx.warp * 32;
  for (unsigned l = 0; l < 32; ++l) {
    if (!((took >> l) & 1u)) continue;
    const Thread& o = r.threads[base + l];
    if (o.state != State::AtWarp || !same_site(o, t) || o.mask != t.mask) return;
  }
  for (unsigned l = 0; l < 32; ++l)
    if (((took >> l) & 1u) && r.threads[base + l].bytes != t.bytes)
      fiber_fault(strf("%s at %s:%d: lanes contribute different sizes (%zu vs %zu bytes) in block (%u,%u,%u) warp %u",
                       t.what, t.file, t.line, r.threads[base + l].bytes, t.bytes, r.bid.x, r.bid.y, r.bid.z,
                       t.ctx.warp));
  const size_t bytes = t.bytes;
  r.gather.assign(32 * bytes, 0xFF);
  for (unsigned l = 0; l < 32; ++l)
    if ((took >> l) & 1u) std::memcpy(r.gather.data() + l * bytes, r.threads[base + l].mine, bytes);
  for (unsigned l = 0; l < 32; ++l) {
    if (!((took >> l) & 1u)) continue;
    Thread& o = r.threads[base + l];
    if (o.out && bytes) std::memcpy(o.out, r.gather.data(), 32 * bytes);
    o.took = took;
    o.state = State::Runnable;
  }
}

std::string describe_wait(const Thread& o) {
  switch (o.state) {
    case State::Exited:
      return "has exited";
    case State::Runnable:
      return "is running";
    case State::AtBarrier:
      return strf("waits at %s (%s:%d)", o.what, o.file, o.line);
    case State::AtWarp:
      return strf("waits at %s (%s:%d) with mask 0x%08x", o.what, o.file, o.line, o.mask);
  }
  return "?";
}

// Nothing can run, yet some lane waits at a warp collective: say which named lanes are elsewhere.
[[noreturn]] void warp_deadlock(Runner& r, const Thread& t) {
  unsigned took = t.mask & existing_lanes(r, t.ctx.warp);
  size_t base = (size_t)t.ctx.warp * 32;
  std::string msg = strf("%s at %s:%d (block (%u,%u,%u), warp %u, mask 0x%08x) cannot complete:", t.what, t.file,
                         t.line, r.bid.x, r.bid.y, r.bid.z, t.ctx.warp, t.mask);
  int listed = 0;
  for (unsigned l = 0; l < 32 && listed < 8; ++l) {
    if (!((took >> l) & 1u)) continue;
    const Thread& o = r.threads[base + l];
    if (o.state == State::AtWarp && same_site(o, t) && o.mask == t.mask) continue;
    msg += strf(" lane %u %s;", l, describe_wait(o).c_str());
    ++listed;
  }
  msg += " (every lane named in the mask must reach the same collective, from the same line)";
  raise(msg);
}

// Every thread waits at a barrier or has exited: release the barrier, or report divergence.
// Returns false when the block is done.
bool release_barrier(Runner& r) {
  const Thread* first = nullptr;
  const Thread* exited = nullptr;
  for (const Thread& t : r.threads) {
    if (t.state == State::AtBarrier && !first) first = &t;
    if (t.state == State::Exited && !exited) exited = &t;
  }
  if (!first) return false;
  if (exited)
    raise(strf("barrier divergence: %s waits at %s (%s:%d) but %s has exited without reaching it",
               where(r, *first).c_str(), first->what, first->file, first->line, where(r, *exited).c_str()));
  int count = 0, all = 1, any = 0;
  for (const Thread& t : r.threads) {
    if (!same_site(t, *first) || t.bar_kind != first->bar_kind)
      raise(strf("barrier divergence: %s waits at %s (%s:%d) while %s waits at %s (%s:%d)", where(r, *first).c_str(),
                 first->what, first->file, first->line, where(r, t).c_str(), t.what, t.file, t.line));
    count += t.bar_pred;
    all &= t.bar_pred;
    any |= t.bar_pred;
  }
  int result = first->bar_kind == 1 ? count : first->bar_kind == 2 ? all : first->bar_kind == 3 ? any : 0;
  for (Thread& t : r.threads) {
    t.bar_result = result;
    t.state = State::Runnable;
  }
  return true;
}

void run_thread(Runner& r, size_t i) {
  r.cur = i;
  t_ctx = &r.threads[i].ctx;
  switch_into(r.fibers[i]);
  t_ctx = nullptr;
  r.cur = SIZE_MAX;
  if (!r.fault.empty()) {
    std::string msg;
    msg.swap(r.fault);
    raise(msg);
  }
}

void free_block_memory(Runner& r) {
  for (Region& g : r.regions) std::free(g.p);
  r.regions.clear();
  r.static_bytes = 0;
  std::free(r.dyn);
  r.dyn = nullptr;
}

void run_block(Runner& r, uint3 bid, uint64_t block_linear) {
  r.bid = bid;
  const dim3 b = r.block;
  for (size_t i = 0; i < r.nthreads; ++i) {
    Thread& t = r.threads[i];
    t = Thread{};
    t.ctx.tid = uint3{(unsigned)(i % b.x), (unsigned)(i / b.x % b.y), (unsigned)(i / ((size_t)b.x * b.y))};
    t.ctx.bid = bid;
    t.ctx.bdim = r.block;
    t.ctx.gdim = r.grid;
    t.ctx.linear = (unsigned)i;
    t.ctx.lane = (unsigned)(i % 32);
    t.ctx.warp = (unsigned)(i / 32);
    fiber_reset(r.fibers[i], fiber_entry);
  }
  // Poisoned like static shared memory, so a read before any write is NaN; exact size, so an
  // overrun is an AddressSanitizer report.
  r.dyn = std::malloc(r.dyn_bytes ? r.dyn_bytes : 1);
  std::memset(r.dyn, 0xFF, r.dyn_bytes ? r.dyn_bytes : 1);
  for (uint64_t phase = 0;; ++phase) {
    make_order(r.order, r.nthreads, block_linear * 0x100000001b3ull + phase);
    for (bool ran = true; ran;) {
      ran = false;
      for (uint32_t i : r.order)
        if (r.threads[i].state == State::Runnable) {
          run_thread(r, i);
          ran = true;
        }
    }
    for (const Thread& t : r.threads)
      if (t.state == State::AtWarp) warp_deadlock(r, t);
    if (!release_barrier(r)) break;
  }
  free_block_memory(r);
}

struct LaunchScope {
  Runner& r;
  explicit LaunchScope(Runner& r) : r(r) { r.active = true; }
  ~LaunchScope() {
    free_block_memory(r);
    r.active = false;
    r.cur = SIZE_MAX;
    r.fault.clear();
    t_ctx = nullptr;
  }
};

std::mutex g_attr_mutex;
std::map<const void*, int>& func_max_dyn() {
  static std::map<const void*, int> m;
  return m;
}

constexpr size_t kStaticSmemLimit = 48 * 1024;      // what nvcc accepts for static __shared__
constexpr size_t kDefaultDynSmemLimit = 48 * 1024;  // without cudaFuncAttributeMaxDynamicSharedMemorySize
constexpr size_t kOptinSmemLimit = 227 * 1024;      // sm_90's per-block maximum

cudaError_t reject(cudaError_t err, const std::string& detail) {
  t_launch_detail = detail;
  t_last_error = err;
  return err;
}

}  // namespace

[[noreturn]] void outside_kernel(const char* what) {
  raise(strf("%s used outside a kernel launched with mvd_launch", what));
}

[[noreturn]] void trap(const char* what) {
  Runner& r = runner();
  if (r.cur == SIZE_MAX) raise(what);
  fiber_fault(strf("%s in %s", what, where(r, r.threads[r.cur]).c_str()));
}

void set_last_error(cudaError_t err) { t_last_error = err; }
cudaError_t get_last_error(bool reset) {
  cudaError_t e = t_last_error;
  if (reset) t_last_error = cudaSuccess;
  return e;
}
void set_func_max_dynamic_smem(const void* kernel, int bytes) {
  std::lock_guard<std::mutex> lk(g_attr_mutex);
  func_max_dyn()[kernel] = bytes;
}

cudaError_t launch(const void* kernel, dim3 grid, dim3 block, size_t smem_bytes, cudaStream_t,
                   const std::function<void()>& body) {
  Runner& r = runner();
  if (r.active) raise("mvd_launch called from inside a kernel (dynamic parallelism is not emulated)");
  t_launch_detail.clear();
  const size_t nthreads = (size_t)block.x * block.y * block.z;
  if (block.x == 0 || block.y == 0 || block.z == 0 || grid.x == 0 || grid.y == 0 || grid.z == 0)
    return reject(cudaErrorInvalidConfiguration, strf("grid (%u,%u,%u) or block (%u,%u,%u) has a zero dimension",
                                                      grid.x, grid.y, grid.z, block.x, block.y, block.z));
  if (nthreads > 1024 || block.x > 1024 || block.y > 1024 || block.z > 64)
    return reject(
        cudaErrorInvalidConfiguration,
        strf("block (%u,%u,%u) exceeds CUDA's limits (1024 threads; 1024 x 1024 x 64)", block.x, block.y, block.z));
  if (grid.x > 2147483647u || grid.y > 65535u || grid.z > 65535u)
    return reject(cudaErrorInvalidConfiguration,
                  strf("grid (%u,%u,%u) exceeds CUDA's limits (2^31-1 x 65535 x 65535)", grid.x, grid.y, grid.z));
  if (smem_bytes > kOptinSmemLimit)
    return reject(cudaErrorInvalidValue,
                  strf("dynamic shared memory of %zu bytes exceeds the 227 KB a block may have", smem_bytes));
  if (smem_bytes > kDefaultDynSmemLimit) {
    int allowed = (int)kDefaultDynSmemLimit;
    {
      std::lock_guard<std::mutex> lk(g_attr_mutex);
      auto it = func_max_dyn().find(kernel);
      if (it != func_max_dyn().end()) allowed = it->second;
    }
    if (smem_bytes > (size_t)allowed)
      return reject(cudaErrorInvalidValue,
                    strf("dynamic shared memory of %zu bytes needs cudaFuncSetAttribute("
                         "cudaFuncAttributeMaxDynamicSharedMemorySize) >= that (allowed now: %d)",
                         smem_bytes, allowed));
  }
  LaunchScope scope(r);
  r.body = &body;
  r.grid = grid;
  r.block = block;
  r.nthreads = nthreads;
  r.dyn_bytes = smem_bytes;
  fiber_reserve(r.fibers, nthreads);
  r.threads.resize(nthreads);
  const uint64_t nblocks = (uint64_t)grid.x * grid.y * grid.z;
  // Blocks in schedule order too: a kernel that assumes block 0 runs first is wrong on a GPU.
  std::vector<uint32_t> border;
  const bool permute = nblocks <= (1u << 22);
  if (permute) make_order(border, (size_t)nblocks, ~0ull);
  for (uint64_t k = 0; k < nblocks; ++k) {
    uint64_t lin = permute ? border[k] : (schedule() == Schedule::Forward ? k : nblocks - 1 - k);
    uint3 bid{(unsigned)(lin % grid.x), (unsigned)(lin / grid.x % grid.y),
              (unsigned)(lin / ((uint64_t)grid.x * grid.y))};
    run_block(r, bid, lin);
  }
  return cudaSuccess;
}

int block_barrier(int kind, int pred, const char* file, int line) {
  static const char* names[] = {"__syncthreads", "__syncthreads_count", "__syncthreads_and", "__syncthreads_or"};
  Thread& t = current(names[kind]);
  Runner& r = runner();
  t.state = State::AtBarrier;
  t.what = names[kind];
  t.file = file;
  t.line = line;
  t.bar_kind = kind;
  t.bar_pred = pred;
  wait_on_scheduler(r);
  return t.bar_result;
}

unsigned warp_collective(unsigned mask, const void* mine, size_t bytes, void* all_out, const char* what,
                         const char* file, int line) {
  Thread& t = current(what);
  Runner& r = runner();
  if (!((mask >> t.ctx.lane) & 1u))
    fiber_fault(strf("%s at %s:%d: %s (lane %u) calls with mask 0x%08x, which does not name it", what, file, line,
                     where(r, t).c_str(), t.ctx.lane, mask));
  t.state = State::AtWarp;
  t.what = what;
  t.file = file;
  t.line = line;
  t.mask = mask;
  t.mine = mine;
  t.bytes = bytes;
  t.out = all_out;
  try_complete(r, t);
  if (t.state != State::Runnable) wait_on_scheduler(r);
  return t.took;
}

void* static_shared(size_t bytes, const char* file, int line) {
  Thread& t = current("MVD_SHARED");
  Runner& r = runner();
  if (t.shared_next == r.regions.size()) {
    if (r.static_bytes + bytes > kStaticSmemLimit)
      fiber_fault(
          strf("MVD_SHARED at %s:%d: static shared memory would reach %zu bytes (limit 48 KB; use "
               "MVD_DYN_SHARED and cudaFuncSetAttribute for more)",
               file, line, r.static_bytes + bytes));
    if (r.static_bytes + bytes + r.dyn_bytes > kOptinSmemLimit)
      fiber_fault(strf("MVD_SHARED at %s:%d: static + dynamic shared memory exceeds 227 KB", file, line));
    void* p = std::malloc(bytes ? bytes : 1);
    std::memset(p, 0xFF, bytes ? bytes : 1);
    r.regions.push_back(Region{file, line, bytes, p});
    r.static_bytes += bytes;
  }
  const Region& g = r.regions[t.shared_next];
  if (g.line != line || g.bytes != bytes || std::strcmp(g.file, file) != 0)
    fiber_fault(
        strf("MVD_SHARED at %s:%d (%zu bytes) reached by %s where another thread reached %s:%d (%zu bytes): "
             "every thread must declare the same arrays in the same order",
             file, line, bytes, where(r, t).c_str(), g.file, g.line, g.bytes));
  ++t.shared_next;
  return g.p;
}

void* dynamic_shared() {
  current("MVD_DYN_SHARED");
  return runner().dyn;
}

}  // namespace detail

FaultCapture::FaultCapture() { ++detail::t_capture; }
FaultCapture::~FaultCapture() { --detail::t_capture; }

void warp_exchange(const void* mine, size_t bytes, void* all_out, const char* file, int line) {
  detail::warp_collective(0xffffffffu, mine, bytes, all_out, "warp_exchange", file, line);
}

int lane_id() { return (int)detail::ctx("lane_id").lane; }

std::string last_launch_detail() { return detail::t_launch_detail; }

}  // namespace simt
}  // namespace mvd

unsigned __activemask() {
  using namespace mvd::simt::detail;
  const ThreadCtx& c = ctx("__activemask");
  (void)c;
  Runner& r = runner();
  unsigned m = existing_lanes(r, c.warp), out = 0;
  for (unsigned l = 0; l < 32; ++l)
    if (((m >> l) & 1u) && r.threads[(size_t)c.warp * 32 + l].state != State::Exited) out |= 1u << l;
  return out;
}

long long clock64() {
  return (long long)std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}
