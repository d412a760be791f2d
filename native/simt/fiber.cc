#include "simt/fiber.h"

#include <sys/mman.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>

#if defined(__SANITIZE_ADDRESS__)
#define MVD_SIMT_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define MVD_SIMT_ASAN 1
#endif
#endif
#if MVD_SIMT_ASAN
#include <sanitizer/asan_interface.h>
#include <sanitizer/common_interface_defs.h>
#endif

#if defined(__x86_64__)
// mvd_simt_switch(save, load): pushes the callee-saved registers and the SSE/x87 control words on
// the current stack, stores the stack pointer in *save, loads `load` and pops the same frame there.
extern "C" void mvd_simt_switch(void** save, void* load);
asm(R"(
  .text
  .globl mvd_simt_switch
  .hidden mvd_simt_switch
  .type mvd_simt_switch, @function
mvd_simt_switch:
  pushq %rbp
  pushq %rbx
  pushq %r12
  pushq %r13
  pushq %r14
  pushq %r15
  subq $8, %rsp
  stmxcsr (%rsp)
  fnstcw 4(%rsp)
  movq %rsp, (%rdi)
  movq %rsi, %rsp
  ldmxcsr (%rsp)
  fldcw 4(%rsp)
  addq $8, %rsp
  popq %r15
  popq %r14
  popq %r13
  popq %r12
  popq %rbx
  popq %rbp
  ret
  .size mvd_simt_switch, .-mvd_simt_switch
)");
#endif

namespace mvd {
namespace simt {
namespace detail {
namespace {

struct SchedulerSide {
#if defined(__x86_64__)
  void* sp = nullptr;
#else
  ucontext_t uc;
#endif
  void* asan_fake_stack = nullptr;
  const void* stack_bottom = nullptr;  // learnt by the first fiber that starts
  size_t stack_size = 0;
};
thread_local SchedulerSide t_sched;

size_t page_size() {
  static size_t p = (size_t)sysconf(_SC_PAGESIZE);
  return p;
}

}  // namespace

size_t fiber_stack_bytes() {
  static size_t bytes = [] {
    const char* e = std::getenv("MVD_SIMT_STACK_KB");
    long kb = e ? std::atol(e) : 64;
    if (kb < 16) kb = 16;
    return ((size_t)kb * 1024 + page_size() - 1) / page_size() * page_size();
  }();
  return bytes;
}

void fiber_reserve(std::vector<Fiber>& fibers, size_t n) {
  size_t have = fibers.size();
  if (have >= n) return;
  fibers.resize(n);
  const size_t usable = fiber_stack_bytes(), guard = page_size();
  for (size_t i = have; i < n; ++i) {
    // The guard page turns a kernel that outgrows its stack into a SIGSEGV at the guard instead of
    // silently overwriting the neighbouring fiber's frames.
    void* p = mmap(nullptr, usable + guard, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (p == MAP_FAILED) {
      std::fprintf(stderr, "mvd simt: cannot map %zu fiber stacks of %zu KB\n", n, usable / 1024);
      std::abort();
    }
    mprotect(p, guard, PROT_NONE);
    fibers[i].stack = static_cast<char*>(p) + guard;
    fibers[i].stack_size = usable;
  }
}

void fiber_release_all(std::vector<Fiber>& fibers) {
  for (Fiber& f : fibers) munmap(f.stack - page_size(), f.stack_size + page_size());
  fibers.clear();
}

void fiber_reset(Fiber& f, void (*entry)()) {
#if MVD_SIMT_ASAN
  // A fiber abandoned at a barrier (a fault, or the previous launch) left poisoned frames behind.
  ASAN_UNPOISON_MEMORY_REGION(f.stack, f.stack_size);
#endif
  f.asan_fake_stack = nullptr;
#if defined(__x86_64__)
  // The frame mvd_simt_switch pops: control words, six registers, then `entry` as the return
  // address; above it a null slot stands for entry's own return address, so entry starts with
  // the stack alignment of a called function (rsp = 8 mod 16).
  uintptr_t top = ((uintptr_t)(f.stack + f.stack_size)) & ~(uintptr_t)15;
  uint64_t* p = reinterpret_cast<uint64_t*>(top);
  *--p = 0;
  *--p = (uint64_t)(uintptr_t)entry;
  for (int i = 0; i < 6; ++i) *--p = 0;
  uint32_t mxcsr;
  uint16_t fpcw;
  asm volatile("stmxcsr %0" : "=m"(mxcsr));
  asm volatile("fnstcw %0" : "=m"(fpcw));
  *--p = (uint64_t)mxcsr | ((uint64_t)fpcw << 32);
  f.sp = p;
#else
  getcontext(&f.uc);
  f.uc.uc_stack.ss_sp = f.stack;
  f.uc.uc_stack.ss_size = f.stack_size;
  f.uc.uc_link = nullptr;
  makecontext(&f.uc, entry, 0);
#endif
}

void switch_into(Fiber& f) {
#if MVD_SIMT_ASAN
  __sanitizer_start_switch_fiber(&t_sched.asan_fake_stack, f.stack, f.stack_size);
#endif
#if defined(__x86_64__)
  mvd_simt_switch(&t_sched.sp, f.sp);
#else
  swapcontext(&t_sched.uc, &f.uc);
#endif
#if MVD_SIMT_ASAN
  __sanitizer_finish_switch_fiber(t_sched.asan_fake_stack, nullptr, nullptr);
#endif
}

void fiber_started() {
#if MVD_SIMT_ASAN
  __sanitizer_finish_switch_fiber(nullptr, &t_sched.stack_bottom, &t_sched.stack_size);
#endif
}

void switch_out(Fiber& f, bool exiting) {
#if MVD_SIMT_ASAN
  __sanitizer_start_switch_fiber(exiting ? nullptr : &f.asan_fake_stack, t_sched.stack_bottom, t_sched.stack_size);
#else
  (void)exiting;
#endif
#if defined(__x86_64__)
  mvd_simt_switch(&f.sp, t_sched.sp);
#else
  swapcontext(&f.uc, &t_sched.uc);
#endif
#if MVD_SIMT_ASAN
  __sanitizer_finish_switch_fiber(f.asan_fake_stack, &t_sched.stack_bottom, &t_sched.stack_size);
#endif
}

}  // namespace detail
}  // namespace simt
}  // namespace mvd
