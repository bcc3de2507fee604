// nccl-tests' all_gather_perf over shoal's public C API, or over NCCL with
// --backend nccl (see common/backend.h).
#include "common/backend.h"

int main(int argc, char** argv) {
  return perf::backendMain("all_gather_perf", argc, argv, perf::allGatherCollective,
                           &perf::Backend::allGather);
}
