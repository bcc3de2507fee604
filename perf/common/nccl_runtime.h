// --backend nccl: the same sweep through NCCL, loaded at run time with
// dlopen("libnccl.so.2"), so shoal neither links nor needs NCCL. The ranks
// form a shoal communicator as usual; it carries the ncclUniqueId from rank 0
// and the driver's helper collectives (times, #wrong) on host memory, while
// the measured calls go to NCCL on the -g 1 device buffers and stream.
//
// NCCL wants one GPU per rank: several ranks on one GPU fail in
// ncclCommInitRank with "Duplicate GPU detected", so a multi-rank NCCL
// comparison needs as many GPUs as ranks.
#pragma once

#include <memory>
#include <string>

#include "common/args.h"
#include "common/backend.h"
#include "common/shoal_runtime.h"

namespace perf {

// NCCL's entry points as this tool calls them. The enums and the unique id
// are copied from NCCL's public ABI (nccl.h is not needed to build).
struct NcclApi {
  using Result = int;  // ncclResult_t
  using Comm = void*;  // ncclComm_t
  struct UniqueId {
    char internal[128];
  };

  Result (*getVersion)(int*);
  Result (*getUniqueId)(UniqueId*);
  Result (*commInitRank)(Comm*, int, UniqueId, int);
  Result (*commDestroy)(Comm);
  Result (*commAbort)(Comm);
  const char* (*getErrorString)(Result);
  const char* (*getLastError)(Comm);           // NCCL 2.13 and later; may be null
  Result (*commGetAsyncError)(Comm, Result*);  // may be null
  Result (*allReduce)(const void*, void*, size_t, int, int, Comm, void*);
  Result (*reduceScatter)(const void*, void*, size_t, int, int, Comm, void*);
  Result (*allGather)(const void*, void*, size_t, int, Comm, void*);
  Result (*broadcast)(const void*, void*, size_t, int, int, Comm, void*);
  Result (*reduce)(const void*, void*, size_t, int, int, int, Comm, void*);

  // Opens libnccl.so.2 (kept open for the life of the process) and resolves
  // every entry point; throws RuntimeError with dlerror()'s message.
  static std::shared_ptr<const NcclApi> load();
};

class NcclRuntime : public Backend {
 public:
  // Needs the rank's GPU current (DeviceMemory sets it).
  NcclRuntime(const Options& o, std::shared_ptr<const NcclApi> api);
  ~NcclRuntime() override;
  NcclRuntime(const NcclRuntime&) = delete;
  NcclRuntime& operator=(const NcclRuntime&) = delete;

  int rank() const override { return shoal_.rank(); }
  int size() const override { return shoal_.size(); }
  std::string library() const override;
  std::string transport() const override { return "nccl"; }
  std::string unsupported(shoalDataType_t, shoalRedOp_t) const override { return {}; }
  double reduceTime(double seconds, bool max) override { return shoal_.reduceTime(seconds, max); }
  long long sumOverRanks(long long v) override { return shoal_.sumOverRanks(v); }
  void sumBytes(unsigned char* buf, size_t n) override { shoal_.sumBytes(buf, n); }
  void barrier() override { shoal_.barrier(); }
  void abort() override;
  void checkAsyncErrors() override;

  void allReduce(const Call& c) override;
  void reduceScatter(const Call& c) override;
  void allGather(const Call& c) override;
  void broadcast(const Call& c) override;
  void reduce(const Call& c) override;

 private:
  void check(NcclApi::Result r, const char* what) const;

  std::shared_ptr<const NcclApi> api_;
  ShoalRuntime shoal_;
  NcclApi::Comm comm_ = nullptr;
};

}  // namespace perf
