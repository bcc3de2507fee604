// nccl-tests' broadcast: the root's count elements reach every rank; bus
// bandwidth equals algorithm bandwidth.
#include "common/collective.h"

namespace perf {

namespace {

double busFactor(int) { return 1.0; }

// Every rank's send buffer holds its own values (fillOwnInput), but only the
// root's is read: the others' must not show up in any output.
bool fillExpected(void* expected, const Layout& l, const Pattern& p, int, int root) {
  perf::fillInput(expected, l.recvCount, p, root, 0);
  return true;
}

}  // namespace

Collective broadcastCollective(std::function<void(const Call&)> run) {
  return Collective{.name = "broadcast",
                    .usesRoot = true,
                    .layout = sameCountLayout,
                    .busFactor = busFactor,
                    .fillExpected = fillExpected,
                    .run = std::move(run)};
}

}  // namespace perf
