// nccl-tests' reduce_perf over shoal's public C API, or over NCCL with
// --backend nccl (see common/backend.h).
#include "common/backend.h"

int main(int argc, char** argv) {
  return perf::backendMain("reduce_perf", argc, argv, perf::reduceCollective,
                           &perf::Backend::reduce);
}
