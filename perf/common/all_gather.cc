// nccl-tests' all_gather: each rank sends count elements and receives
// nranks * count; each byte crosses (n-1)/n links.
#include "common/collective.h"
#include "common/datatypes.h"

namespace perf {

namespace {

Layout layout(size_t bytes, size_t typeSize, int n) {
  const size_t count = bytes / typeSize / static_cast<size_t>(n);
  return Layout{count, count * n, count, count, 0};
}

double busFactor(int n) { return static_cast<double>(n - 1) / n; }

// Rank r's block carries the global indexes of its place in the result, so
// every block of the output is distinct.
void fillInput(void* send, const Layout& l, const Pattern& p, int rank, int) {
  perf::fillInput(send, l.sendCount, p, rank, static_cast<size_t>(rank) * l.sendCount);
}

bool fillExpected(void* expected, const Layout& l, const Pattern& p, int, int) {
  char* out = static_cast<char*>(expected);
  const size_t blockBytes = l.sendCount * typeSize(p.type);
  for (int r = 0; r < p.nranks; ++r) {
    perf::fillInput(out + static_cast<size_t>(r) * blockBytes, l.sendCount, p, r,
                    static_cast<size_t>(r) * l.sendCount);
  }
  return true;
}

}  // namespace

Collective allGatherCollective(std::function<void(const Call&)> run) {
  return Collective{.name = "all_gather",
                    .layout = layout,
                    .busFactor = busFactor,
                    .fillInput = fillInput,
                    .fillExpected = fillExpected,
                    .run = std::move(run)};
}

}  // namespace perf
