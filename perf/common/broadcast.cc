// nccl-tests' broadcast: the root's count elements reach every rank; bus
// bandwidth equals algorithm bandwidth.
#include "common/collective.h"

namespace perf {

namespace {

Layout layout(size_t bytes, size_t typeSize, int) {
  const size_t count = bytes / typeSize;
  return Layout{count, count, count, 0, 0};
}

double busFactor(int) { return 1.0; }

// Only the root's send buffer is read; the others get their own rank's
// values, which must not show up in any output.
void fillInput(void* send, const Layout& l, const Pattern& p, int rank, int) {
  perf::fillInput(send, l.sendCount, p, rank, 0);
}

bool fillExpected(void* expected, const Layout& l, const Pattern& p, int, int root) {
  perf::fillInput(expected, l.recvCount, p, root, 0);
  return true;
}

}  // namespace

Collective broadcastCollective(std::function<void(const Call&)> run) {
  return Collective{.name = "broadcast",
                    .usesOp = false,
                    .usesRoot = true,
                    .layout = layout,
                    .busFactor = busFactor,
                    .fillInput = fillInput,
                    .fillExpected = fillExpected,
                    .run = std::move(run)};
}

}  // namespace perf
