#include "common/shoal_runtime.h"

#include <cstdlib>
#include <string>

namespace perf {

namespace {

// Whether a launcher started us: shoalrun, mpirun, torchrun or srun.
bool launched() {
  for (const char* v : {"SHOAL_RANK", "OMPI_COMM_WORLD_RANK", "RANK", "SLURM_PROCID"}) {
    if (getenv(v) != nullptr) return true;
  }
  return false;
}

}  // namespace

ShoalRuntime::ShoalRuntime(const Options& o) {
  if (o.algorithm == "auto") {
    unsetenv("SHOAL_ALGO");
  } else if (!o.algorithm.empty()) {
    setenv("SHOAL_ALGO", o.algorithm.c_str(), 1);
  }
  const char* algo = getenv("SHOAL_ALGO");
  requestedAlgo_ = algo && *algo ? algo : "auto";
  shoalResult_t r;
  const char* how;
  if (launched()) {
    how = "shoalCommInitFromEnv";
    r = shoalCommInitFromEnv(&comm_);
  } else {
    // Started by hand, as nccl-tests can be: one rank, its own root.
    how = "shoalCommInitRank(1 rank)";
    shoalUniqueId id;
    r = shoalGetUniqueId(&id);
    if (r == shoalSuccess) r = shoalCommInitRank(&comm_, 1, id, 0);
  }
  if (r != shoalSuccess) {
    throw RuntimeError(std::string(how) + ": " + shoalGetErrorString(r) + ": " +
                       shoalGetLastError(nullptr));
  }
  check(shoalCommUserRank(comm_, &rank_), "shoalCommUserRank");
  check(shoalCommCount(comm_, &size_), "shoalCommCount");
}

ShoalRuntime::~ShoalRuntime() {
  if (comm_ != nullptr) shoalCommDestroy(comm_);
}

void ShoalRuntime::check(shoalResult_t r, const char* what) const {
  if (r == shoalSuccess) return;
  throw RuntimeError(std::string(what) + ": " + shoalGetErrorString(r) + ": " +
                     shoalGetLastError(comm_));
}

std::string ShoalRuntime::library() const {
  int v = 0;
  shoalGetVersion(&v);
  // NCCL's encoding: major * 10000 + minor * 100 + patch.
  return "shoal " + std::to_string(v / 10000) + "." + std::to_string(v / 100 % 100) + "." +
         std::to_string(v % 100) + " (SHOAL_ALGO " + requestedAlgo_ + ")";
}

std::string ShoalRuntime::transport() const {
  const char* t = shoalCommTransportName(comm_);
  return t ? t : "unknown";
}

std::string ShoalRuntime::lastAlgorithm() const {
  const char* a = shoalCommLastAlgorithm(comm_);
  return a ? a : "";
}

double ShoalRuntime::reduceTime(double seconds, bool max) {
  check(
      shoalAllReduce(&seconds, &seconds, 1, shoalDouble, max ? shoalMax : shoalSum, comm_, nullptr),
      "shoalAllReduce(time)");
  return seconds;
}

long long ShoalRuntime::sumOverRanks(long long v) {
  int64_t x = v;
  check(shoalAllReduce(&x, &x, 1, shoalInt64, shoalSum, comm_, nullptr), "shoalAllReduce(#wrong)");
  return x;
}

void ShoalRuntime::sumBytes(unsigned char* buf, size_t n) {
  check(shoalAllReduce(buf, buf, n, shoalUint8, shoalSum, comm_, nullptr),
        "shoalAllReduce(device lines)");
}

void ShoalRuntime::barrier() { check(shoalBarrier(comm_, nullptr), "shoalBarrier"); }

void ShoalRuntime::abort() {
  if (comm_ != nullptr) shoalCommAbort(comm_);
  comm_ = nullptr;
}

void ShoalRuntime::checkAsyncErrors() {
  shoalResult_t async = shoalSuccess;
  check(shoalCommGetAsyncError(comm_, &async), "shoalCommGetAsyncError");
  check(async, "a stream-ordered collective");
}

void ShoalRuntime::allReduce(const Call& c) {
  check(shoalAllReduce(c.send, c.recv, c.count, c.type, c.op, comm_, c.stream), "shoalAllReduce");
}

void ShoalRuntime::reduceScatter(const Call& c) {
  check(shoalReduceScatter(c.send, c.recv, c.count, c.type, c.op, comm_, c.stream),
        "shoalReduceScatter");
}

void ShoalRuntime::allGather(const Call& c) {
  check(shoalAllGather(c.send, c.recv, c.count, c.type, comm_, c.stream), "shoalAllGather");
}

void ShoalRuntime::broadcast(const Call& c) {
  check(shoalBroadcast(c.send, c.recv, c.count, c.type, c.root, comm_, c.stream), "shoalBroadcast");
}

void ShoalRuntime::reduce(const Call& c) {
  check(shoalReduce(c.send, c.recv, c.count, c.type, c.op, c.root, comm_, c.stream), "shoalReduce");
}

}  // namespace perf
