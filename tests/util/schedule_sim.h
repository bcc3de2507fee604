// Runs the schedules of all ranks of a collective inside one process, with
// the executor's rules: the i-th Send from a to b meets the i-th Recv* for a
// in b's schedule; sends to a peer leave in schedule order and need one of
// `slots` credits, returned once the receiver has consumed the message;
// receives from a peer are consumed in schedule order; steps wait for their
// dependencies. Every choice of what happens next is drawn at random, and a
// Send reads its source at a random moment before it completes, so a
// schedule that overwrites memory a send still reads, reads data before it
// is written, or relies on one interleaving gets caught. Reports deadlocks
// (steps left, nothing can move), mismatched messages, out-of-bounds
// accesses and messages over the chunk size.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "core/schedule.h"

namespace shoal::test {

struct SimBuffers {
  const void* send = nullptr;  // may alias recv, as in place calls do
  size_t sendBytes = 0;
  void* recv = nullptr;
  size_t recvBytes = 0;
};

struct SimOptions {
  shoalDataType_t dtype = shoalInt32;
  shoalRedOp_t op = shoalSum;
  size_t chunkBytes = 0;  // largest message allowed (0: no limit)
  int slots = 4;
  uint64_t seed = 1;
};

struct SimResult {
  std::string error;  // empty on success
  // Per rank, the set of ranks (bit r) whose steps causally precede some
  // step of this rank: a barrier needs every bit on every rank.
  std::vector<uint64_t> heardFrom;
  size_t messages = 0;
};

// Scratch is allocated per rank from Schedule::scratchBytes, filled with junk.
SimResult simulate(const std::vector<Schedule>& schedules, const std::vector<SimBuffers>& buffers,
                   const SimOptions& options);

}  // namespace shoal::test
