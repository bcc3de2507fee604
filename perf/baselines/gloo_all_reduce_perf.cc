// all_reduce_perf over gloo::AllreduceRing (TCP on loopback): the Gloo
// baseline, same output.
#include <memory>

#include "baselines/gloo_runtime.h"
#include "common/args.h"
#include "common/driver.h"

int main(int argc, char** argv) {
  perf::Options o;
  const int rc = perf::parseArgs(argc, argv, {"gloo_all_reduce_perf", false}, &o);
  if (rc >= 0) return rc;
  return perf::runMain(
      "gloo_all_reduce_perf", o, [] { return std::make_unique<perf::GlooRuntime>(); },
      [](perf::Runtime& rt) {
        auto& gloo = static_cast<perf::GlooRuntime&>(rt);
        return perf::allReduceCollective([&gloo](const perf::Call& c) { gloo.allReduce(c); });
      });
}
