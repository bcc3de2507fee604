// nccl-tests' reduce_scatter: each rank sends nranks * count elements and
// receives its reduced block of count; each byte crosses (n-1)/n links.
#include "common/collective.h"

namespace perf {

namespace {

Layout layout(size_t bytes, size_t typeSize, int n) {
  const size_t count = bytes / typeSize / static_cast<size_t>(n);
  return Layout{count * n, count, count, 0, count};
}

double busFactor(int n) { return static_cast<double>(n - 1) / n; }

bool fillExpected(void* expected, const Layout& l, const Pattern& p, int rank, int) {
  fillReduced(expected, l.recvCount, p, static_cast<size_t>(rank) * l.recvCount);
  return true;
}

}  // namespace

Collective reduceScatterCollective(std::function<void(const Call&)> run) {
  return Collective{.name = "reduce_scatter",
                    .usesOp = true,
                    .layout = layout,
                    .busFactor = busFactor,
                    .fillExpected = fillExpected,
                    .run = std::move(run)};
}

}  // namespace perf
