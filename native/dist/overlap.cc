#include "overlap.h"

#include <condition_variable>
#include <deque>
#include <mutex>
#include <thread>

#include "../core/errors.h"
#include "nccl.h"

namespace mvd::dist {

struct OverlapBucket {
  Device device;
  DType dtype = DType::F32;
  Reduce red = Reduce::Sum;
  const char* op = "";
  std::vector<char> host;  // the packed gradients; empty when start() already reduced in place
  int64_t n = 0;
  std::mutex m;
  std::condition_variable cv;
  bool done = false;
  bool failed = false;
  ErrorKind kind = ErrorKind::Native;
  std::string message;
};

namespace {

// One thread per process: a FIFO of buckets, reduced one at a time in start() order.
class GradientThread {
 public:
  void push(std::shared_ptr<OverlapBucket> b) {
    {
      std::lock_guard<std::mutex> lock(m_);
      if (!thread_.joinable()) thread_ = std::thread([this] { run(); });
      jobs_.push_back(std::move(b));
    }
    cv_.notify_one();
  }

  void shutdown() {
    {
      std::lock_guard<std::mutex> lock(m_);
      if (!thread_.joinable()) return;
      stop_ = true;
    }
    cv_.notify_one();
    thread_.join();
    stop_ = false;
  }

 private:
  void run() {
    for (;;) {
      std::shared_ptr<OverlapBucket> b;
      {
        std::unique_lock<std::mutex> lock(m_);
        cv_.wait(lock, [this] { return stop_ || !jobs_.empty(); });
        if (jobs_.empty()) return;  // stop_ with nothing left
        b = std::move(jobs_.front());
        jobs_.pop_front();
      }
      bool failed = false;
      ErrorKind kind = ErrorKind::Native;
      std::string message;
      try {
        allreduce(b->host.data(), b->n, b->dtype, b->red, b->op, Channel::Overlap);
      } catch (const OpError& e) { failed = true, kind = e.kind, message = e.what(); } catch (const std::exception& e) {
        failed = true, message = e.what();
      }
      {
        std::lock_guard<std::mutex> lock(b->m);
        b->done = true, b->failed = failed, b->kind = kind, b->message = std::move(message);
      }
      b->cv.notify_all();
    }
  }

  std::mutex m_;
  std::condition_variable cv_;
  std::deque<std::shared_ptr<OverlapBucket>> jobs_;
  std::thread thread_;
  bool stop_ = false;
};

GradientThread& gradient_thread() {
  static GradientThread* t = new GradientThread();  // never destroyed: exit must not join it
  return *t;
}

}  // namespace

std::shared_ptr<OverlapBucket> overlap_start(const Device& d, const std::vector<Buf>& bufs, DType dtype, Reduce red,
                                             const char* op) {
  auto b = std::make_shared<OverlapBucket>();
  b->device = d, b->dtype = dtype, b->red = red, b->op = op;
  if (world().size == 1) {
    b->done = true;
    return b;
  }
#if MVD_HAVE_CUDA && !MVD_SIMT
  if (d.kind == Device::CUDA && nccl().loaded) {
    allreduce_bufs(d, bufs, dtype, red, op);
    b->done = true;
    return b;
  }
#endif
  // Without MPI_THREAD_MULTIPLE a second thread inside MPI is not allowed: reduce here, blocking.
  if (!world().mpi_thread_multiple) {
    allreduce_bufs(d, bufs, dtype, red, op);
    b->done = true;
    return b;
  }
  for (const Buf& x : bufs) b->n += x.n;
  b->host.resize(size_t(b->n) * dtype_size(dtype));
  pack(d, bufs, dtype_size(dtype), b->host.data(), to_host_copy(d));
  gradient_thread().push(b);
  return b;
}

void overlap_finish(const std::shared_ptr<OverlapBucket>& b, const std::vector<Buf>& bufs) {
  {
    std::unique_lock<std::mutex> lock(b->m);
    b->cv.wait(lock, [&] { return b->done; });
  }
  if (b->failed) throw OpError::verbatim(b->kind, b->op, b->message);
  if (b->host.empty()) return;  // reduced in place (one rank, or NCCL)
  unpack(b->device, bufs, dtype_size(b->dtype), b->host.data(), from_host_copy(b->device));
}

void overlap_shutdown() { gradient_thread().shutdown(); }

}  // namespace mvd::dist
