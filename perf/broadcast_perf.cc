// nccl-tests' broadcast_perf over shoal's public C API, or over NCCL with
// --backend nccl (see common/backend.h).
#include "common/backend.h"

int main(int argc, char** argv) {
  return perf::backendMain("broadcast_perf", argc, argv, perf::broadcastCollective,
                           &perf::Backend::broadcast);
}
