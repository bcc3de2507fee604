// nccl-tests' reduce: every rank's count elements are reduced onto the root;
// bus bandwidth equals algorithm bandwidth.
#include "common/collective.h"

namespace perf {

namespace {

Layout layout(size_t bytes, size_t typeSize, int) {
  const size_t count = bytes / typeSize;
  return Layout{count, count, count, 0, 0};
}

double busFactor(int) { return 1.0; }

void fillInput(void* send, const Layout& l, const Pattern& p, int rank, int) {
  perf::fillInput(send, l.sendCount, p, rank, 0);
}

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
                    .layout = layout,
                    .busFactor = busFactor,
                    .fillInput = fillInput,
                    .fillExpected = fillExpected,
                    .run = std::move(run)};
}

}  // namespace perf
