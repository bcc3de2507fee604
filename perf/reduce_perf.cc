// nccl-tests' reduce_perf over shoal's public C API.
#include <memory>

#include "common/args.h"
#include "common/driver.h"
#include "common/shoal_runtime.h"

int main(int argc, char** argv) {
  perf::Options o;
  const int rc = perf::parseArgs(argc, argv, {"reduce_perf", true}, &o);
  if (rc >= 0) return rc;
  return perf::runMain(
      "reduce_perf", o, [&] { return std::make_unique<perf::ShoalRuntime>(o); },
      [](perf::Runtime& rt) {
        auto& shoal = static_cast<perf::ShoalRuntime&>(rt);
        return perf::reduceCollective([&shoal](const perf::Call& c) {
          shoal.check(
              shoalReduce(c.send, c.recv, c.count, c.type, c.op, c.root, shoal.comm(), nullptr),
              "shoalReduce");
        });
      });
}
