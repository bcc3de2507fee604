// What distinguishes one collective benchmark from another: buffer layout
// for a given size, the bus-bandwidth factor, the expected data, and the call
// itself. Each *_perf.cc fills one Collective.
#pragma once

#include <cstddef>
#include <functional>

#include "common/check_data.h"
#include "shoal/shoal.h"

namespace perf {

// Element counts for one size, as nccl-tests lays them out.
struct Layout {
  size_t sendCount;  // elements in this rank's send buffer
  size_t recvCount;  // elements in this rank's receive buffer
  size_t callCount;  // the count argument of the call
  // In place, both pointers point into the receive buffer: send at
  // rank * sendInplaceOffset elements, receive at rank * recvInplaceOffset.
  size_t sendInplaceOffset;
  size_t recvInplaceOffset;
};

struct Call {
  const void* send;
  void* recv;
  size_t count;
  shoalDataType_t type;
  shoalRedOp_t op;
  int root;
  void* stream;  // a cudaStream_t with device buffers (-g 1), else nullptr
};

// Every rank contributes its own values from index 0 (all but all_gather).
void fillOwnInput(void* send, const Layout& l, const Pattern& p, int rank, int root);
// One count for send, receive and call (all_reduce, broadcast, reduce).
Layout sameCountLayout(size_t bytes, size_t typeSize, int nranks);

// The defaults are what most collectives have, so that each one spells out
// only what sets it apart.
struct Collective {
  const char* name;       // "all_reduce"
  bool usesOp = false;    // otherwise -o is ignored and the redop column says "none"
  bool usesRoot = false;  // otherwise the root column says -1
  Layout (*layout)(size_t bytes, size_t typeSize, int nranks);
  double (*busFactor)(int nranks);  // busbw = algbw * busFactor
  // This rank's input: sendCount elements.
  void (*fillInput)(void* send, const Layout& l, const Pattern& p, int rank,
                    int root) = fillOwnInput;
  // The expected receive buffer (recvCount elements); false when this rank's
  // output is not defined (e.g. a reduce's non-root ranks).
  bool (*fillExpected)(void* expected, const Layout& l, const Pattern& p, int rank, int root);
  // Runs one operation; throws RuntimeError on failure.
  std::function<void(const Call&)> run;
};

// Layouts and data of nccl-tests' benchmarks, shared by shoal and the
// baselines; `run` performs one call.
Collective allReduceCollective(std::function<void(const Call&)> run);
Collective reduceScatterCollective(std::function<void(const Call&)> run);
Collective allGatherCollective(std::function<void(const Call&)> run);
Collective broadcastCollective(std::function<void(const Call&)> run);
Collective reduceCollective(std::function<void(const Call&)> run);

}  // namespace perf
