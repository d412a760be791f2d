// Fibers for the emulator: one stack and one saved context per CUDA thread. On x86-64 a switch
// saves the callee-saved registers and swaps stack pointers (swapcontext also makes two signal-mask
// system calls per switch, which measured ~10x slower here); elsewhere ucontext. Under
// AddressSanitizer every switch is announced, so ASan tracks which stack is live.
#pragma once
#include <ucontext.h>

#include <cstddef>
#include <vector>

namespace mvd {
namespace simt {
namespace detail {

struct Fiber {
#if defined(__x86_64__)
  void* sp = nullptr;  // saved stack pointer while switched out
#else
  ucontext_t uc;
#endif
  char* stack = nullptr;  // usable region, above a PROT_NONE guard page
  size_t stack_size = 0;
  void* asan_fake_stack = nullptr;
};

// Stack size of each fiber: $MVD_SIMT_STACK_KB (default 64).
size_t fiber_stack_bytes();
// Stacks for `n` fibers, kept per host thread and reused by later launches.
void fiber_reserve(std::vector<Fiber>& fibers, size_t n);
// Makes `f` start at `entry` on its next switch_into (its stack is reset).
void fiber_reset(Fiber& f, void (*entry)());
// From the scheduler into `f`; returns when `f` switches out.
void switch_into(Fiber& f);
// The first thing a fiber's entry function calls.
void fiber_started();
// From fiber `f` back to the scheduler; returns when the scheduler switches into `f` again.
// `exiting`: `f` will never be resumed.
void switch_out(Fiber& f, bool exiting);
void fiber_release_all(std::vector<Fiber>& fibers);

}  // namespace detail
}  // namespace simt
}  // namespace mvd
