// Virtual-time discrete-event execution of a Workload on a cluster Profile,
// with the executor's rules: a step starts when its dependencies are done;
// sends to one peer leave in schedule order and each needs one of `slots`
// credits, which come back once the receiver has consumed the message; the
// i-th send from a to b is the i-th receive for a in b's schedule and is
// consumed in that order; a send completes when the write's completion
// comes back. What it costs is in profile.h.
//
// When the workload repeats every `period` ranks and so does the cluster
// (one node, or one leaf switch when the spine is modelled), rank r and
// rank r + period see the same events at the same times, so only one period
// of ranks is simulated, their peers folded onto it; the result is the same
// as simulating every rank.
#pragma once

#include <cstdint>
#include <vector>

#include "sim/profile.h"
#include "sim/workload.h"

namespace shoal::sim {

struct RunResult {
  double seconds = 0;  // virtual time until the last step of the last rank
  // Per rank (all n): messages and bytes sent and received.
  std::vector<uint64_t> sentMsgs, sentBytes, recvMsgs, recvBytes;
  int simulatedRanks = 0;
  uint64_t events = 0;
  double wallSeconds = 0;
};

struct EngineOptions {
  int slots = 4;
  bool fold = true;  // simulate one period of ranks when the symmetry allows
};

// Throws shoal::Error on a deadlock (steps left, nothing to do) or a
// mismatched message.
RunResult simulate(const Workload& w, const Profile& p, const EngineOptions& o);

}  // namespace shoal::sim
