#include "common/backend.h"

#include <cstdio>
#include <memory>

#include "common/args.h"
#include "common/device_memory.h"
#include "common/driver.h"
#include "common/nccl_runtime.h"
#include "common/shoal_runtime.h"

namespace perf {

int backendMain(const char* program, int argc, char** argv, MakeCollective make, BackendCall call) {
  Options o;
  const int rc = parseArgs(argc, argv, {program, true, true}, &o);
  if (rc >= 0) return rc;
  // Loaded before anything else: without it there is nothing to compare.
  std::shared_ptr<const NcclApi> nccl;
  if (o.backend == Library::kNccl) {
    try {
      nccl = NcclApi::load();
    } catch (const std::exception& e) {
      fprintf(stderr, "%s: --backend nccl: %s\n", program, e.what());
      return 2;
    }
  }
  return runMain(
      program, o,
      [&]() -> std::unique_ptr<Memory> {
        if (o.gpus > 0) return std::make_unique<DeviceMemory>();
        return std::make_unique<HostMemory>();
      },
      [&]() -> std::unique_ptr<Runtime> {
        if (nccl) return std::make_unique<NcclRuntime>(o, nccl);
        return std::make_unique<ShoalRuntime>(o);
      },
      [&](Runtime& rt) {
        auto& b = static_cast<Backend&>(rt);
        return make([&b, call](const Call& c) { (b.*call)(c); });
      });
}

}  // namespace perf
