#include "queue.h"

#include <cstdlib>
#include <exception>

namespace mvd {

static size_t queue_depth_from_env() {
  const char* e = std::getenv("MVD_QUEUE_DEPTH");
  long v = e ? std::atol(e) : 0;
  return v > 0 ? (size_t)v : 16;
}

WorkQueue::WorkQueue() : depth_(queue_depth_from_env()), worker_([this] { run(); }) {}

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
  static WorkQueue* q = new WorkQueue();
  return *q;
}

WorkQueue& WorkQueue::cuda(int index) {
  // Leaked like cpu(); one per device index that is ever used.
  static std::mutex m;
  static WorkQueue* queues[64] = {};
  if (index < 0 || index >= 64) throw OpError(ErrorKind::Device, "queue", "CUDA device index out of range");
  std::lock_guard<std::mutex> lk(m);
  if (!queues[index]) queues[index] = new WorkQueue();
  return *queues[index];
}

void WorkQueue::enqueue(const char* op, Fn fn) {
  {
    std::unique_lock<std::mutex> lk(m_);
    space_cv_.wait(lk, [this] { return q_.size() < depth_ || stop_; });
    q_.push_back(Task{op, std::move(fn), false, nullptr});
  }
  cv_.notify_one();
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
      } catch (const OpError& ex) {
        f = Failure{ex.kind, ex.what()};
      } catch (const std::exception& ex) {
        f = Failure{ErrorKind::Native, std::string(t.op) + ": " + ex.what()};
      } catch (...) {
        f = Failure{ErrorKind::Native, std::string(t.op) + ": unknown native failure"};
      }
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
