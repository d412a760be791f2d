// Machine roofs for the benchmarks. Synchronous on purpose: benchmarks measure them on an idle
// queue, and blocking the JS thread for the requested seconds is what a benchmark wants.
#include "../ops/roofline/roofline.h"
#include "args.h"
#include "bindings.h"

namespace mvd {
namespace {

// Waits for queued work; a failure still pending is reported here rather than lost.
void drain(const char* op) {
  WorkQueue::Failure f = WorkQueue::cpu().wait_idle();
  if (!f.message.empty()) throw OpError(f.kind, op, f.message);
}

Napi::Value FmaPeak(const Napi::CallbackInfo& info) {
  int threads = (int)number_arg("fmaPeak", info[0], "threads");
  int width = (int)number_arg("fmaPeak", info[1], "width");
  double seconds = number_arg("fmaPeak", info[2], "seconds");
  drain("fmaPeak");
  return Napi::Number::New(info.Env(), fma_peak_gflops(threads, width, seconds));
}
MVD_BINDING("fmaPeakGflops", FmaPeak, "threads, width, seconds")

Napi::Value CopyBandwidth(const Napi::CallbackInfo& info) {
  int threads = (int)number_arg("copyBandwidth", info[0], "threads");
  double mb = number_arg("copyBandwidth", info[1], "megabytes");
  double seconds = number_arg("copyBandwidth", info[2], "seconds");
  drain("copyBandwidth");
  return Napi::Number::New(info.Env(), copy_bandwidth_gbs(threads, mb, seconds));
}
MVD_BINDING("copyBandwidthGbs", CopyBandwidth, "threads, megabytes, seconds")

}  // namespace

}  // namespace mvd
