// NCCL, opened at run time (dlopen "libnccl.so.2", or $MVD_NCCL_LIBRARY). The addon never links
// it, so one build runs with or without NCCL installed. Only the part of NCCL's C API that mvd
// calls is declared, with the ABI of NCCL's public header (nccl.h): the enum values, the 128-byte
// unique id passed by value, and cudaStream_t as an opaque pointer.
#pragma once
#include <cstddef>
#include <string>

namespace mvd::dist {

struct NcclUniqueId {
  char internal[128];  // NCCL_UNIQUE_ID_BYTES
};
using NcclComm = struct ncclComm*;
using NcclStream = void*;  // cudaStream_t

// ncclDataType_t and ncclRedOp_t values used here.
enum NcclDataType : int { kNcclUint8 = 1, kNcclInt32 = 2, kNcclFloat32 = 7, kNcclBfloat16 = 9 };
enum NcclRedOp : int { kNcclSum = 0, kNcclAvg = 4 };

struct NcclApi {
  bool loaded = false;
  std::string reason;  // why not, when !loaded
  std::string path;
  int version = 0;  // NCCL_VERSION_CODE: major*10000 + minor*100 + patch (2.10 and later)
  int (*GetVersion)(int*) = nullptr;
  int (*GetUniqueId)(NcclUniqueId*) = nullptr;
  int (*CommInitRank)(NcclComm*, int nranks, NcclUniqueId id, int rank) = nullptr;
  int (*CommDestroy)(NcclComm) = nullptr;
  int (*AllReduce)(const void* send, void* recv, size_t count, int dtype, int op, NcclComm, NcclStream) = nullptr;
  int (*Broadcast)(const void* send, void* recv, size_t count, int dtype, int root, NcclComm, NcclStream) = nullptr;
  int (*AllGather)(const void* send, void* recv, size_t sendcount, int dtype, NcclComm, NcclStream) = nullptr;
  const char* (*GetErrorString)(int) = nullptr;
};

// Loads NCCL once; `loaded` false with the reason when the library or a symbol is missing, or it
// is older than 2.10 (ncclAvg and bf16 came then).
const NcclApi& nccl();
// "NCCL 2.x.y (path)" or "not available: <reason>", for mvd info.
std::string nccl_status();

}  // namespace mvd::dist
