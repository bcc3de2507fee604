#include "common/nccl_runtime.h"

#include <dlfcn.h>

#include <cstdint>
#include <cstring>
#include <string>

namespace perf {

namespace {

// NCCL's ABI values (nccl.h, stable since NCCL 2.x). shoal numbers its
// results, types and operators the same way, so they pass through unchanged;
// these asserts keep it so.
namespace abi {
constexpr int kSuccess = 0;
constexpr int kInvalidUsage = 5;
constexpr int kInt8 = 0, kUint8 = 1, kInt32 = 2, kUint32 = 3, kInt64 = 4, kUint64 = 5, kFloat16 = 6,
              kFloat32 = 7, kFloat64 = 8, kBfloat16 = 9;
constexpr int kSum = 0, kProd = 1, kMax = 2, kMin = 3, kAvg = 4;
constexpr size_t kUniqueIdBytes = 128;
}  // namespace abi

static_assert(shoalSuccess == abi::kSuccess && shoalInvalidUsage == abi::kInvalidUsage);
static_assert(shoalInt8 == abi::kInt8 && shoalUint8 == abi::kUint8 && shoalInt32 == abi::kInt32 &&
              shoalUint32 == abi::kUint32 && shoalInt64 == abi::kInt64 &&
              shoalUint64 == abi::kUint64 && shoalFloat16 == abi::kFloat16 &&
              shoalFloat32 == abi::kFloat32 && shoalFloat64 == abi::kFloat64 &&
              shoalBfloat16 == abi::kBfloat16);
static_assert(shoalSum == abi::kSum && shoalProd == abi::kProd && shoalMax == abi::kMax &&
              shoalMin == abi::kMin && shoalAvg == abi::kAvg);
static_assert(sizeof(NcclApi::UniqueId) == abi::kUniqueIdBytes);

constexpr const char* kLibrary = "libnccl.so.2";

template <typename Fn>
void resolve(void* lib, const char* name, Fn* out, bool required = true) {
  void* sym = dlsym(lib, name);
  if (sym == nullptr && required) {
    throw RuntimeError(std::string(kLibrary) + " has no " + name + " (NCCL too old?)");
  }
  // POSIX guarantees a data pointer from dlsym converts to a function pointer.
  static_assert(sizeof(Fn) == sizeof(void*));
  memcpy(out, &sym, sizeof sym);
}

// What rank 0 broadcasts: the id, or why it has none.
struct IdMessage {
  int32_t status;
  NcclApi::UniqueId id;
};

}  // namespace

std::shared_ptr<const NcclApi> NcclApi::load() {
  // Never closed: NCCL keeps threads and atexit handlers of its own.
  void* lib = dlopen(kLibrary, RTLD_NOW | RTLD_LOCAL);
  if (lib == nullptr) {
    const char* err = dlerror();
    throw RuntimeError(std::string("cannot load ") + kLibrary + ": " +
                       (err ? err : "unknown error") +
                       " (install NCCL or add its directory to LD_LIBRARY_PATH)");
  }
  auto api = std::make_shared<NcclApi>();
  resolve(lib, "ncclGetVersion", &api->getVersion);
  resolve(lib, "ncclGetUniqueId", &api->getUniqueId);
  resolve(lib, "ncclCommInitRank", &api->commInitRank);
  resolve(lib, "ncclCommDestroy", &api->commDestroy);
  resolve(lib, "ncclCommAbort", &api->commAbort);
  resolve(lib, "ncclGetErrorString", &api->getErrorString);
  resolve(lib, "ncclGetLastError", &api->getLastError, false);
  resolve(lib, "ncclCommGetAsyncError", &api->commGetAsyncError, false);
  resolve(lib, "ncclAllReduce", &api->allReduce);
  resolve(lib, "ncclReduceScatter", &api->reduceScatter);
  resolve(lib, "ncclAllGather", &api->allGather);
  resolve(lib, "ncclBroadcast", &api->broadcast);
  resolve(lib, "ncclReduce", &api->reduce);
  return api;
}

NcclRuntime::NcclRuntime(const Options& o, std::shared_ptr<const NcclApi> api)
    : api_(std::move(api)), shoal_(o) {
  IdMessage msg{};
  if (shoal_.rank() == 0) msg.status = api_->getUniqueId(&msg.id);
  shoal_.check(shoalBroadcast(&msg, &msg, sizeof msg, shoalUint8, 0, shoal_.comm(), nullptr),
               "shoalBroadcast(ncclUniqueId)");
  if (msg.status != abi::kSuccess) {
    throw RuntimeError(std::string("ncclGetUniqueId on rank 0: ") +
                       api_->getErrorString(msg.status));
  }
  check(api_->commInitRank(&comm_, shoal_.size(), msg.id, shoal_.rank()), "ncclCommInitRank");
}

NcclRuntime::~NcclRuntime() {
  if (comm_ != nullptr) api_->commDestroy(comm_);
}

void NcclRuntime::check(NcclApi::Result r, const char* what) const {
  if (r == abi::kSuccess) return;
  std::string msg = std::string(what) + ": " + api_->getErrorString(r);
  const char* last = api_->getLastError ? api_->getLastError(comm_) : nullptr;
  if (last != nullptr && *last != '\0') msg += std::string(": ") + last;
  throw RuntimeError(msg);
}

std::string NcclRuntime::library() const {
  int v = 0;
  api_->getVersion(&v);
  // Since NCCL 2.9: major * 10000 + minor * 100 + patch; before: * 1000.
  const int major = v >= 10000 ? v / 10000 : v / 1000;
  const int minor = v >= 10000 ? v / 100 % 100 : v / 100 % 10;
  return "NCCL " + std::to_string(major) + "." + std::to_string(minor) + "." +
         std::to_string(v % 100) + " (" + kLibrary + ", --backend nccl)";
}

void NcclRuntime::abort() {
  if (comm_ != nullptr) api_->commAbort(comm_);
  comm_ = nullptr;
  shoal_.abort();
}

void NcclRuntime::checkAsyncErrors() {
  if (api_->commGetAsyncError == nullptr || comm_ == nullptr) return;
  NcclApi::Result async = abi::kSuccess;
  check(api_->commGetAsyncError(comm_, &async), "ncclCommGetAsyncError");
  check(async, "an enqueued NCCL collective");
}

void NcclRuntime::allReduce(const Call& c) {
  check(api_->allReduce(c.send, c.recv, c.count, c.type, c.op, comm_, c.stream), "ncclAllReduce");
}

void NcclRuntime::reduceScatter(const Call& c) {
  check(api_->reduceScatter(c.send, c.recv, c.count, c.type, c.op, comm_, c.stream),
        "ncclReduceScatter");
}

void NcclRuntime::allGather(const Call& c) {
  check(api_->allGather(c.send, c.recv, c.count, c.type, comm_, c.stream), "ncclAllGather");
}

void NcclRuntime::broadcast(const Call& c) {
  check(api_->broadcast(c.send, c.recv, c.count, c.type, c.root, comm_, c.stream), "ncclBroadcast");
}

void NcclRuntime::reduce(const Call& c) {
  check(api_->reduce(c.send, c.recv, c.count, c.type, c.op, c.root, comm_, c.stream), "ncclReduce");
}

}  // namespace perf
