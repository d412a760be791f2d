// One in-order work queue per device. The JS thread validates arguments, allocates outputs and
// enqueues; a native worker thread runs the ops in order (each op may itself use the OpenMP team).
// Reading a value back enqueues a marker and is the only synchronisation point, so the event loop
// is never blocked by compute.
#pragma once
#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <string>
#include <thread>

#include "errors.h"

namespace mvd {

class WorkQueue {
 public:
  using Fn = std::function<void()>;
  // `cuda_index` < 0: the CPU queue; else the queue of that CUDA device (MVD_SYNC waits on its stream).
  explicit WorkQueue(size_t depth, int cuda_index = -1);
  ~WorkQueue();

  // `op` names the task for error messages. If a task throws, the first error is kept ("sticky")
  // and reported by the next sync point; later tasks still run so that queued frees happen.
  // Run-ahead is bounded: with `depth` tasks already waiting, the caller waits for one to finish.
  // CPU storage is allocated when the worker first touches it (storage.h), so the CPU queue can run
  // a whole training step ahead without holding its activations early; CUDA storage is allocated
  // at enqueue time, so the CUDA queues keep a short bound (unbounded, a whole forward's
  // activations were alive at once: +1 GB peak RSS on an MVD S←B step).
  // With MVD_SYNC=1 (read at load) enqueue waits until the task has run (and, on a CUDA queue,
  // the stream has finished) and throws the task's failure as an OpError at the caller.
  void enqueue(const char* op, Fn fn);
  static bool sync_mode();
  // The first failure since the last sync point; kind keeps the typed error (ValueError, ...).
  struct Failure {
    ErrorKind kind = ErrorKind::Native;
    std::string message;  // empty: no failure
  };
  // Runs `fn` on the worker after everything enqueued so far; `fn` receives the sticky failure
  // (empty message if none) and clears it.
  void enqueue_sync(std::function<void(Failure)> fn);
  // Blocks the calling thread until the queue is empty; returns and clears the sticky failure.
  Failure wait_idle();
  size_t pending();

  static WorkQueue& cpu();
  // The queue of CUDA device `index` (created on first use). Its ops issue kernels to the device's
  // one stream, so they run on the GPU in queue order; read-backs synchronise the stream.
  static WorkQueue& cuda(int index);

 private:
  void run();
  struct Task {
    const char* op;
    Fn fn;
    bool is_sync;
    std::function<void(Failure)> sync_fn;
  };
  std::mutex m_;
  std::condition_variable cv_, idle_cv_, space_cv_;
  size_t depth_;
  int cuda_index_;
  std::deque<Task> q_;
  bool busy_ = false;
  bool stop_ = false;
  Failure sticky_;
  std::thread worker_;
};

}  // namespace mvd
