// Runtime over MPI (Open MPI from Debian), for the baseline binaries.
#pragma once

#include <mpi.h>

#include <string>

#include "common/runtime.h"

namespace perf {

class MpiRuntime : public Runtime {
 public:
  MpiRuntime(int* argc, char*** argv);
  ~MpiRuntime() override;

  // MPI's datatype and op for (t, op); avg maps to MPI_SUM (the caller divides).
  static MPI_Datatype datatype(shoalDataType_t t);
  static MPI_Op mpiOp(shoalRedOp_t op);
  // Throws RuntimeError naming what failed and MPI's message unless err is
  // MPI_SUCCESS (runMain adds the rank).
  void check(int err, const char* what) const;

  int rank() const override { return rank_; }
  int size() const override { return size_; }
  std::string library() const override;
  std::string transport() const override;
  std::string unsupported(shoalDataType_t t, shoalRedOp_t op) const override;
  double reduceTime(double seconds, bool max) override;
  long long sumOverRanks(long long v) override;
  void sumBytes(unsigned char* buf, size_t n) override;
  void barrier() override;
  void abort() override;

 private:
  int rank_ = 0;
  int size_ = 1;
};

}  // namespace perf
