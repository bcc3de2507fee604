#include "baselines/gloo_runtime.h"

#include <gloo/allreduce_ring.h>
#include <gloo/config.h>
#include <gloo/rendezvous/file_store.h>
#include <gloo/rendezvous/prefix_store.h>
#include <gloo/transport/ibverbs/device.h>
#include <gloo/transport/tcp/device.h>
#include <gloo/types.h>

#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <string>

#include "common/datatypes.h"

namespace perf {

namespace {

// Same deadline as shoal's default SHOAL_TIMEOUT.
constexpr std::chrono::seconds kTimeout{300};

int envInt(const char* a, const char* b) {
  const char* v = getenv(a);
  if (v == nullptr || *v == '\0') v = getenv(b);
  if (v == nullptr || *v == '\0') {
    throw RuntimeError(std::string("neither ") + a + " nor " + b +
                       " is set: launch with shoalrun or mpirun");
  }
  return atoi(v);
}

// A name every rank of this launch derives alike and no other launch shares.
std::string launchId() {
  for (const char* name : {"SHOAL_SECRET", "OMPI_MCA_ess_base_jobid", "PMIX_NAMESPACE"}) {
    const char* v = getenv(name);
    if (v != nullptr && *v != '\0') return std::string(v).substr(0, 32);
  }
  throw RuntimeError("no launch id: expected SHOAL_SECRET (shoalrun) or OMPI_MCA_ess_base_jobid");
}

template <typename T>
const gloo::ReductionFunction<T>* reduction(shoalRedOp_t op) {
  switch (op) {
    case shoalProd:
      return gloo::ReductionFunction<T>::product;
    case shoalMax:
      return gloo::ReductionFunction<T>::max;
    case shoalMin:
      return gloo::ReductionFunction<T>::min;
    default:  // sum, and avg's sum before the division
      return gloo::ReductionFunction<T>::sum;
  }
}

template <typename T>
std::unique_ptr<gloo::Algorithm> ring(const std::shared_ptr<gloo::Context>& ctx, void* buf,
                                      size_t count, shoalRedOp_t op) {
  std::vector<T*> ptrs{static_cast<T*>(buf)};
  return std::make_unique<gloo::AllreduceRing<T>>(ctx, ptrs, static_cast<int>(count),
                                                  reduction<T>(op));
}

std::unique_ptr<gloo::Algorithm> makeRing(const std::shared_ptr<gloo::Context>& ctx, void* buf,
                                          size_t count, shoalDataType_t t, shoalRedOp_t op) {
  switch (t) {
    case shoalInt8:
      return ring<int8_t>(ctx, buf, count, op);
    case shoalUint8:
      return ring<uint8_t>(ctx, buf, count, op);
    case shoalInt32:
      return ring<int32_t>(ctx, buf, count, op);
    case shoalUint32:
      return ring<uint32_t>(ctx, buf, count, op);
    case shoalInt64:
      return ring<int64_t>(ctx, buf, count, op);
    case shoalUint64:
      return ring<uint64_t>(ctx, buf, count, op);
    case shoalHalf:
      return ring<gloo::float16>(ctx, buf, count, op);
    case shoalFloat:
      return ring<float>(ctx, buf, count, op);
    case shoalDouble:
      return ring<double>(ctx, buf, count, op);
    default:
      throw RuntimeError("gloo has no bfloat16");
  }
}

}  // namespace

GlooRuntime::GlooRuntime() {
  rank_ = envInt("SHOAL_RANK", "OMPI_COMM_WORLD_RANK");
  size_ = envInt("SHOAL_WORLD_SIZE", "OMPI_COMM_WORLD_SIZE");
  const std::string id = launchId();
  storeDir_ = (std::filesystem::temp_directory_path() / ("gloo_perf_" + id)).string();
  std::error_code ec;
  std::filesystem::create_directories(storeDir_, ec);
  if (ec)
    throw RuntimeError("rank " + std::to_string(rank_) + ": mkdir " + storeDir_ + ": " +
                       ec.message());
  try {
    // GLOO_IB_DEVICE=name[:port[:gid_index]] runs Gloo's ibverbs transport instead
    // of tcp (the Soft-RoCE guest bench compares it with shoal on the same port).
    std::shared_ptr<gloo::transport::Device> device;
    const char* ib = getenv("GLOO_IB_DEVICE");
    if (ib != nullptr && *ib != '\0') {
      std::string spec = ib;
      gloo::transport::ibverbs::attr attr;
      attr.name = spec.substr(0, spec.find(':'));
      attr.port = 1;
      attr.index = 0;
      size_t c1 = spec.find(':');
      if (c1 != std::string::npos) {
        attr.port = atoi(spec.c_str() + c1 + 1);
        size_t c2 = spec.find(':', c1 + 1);
        if (c2 != std::string::npos) attr.index = atoi(spec.c_str() + c2 + 1);
      }
      device = gloo::transport::ibverbs::CreateDevice(attr);
      transport_ = "gloo ibverbs " + spec;
    } else {
      gloo::transport::tcp::attr attr;
      attr.hostname = "127.0.0.1";
      device = gloo::transport::tcp::CreateDevice(attr);
    }
    gloo::rendezvous::FileStore fileStore(storeDir_);
    gloo::rendezvous::PrefixStore store("all_reduce_perf", fileStore);
    context_ = std::make_shared<gloo::rendezvous::Context>(rank_, size_);
    context_->setTimeout(kTimeout);
    context_->connectFullMesh(store, device);
    barrier_ = std::make_unique<gloo::BarrierAllToAll>(context_);
    timeMax_ = ring<double>(context_, &timeSlot_, 1, shoalMax);
    timeSum_ = ring<double>(context_, &timeSlot_, 1, shoalSum);
    countSum_ = ring<int64_t>(context_, &countSlot_, 1, shoalSum);
  } catch (const std::exception& e) {
    throw RuntimeError("rank " + std::to_string(rank_) + ": gloo rendezvous in " + storeDir_ +
                       ": " + e.what());
  }
}

GlooRuntime::~GlooRuntime() {
  try {
    barrier();
    cached_.reset();
    if (rank_ == 0) std::filesystem::remove_all(storeDir_);
  } catch (const std::exception&) {
    // A failed run already reported its error; leave the directory for inspection.
  }
}

std::string GlooRuntime::library() const {
  return "Gloo " + std::to_string(GLOO_VERSION_MAJOR) + "." + std::to_string(GLOO_VERSION_MINOR) +
         "." + std::to_string(GLOO_VERSION_PATCH);
}

std::string GlooRuntime::unsupported(shoalDataType_t t, shoalRedOp_t) const {
  if (t == shoalBfloat16) return "gloo has no bfloat16 type";
  return {};
}

void GlooRuntime::allReduce(const Call& c) {
  try {
    // AllreduceRing works in place; an out-of-place call copies first, which
    // is part of what such a call costs with Gloo.
    if (c.send != c.recv) memcpy(c.recv, c.send, c.count * typeSize(c.type));
    if (c.count == 0 || size_ == 1) return;
    if (!cached_ || cachedKey_.recv != c.recv || cachedKey_.count != c.count ||
        cachedKey_.type != c.type || cachedKey_.op != c.op) {
      if (cached_) retired_.push_back(std::move(cached_));
      cached_ = makeRing(context_, c.recv, c.count, c.type, c.op);
      cachedKey_ = CachedCall{c.recv, c.count, c.type, c.op};
    }
    cached_->run();
    if (c.op == shoalAvg) divideInPlace(c.recv, c.count, c.type, size_);
  } catch (const RuntimeError&) {
    throw;
  } catch (const std::exception& e) {
    throw RuntimeError(std::string("gloo::AllreduceRing: ") + e.what());
  }
}

double GlooRuntime::reduceTime(double seconds, bool max) {
  timeSlot_ = seconds;
  if (size_ > 1) (max ? timeMax_ : timeSum_)->run();
  return timeSlot_;
}

long long GlooRuntime::sumOverRanks(long long v) {
  countSlot_ = v;
  if (size_ > 1) countSum_->run();
  return countSlot_;
}

void GlooRuntime::sumBytes(unsigned char* buf, size_t n) {
  if (size_ == 1) return;
  auto r = ring<uint8_t>(context_, buf, n, shoalSum);
  r->run();
  retired_.push_back(std::move(r));
}

void GlooRuntime::barrier() {
  if (size_ > 1) barrier_->run();
}

}  // namespace perf
