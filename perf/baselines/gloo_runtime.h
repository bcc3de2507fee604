// Runtime over Gloo (Debian's libgloo) with the TCP transport on loopback.
// Ranks come from shoalrun (SHOAL_RANK/SHOAL_WORLD_SIZE) or mpirun
// (OMPI_COMM_WORLD_*); they meet through a gloo FileStore in a temporary
// directory named after the launch (shoalrun's secret or Open MPI's job id).
#pragma once

#include <gloo/algorithm.h>
#include <gloo/barrier_all_to_all.h>
#include <gloo/rendezvous/context.h>

#include <memory>
#include <string>
#include <vector>

#include "common/collective.h"
#include "common/runtime.h"

namespace perf {

class GlooRuntime : public Runtime {
 public:
  GlooRuntime();
  ~GlooRuntime() override;

  // gloo::AllreduceRing over c.recv (after copying c.send there when out of
  // place). The ring object is kept while the same call repeats, since
  // building one registers buffers with every peer.
  void allReduce(const Call& c);

  int rank() const override { return rank_; }
  int size() const override { return size_; }
  std::string library() const override;
  std::string transport() const override { return transport_; }
  std::string lastAlgorithm() const override { return "AllreduceRing"; }
  std::string unsupported(shoalDataType_t t, shoalRedOp_t op) const override;
  double reduceTime(double seconds, bool max) override;
  long long sumOverRanks(long long v) override;
  void sumBytes(unsigned char* buf, size_t n) override;
  void barrier() override;

 private:
  struct CachedCall {
    void* recv = nullptr;
    size_t count = 0;
    shoalDataType_t type = shoalFloat;
    shoalRedOp_t op = shoalSum;
  };

  int rank_ = 0;
  int size_ = 1;
  std::string storeDir_;
  std::shared_ptr<gloo::rendezvous::Context> context_;
  std::unique_ptr<gloo::BarrierAllToAll> barrier_;
  CachedCall cachedKey_;
  std::unique_ptr<gloo::Algorithm> cached_;
  double timeSlot_ = 0;
  std::unique_ptr<gloo::Algorithm> timeMax_, timeSum_;
  int64_t countSlot_ = 0;
  std::unique_ptr<gloo::Algorithm> countSum_;
  std::string transport_ = "gloo tcp 127.0.0.1";
  // Rings no longer used, kept until the runtime goes: Gloo's ibverbs buffers abort
  // when destroyed before its device thread reaped their last send completion.
  std::vector<std::unique_ptr<gloo::Algorithm>> retired_;
};

}  // namespace perf
