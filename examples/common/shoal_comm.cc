#include "common/shoal_comm.h"

#include <cstdio>
#include <cstdlib>
#include <exception>
#include <string>

namespace train {

void checkShoal(shoalResult_t r, shoalComm_t comm, const char* what) {
  if (r == shoalSuccess) return;
  throw ShoalError(std::string(what) + " failed: " + shoalGetErrorString(r) + ": " +
                   shoalGetLastError(comm));
}

bool launched() {
  for (const char* v : {"SHOAL_RANK", "OMPI_COMM_WORLD_RANK", "RANK", "SLURM_PROCID"}) {
    const char* s = getenv(v);
    if (s != nullptr && *s != 0) return true;
  }
  return false;
}

Comm::Comm() {
  if (launched()) {
    checkShoal(shoalCommInitFromEnv(&comm_), nullptr, "shoalCommInitFromEnv");
  } else {
    // Started by hand: a job of one rank that is its own rendezvous root.
    shoalUniqueId id;
    checkShoal(shoalGetUniqueId(&id), nullptr, "shoalGetUniqueId");
    checkShoal(shoalCommInitRank(&comm_, 1, id, 0), nullptr, "shoalCommInitRank(1 rank)");
  }
  checkShoal(shoalCommUserRank(comm_, &rank_), comm_, "shoalCommUserRank");
  checkShoal(shoalCommCount(comm_, &size_), comm_, "shoalCommCount");
}

Comm::~Comm() {
  if (comm_ == nullptr) return;
  if (std::uncaught_exceptions() > 0) {
    shoalCommAbort(comm_);
  } else if (shoalResult_t r = shoalCommDestroy(comm_); r != shoalSuccess) {
    fprintf(stderr, "rank %d: shoalCommDestroy failed: %s: %s\n", rank_, shoalGetErrorString(r),
            shoalGetLastError(nullptr));
  }
}

void Comm::allReduce(void* buf, size_t count, shoalDataType_t type, shoalRedOp_t op,
                     const char* what) {
  checkShoal(shoalAllReduce(buf, buf, count, type, op, comm_, nullptr), comm_, what);
}

void Comm::allGather(const void* send, void* recv, size_t count, shoalDataType_t type,
                     const char* what) {
  checkShoal(shoalAllGather(send, recv, count, type, comm_, nullptr), comm_, what);
}

void Comm::broadcast(void* buf, size_t count, shoalDataType_t type, int root, const char* what) {
  checkShoal(shoalBroadcast(buf, buf, count, type, root, comm_, nullptr), comm_, what);
}

}  // namespace train
