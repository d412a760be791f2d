#include "queue.h"

#include <cstdlib>
#include <exception>
#include <string>

#include "storage.h"
#if MVD_HAVE_CUDA
#include "../cuda/runtime.h"
#endif

namespace mvd {

// MVD_QUEUE_DEPTH overrides both bounds (queue.h says why they differ). The CPU bound only has to
// exceed one training step's op count (a few thousand for ViT-B fwd+bwd+AdamW): train() awaits each
// step's loss, so the JS thread never gets further ahead than that anyway.
static size_t queue_depth_from_env(size_t fallback) {
  const char* e = std::getenv("MVD_QUEUE_DEPTH");
  long v = e ? std::atol(e) : 0;
  return v > 0 ? (size_t)v : fallback;
}
constexpr size_t kCpuDepth = 65536, kCudaDepth = 16;

// Read once, when the addon is loaded.
static const bool g_sync_mode = [] {
  const char* e = std::getenv("MVD_SYNC");
  return e && *e && std::string(e) != "0";
}();

bool WorkQueue::sync_mode() { return g_sync_mode; }

WorkQueue::WorkQueue(size_t depth, int cuda_index)
    : depth_(depth), cuda_index_(cuda_index), worker_([this] { run(); }) {}

WorkQueue::~WorkQueue() {
  {
    std::lock_guard<std::mutex> lk(m_);
    stop_ = true;
  }
  cv_.notify_all();
  if (worker_.joinable()) worker_.join();
}

WorkQueue& WorkQueue::cpu() {
  // Intentionally leaked: joining a thread from a static destructor at process exit races with
  // OpenMP's own teardown. The OS reclaims it.
  static WorkQueue* q = new WorkQueue(queue_depth_from_env(kCpuDepth));
  return *q;
}

WorkQueue& WorkQueue::cuda(int index) {
  // Leaked like cpu(); one per device index that is ever used.
  static std::mutex m;
  static WorkQueue* queues[64] = {};
  if (index < 0 || index >= 64) throw OpError(ErrorKind::Device, "queue", "CUDA device index out of range");
  std::lock_guard<std::mutex> lk(m);
  if (!queues[index]) queues[index] = new WorkQueue(queue_depth_from_env(kCudaDepth), index);
  return *queues[index];
}

void WorkQueue::enqueue(const char* op, Fn fn) {
  {
    std::unique_lock<std::mutex> lk(m_);
    space_cv_.wait(lk, [this] { return q_.size() < depth_ || stop_; });
    q_.push_back(Task{op, std::move(fn), false, nullptr});
  }
  cv_.notify_one();
  if (!g_sync_mode) return;
  // The failure (if any) of this task, or of an earlier one queued before sync mode could see it
  // (none: every earlier enqueue waited too), is thrown here, at the op's own call site.
  Failure f = wait_idle();
  if (!f.message.empty()) throw OpError::verbatim(f.kind, op, f.message);
}

void WorkQueue::enqueue_sync(std::function<void(Failure)> fn) {
  {
    std::lock_guard<std::mutex> lk(m_);
    q_.push_back(Task{"sync", nullptr, true, std::move(fn)});
  }
  cv_.notify_one();
}

size_t WorkQueue::pending() {
  std::lock_guard<std::mutex> lk(m_);
  return q_.size() + (busy_ ? 1 : 0);
}

WorkQueue::Failure WorkQueue::wait_idle() {
  std::unique_lock<std::mutex> lk(m_);
  idle_cv_.wait(lk, [this] { return q_.empty() && !busy_; });
  Failure f = std::move(sticky_);
  sticky_ = Failure{};
  return f;
}

void WorkQueue::run() {
  for (;;) {
    Task t;
    {
      std::unique_lock<std::mutex> lk(m_);
      cv_.wait(lk, [this] { return stop_ || !q_.empty(); });
      if (q_.empty()) return;  // stop_ and drained
      t = std::move(q_.front());
      q_.pop_front();
      busy_ = true;
    }
    space_cv_.notify_one();
    if (t.is_sync) {
      Failure f;
      {
        std::lock_guard<std::mutex> lk(m_);
        f = std::move(sticky_);
        sticky_ = Failure{};
      }
      t.sync_fn(std::move(f));
    } else {
      Failure f;
      try {
        t.fn();
#if MVD_HAVE_CUDA
        // A kernel's failure shows when its stream is synchronised; in sync mode that is now.
        if (g_sync_mode && cuda_index_ >= 0) cuda_synchronize(Device{Device::CUDA, cuda_index_}, t.op);
#endif
      } catch (const OpError& ex) { f = Failure{ex.kind, ex.what()}; } catch (const std::exception& ex) {
        f = Failure{ErrorKind::Native, std::string(t.op) + ": " + ex.what()};
      } catch (...) { f = Failure{ErrorKind::Native, std::string(t.op) + ": unknown native failure"}; }
      t.fn = nullptr;  // release captured storages on the worker, before reporting idle
      if (!f.message.empty()) {
        std::lock_guard<std::mutex> lk(m_);
        if (sticky_.message.empty()) sticky_ = std::move(f);
      }
    }
    {
      std::lock_guard<std::mutex> lk(m_);
      busy_ = false;
      if (q_.empty()) idle_cv_.notify_all();
    }
  }
}

}  // namespace mvd
