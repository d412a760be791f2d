// Process-group collectives (issue 19): initDistributed(useMpi) -> world, finalizeDistributed(),
// abortDistributed(code, propagate), distributedInfo(), and the in-place collectives
// allReduce(tensors[], 'sum'|'avg'), broadcast(tensors[], root), allGather(tensor) -> [world, ...],
// barrier(device). Each collective is one task on the tensors' device queue, so it runs after
// the kernels that produced its inputs and before those that read its outputs.
// allReduceStart(tensors, op) -> id and allReduceFinish(id) split a gradient bucket's all-reduce
// in two tasks so that the kernels queued between them run while it is in flight (overlap.h).
#include <map>
#include <memory>
#include <unistd.h>

#include "../dist/collectives.h"
#include "../dist/comm.h"
#include "../dist/overlap.h"
#include "args.h"
#include "bindings.h"

namespace mvd {
namespace {

std::vector<TensorArg> collective_list(const std::string& op, const Napi::Value& v) {
  if (!v.IsArray()) throw OpError(ErrorKind::Value, op, "tensors must be an array of tensors (one bucket)");
  Napi::Array a = v.As<Napi::Array>();
  std::vector<TensorArg> out;
  for (uint32_t i = 0; i < a.Length(); ++i)
    out.push_back(tensor_arg(op, a.Get(i), "tensors[" + std::to_string(i) + "]"));
  std::vector<const TensorArg*> all;
  for (auto& t : out) {
    all.push_back(&t);
    if (t.dtype != out[0].dtype)
      throw OpError(ErrorKind::DType, op, "one bucket holds one dtype: " + t.desc() + " differs from " + out[0].desc());
  }
  expect_same_device(op, all);
  return out;
}

std::vector<dist::Buf> bufs_of(const std::vector<TensorArg>& ts) {
  std::vector<dist::Buf> out;
  for (auto& t : ts) out.push_back({nullptr, t.numel()});
  return out;
}

// The tensors' byte pointers, resolved on the worker (CPU storage is allocated when first touched).
std::vector<LazyPtr<uint8_t>> lazy_bytes(const std::vector<TensorArg>& ts) {
  std::vector<LazyPtr<uint8_t>> out;
  for (auto& t : ts) out.emplace_back(t.storage, t.offset * int64_t(dtype_size(t.dtype)));
  return out;
}

std::vector<dist::Buf> resolve(std::vector<dist::Buf> bufs, const std::vector<LazyPtr<uint8_t>>& ptrs) {
  for (size_t i = 0; i < bufs.size(); ++i) bufs[i].p = ptrs[i].get();
  return bufs;
}

Napi::Object world_to_js(Napi::Env env, const dist::World& w) {
  Napi::Object o = Napi::Object::New(env);
  o.Set("rank", w.rank);
  o.Set("size", w.size);
  o.Set("localRank", w.local_rank);
  o.Set("localSize", w.local_size);
  o.Set("mpi", w.mpi);
  return o;
}

Napi::Value InitDistributed(const Napi::CallbackInfo& info) {
  const bool use_mpi = bool_arg("initDistributed", info[0], "useMpi");
  return world_to_js(info.Env(), dist::init(use_mpi));
}

Napi::Value FinalizeDistributed(const Napi::CallbackInfo& info) {
  // Everything queued on the CPU queue (collectives included) completes first: MPI_Finalize with
  // a collective still running on the worker would be erroneous.
  WorkQueue::cpu().wait_idle();
  dist::overlap_shutdown();
  dist::finalize();
  return info.Env().Undefined();
}

Napi::Value AbortDistributed(const Napi::CallbackInfo& info) {
  const int code = (int)int_arg("abortDistributed", info[0], "code", 1);
  const bool propagate = bool_arg("abortDistributed", info[1], "propagate");
  if (!propagate) _exit(code);  // the launcher is already ending the job: nothing to tell it
  dist::abort_job(code);
}

Napi::Value DistributedInfo(const Napi::CallbackInfo& info) {
  Napi::Object o = Napi::Object::New(info.Env());
  o.Set("mpiCompiled", dist::mpi_compiled());
  o.Set("mpiLibrary", dist::mpi_library());
  o.Set("cudaPath", dist::cuda_collectives_path());
  o.Set("world", world_to_js(info.Env(), dist::world()));
  return o;
}

// The reduction named by `v` ('sum' | 'avg'), checked against the bucket's dtype.
dist::Reduce reduce_arg(const char* op, const Napi::Value& v, const std::vector<TensorArg>& ts) {
  if (!v.IsString()) throw OpError(ErrorKind::Value, op, "op must be 'sum' or 'avg'");
  const std::string how = v.As<Napi::String>().Utf8Value();
  if (how != "sum" && how != "avg") throw OpError(ErrorKind::Value, op, "op must be 'sum' or 'avg', got '" + how + "'");
  const dist::Reduce red = how == "avg" ? dist::Reduce::Avg : dist::Reduce::Sum;
  if (!ts.empty() && red == dist::Reduce::Avg && ts[0].dtype != DType::F32 && ts[0].dtype != DType::BF16)
    throw OpError(ErrorKind::DType, op,
                  "'avg' needs f32 or bf16 tensors (an integer mean would truncate); got " + ts[0].desc(), "",
                  ts[0].device.str());
  return red;
}

Napi::Value AllReduce(const Napi::CallbackInfo& info) {
  const char* op = "allReduce";
  std::vector<TensorArg> ts = collective_list(op, info[0]);
  const dist::Reduce red = reduce_arg(op, info[1], ts);
  if (ts.empty()) return info.Env().Undefined();
  const DType dt = ts[0].dtype;
  const Device dev = ts[0].device;
  WorkQueue& q = queue_for(op, dev);
  q.enqueue(op, [bufs = bufs_of(ts), ptrs = lazy_bytes(ts), dev, dt, red, op] {
    dist::allreduce_bufs(dev, resolve(bufs, ptrs), dt, red, op);
  });
  return info.Env().Undefined();
}

// Started buckets by id, from allReduceStart until allReduceFinish (JS thread only). The slot is
// filled by the start task and read by the finish task, both on the device worker, in that order.
struct Started {
  Device device;
  std::vector<dist::Buf> bufs;
  std::vector<LazyPtr<uint8_t>> ptrs;  // also keeps the gradients' storage alive until finish
  std::shared_ptr<std::shared_ptr<dist::OverlapBucket>> slot;
};
std::map<int64_t, Started> started;
int64_t next_id = 1;

Napi::Value AllReduceStart(const Napi::CallbackInfo& info) {
  const char* op = "allReduceStart";
  std::vector<TensorArg> ts = collective_list(op, info[0]);
  const dist::Reduce red = reduce_arg(op, info[1], ts);
  if (ts.empty()) throw OpError(ErrorKind::Value, op, "a bucket needs at least one tensor");
  Started s{ts[0].device, bufs_of(ts), lazy_bytes(ts), std::make_shared<std::shared_ptr<dist::OverlapBucket>>()};
  queue_for(op, s.device)
      .enqueue(op, [bufs = s.bufs, ptrs = s.ptrs, slot = s.slot, dev = s.device, dt = ts[0].dtype, red, op] {
        *slot = dist::overlap_start(dev, resolve(bufs, ptrs), dt, red, op);
      });
  const int64_t id = next_id++;
  started.emplace(id, std::move(s));
  return Napi::Number::New(info.Env(), double(id));
}

Napi::Value AllReduceFinish(const Napi::CallbackInfo& info) {
  const char* op = "allReduceFinish";
  const int64_t id = int_arg(op, info[0], "id", 1);
  auto it = started.find(id);
  if (it == started.end())
    throw OpError(ErrorKind::Value, op,
                  "no started all-reduce has id " + std::to_string(id) + " (finished already, or never started)");
  Started s = std::move(it->second);
  started.erase(it);
  queue_for(op, s.device).enqueue(op, [bufs = s.bufs, ptrs = s.ptrs, slot = s.slot] {
    // No bucket: its start task failed, and that failure is already the queue's sticky error.
    if (*slot) dist::overlap_finish(*slot, resolve(bufs, ptrs));
  });
  return info.Env().Undefined();
}

Napi::Value Broadcast(const Napi::CallbackInfo& info) {
  const char* op = "broadcast";
  std::vector<TensorArg> ts = collective_list(op, info[0]);
  const int64_t root = int_arg(op, info[1], "root", 0);
  const int size = dist::world().size;
  if (root >= size)
    throw OpError(ErrorKind::Value, op,
                  "root " + std::to_string(root) + " is not a rank of this world of " + std::to_string(size));
  if (ts.empty()) return info.Env().Undefined();
  const Device dev = ts[0].device;
  const DType dt = ts[0].dtype;
  WorkQueue& q = queue_for(op, dev);
  q.enqueue(op, [bufs = bufs_of(ts), ptrs = lazy_bytes(ts), dev, dt, root = (int)root, op] {
    dist::broadcast_bufs(dev, resolve(bufs, ptrs), dt, root, op);
  });
  return info.Env().Undefined();
}

Napi::Value AllGather(const Napi::CallbackInfo& info) {
  const char* op = "allGather";
  TensorArg t = tensor_arg(op, info[0], "tensor");
  std::vector<int64_t> shape{dist::world().size};
  shape.insert(shape.end(), t.shape.begin(), t.shape.end());
  Output o = make_output(shape, t.dtype, t.device);
  WorkQueue& q = queue_for(op, t.device);
  const LazyPtr<uint8_t> in(t.storage, t.offset * int64_t(dtype_size(t.dtype)));
  auto out = o.data<uint8_t>();
  q.enqueue(
      op, [in, out, n = t.numel(), dt = t.dtype, dev = t.device, op] { dist::allgather_buf(dev, in, out, n, dt, op); });
  return output_to_js(info.Env(), o);
}

Napi::Value Barrier(const Napi::CallbackInfo& info) {
  const char* op = "barrier";
  if (!info[0].IsString()) throw OpError(ErrorKind::Value, op, "device must be a string such as 'cpu' or 'cuda:0'");
  Device d;
  const std::string s = info[0].As<Napi::String>().Utf8Value();
  if (!parse_device(s, &d)) throw OpError(ErrorKind::Device, op, "unknown device '" + s + "'");
  queue_for(op, d).enqueue(op, [op] { dist::barrier(op); });
  return info.Env().Undefined();
}

}  // namespace

MVD_BINDING("initDistributed", InitDistributed, "useMpi")
MVD_BINDING("finalizeDistributed", FinalizeDistributed, "")
MVD_BINDING("abortDistributed", AbortDistributed, "code, propagate")
MVD_BINDING("distributedInfo", DistributedInfo, "")
MVD_BINDING("allReduce", AllReduce, "tensors, op")
MVD_BINDING("allReduceStart", AllReduceStart, "tensors, op")
MVD_BINDING("allReduceFinish", AllReduceFinish, "id")
MVD_BINDING("broadcast", Broadcast, "tensors, root")
MVD_BINDING("allGather", AllGather, "tensor")
MVD_BINDING("barrier", Barrier, "device")

}  // namespace mvd
