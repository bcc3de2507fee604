// nccl-tests' all-reduce: every rank sends and receives `count` elements;
// each byte crosses 2(n-1)/n links in a bandwidth-optimal algorithm.
#include "common/collective.h"

namespace perf {

namespace {

Layout layout(size_t bytes, size_t typeSize, int) {
  const size_t count = bytes / typeSize;
  return Layout{count, count, count, 0, 0};
}

double busFactor(int n) { return n > 1 ? 2.0 * (n - 1) / n : 0.0; }

void fillInput(void* send, const Layout& l, const Pattern& p, int rank, int) {
  perf::fillInput(send, l.sendCount, p, rank, 0);
}

bool fillExpected(void* expected, const Layout& l, const Pattern& p, int, int) {
  fillReduced(expected, l.recvCount, p, 0);
  return true;
}

}  // namespace

Collective allReduceCollective(std::function<void(const Call&)> run) {
  return Collective{.name = "all_reduce",
                    .usesOp = true,
                    .usesRoot = false,
                    .layout = layout,
                    .busFactor = busFactor,
                    .fillInput = fillInput,
                    .fillExpected = fillExpected,
                    .run = std::move(run)};
}

}  // namespace perf
