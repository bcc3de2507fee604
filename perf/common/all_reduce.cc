// nccl-tests' all-reduce: every rank sends and receives `count` elements;
// each byte crosses 2(n-1)/n links in a bandwidth-optimal algorithm.
#include "common/collective.h"

namespace perf {

namespace {

double busFactor(int n) { return n > 1 ? 2.0 * (n - 1) / n : 0.0; }

bool fillExpected(void* expected, const Layout& l, const Pattern& p, int, int) {
  fillReduced(expected, l.recvCount, p, 0);
  return true;
}

}  // namespace

Collective allReduceCollective(std::function<void(const Call&)> run) {
  return Collective{.name = "all_reduce",
                    .usesOp = true,
                    .layout = sameCountLayout,
                    .busFactor = busFactor,
                    .fillExpected = fillExpected,
                    .run = std::move(run)};
}

}  // namespace perf
