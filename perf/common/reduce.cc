// nccl-tests' reduce: every rank's count elements are reduced onto the root;
// bus bandwidth equals algorithm bandwidth.
#include "common/collective.h"

namespace perf {

namespace {

double busFactor(int) { return 1.0; }

// Only the root's receive buffer is defined.
bool fillExpected(void* expected, const Layout& l, const Pattern& p, int rank, int root) {
  if (rank != root) return false;
  fillReduced(expected, l.recvCount, p, 0);
  return true;
}

}  // namespace

Collective reduceCollective(std::function<void(const Call&)> run) {
  return Collective{.name = "reduce",
                    .usesOp = true,
                    .usesRoot = true,
                    .layout = sameCountLayout,
                    .busFactor = busFactor,
                    .fillExpected = fillExpected,
                    .run = std::move(run)};
}

}  // namespace perf
