// Runtime over shoal's public C API only, launched by shoalrun or mpirun
// (shoalCommInitFromEnv reads the launcher's variables), or started by hand
// as a single rank. The helper collectives run on host memory; the measured
// ones get the Call's stream (a cudaStream_t with -g 1).
#pragma once

#include <string>

#include "common/args.h"
#include "common/backend.h"
#include "shoal/shoal.h"

namespace perf {

class ShoalRuntime : public Backend {
 public:
  // Applies -A (SHOAL_ALGO) before creating the communicator.
  explicit ShoalRuntime(const Options& o);
  ~ShoalRuntime() override;

  shoalComm_t comm() const { return comm_; }
  // Throws RuntimeError naming what failed and shoal's messages unless r is
  // shoalSuccess (runMain adds the rank).
  void check(shoalResult_t r, const char* what) const;

  int rank() const override { return rank_; }
  int size() const override { return size_; }
  std::string library() const override;
  std::string transport() const override;
  std::string lastAlgorithm() const override;
  std::string unsupported(shoalDataType_t, shoalRedOp_t) const override { return {}; }
  double reduceTime(double seconds, bool max) override;
  long long sumOverRanks(long long v) override;
  void sumBytes(unsigned char* buf, size_t n) override;
  void barrier() override;
  void abort() override;
  void checkAsyncErrors() override;

  void allReduce(const Call& c) override;
  void reduceScatter(const Call& c) override;
  void allGather(const Call& c) override;
  void broadcast(const Call& c) override;
  void reduce(const Call& c) override;

 private:
  shoalComm_t comm_ = nullptr;
  int rank_ = 0;
  int size_ = 1;
  std::string requestedAlgo_;
};

}  // namespace perf
