// One prediction: build the workload with the algorithm code, run it on the
// model, and say what the tuner would have picked for the same arguments.
#pragma once

#include <string>

#include "core/tuner.h"
#include "sim/engine.h"
#include "sim/profile.h"
#include "sim/workload.h"

namespace shoal::sim {

struct Prediction {
  double seconds = 0;
  double algBw = 0;  // GB/s
  double busBw = 0;  // GB/s
  RunResult run;
  std::string how;  // how the schedules were obtained
  double genSeconds = 0;
  int generated = 0;  // schedules the algorithm code produced
  bool exact = true;  // false: approximated dependencies (WorkloadSpec::symmetry 2)
};

// nccl-tests' bus bandwidth factor for a collective over n ranks.
double busFactor(CollKind kind, int n);
// Bytes nccl-tests reports for a collective of `count` elements.
size_t reportedBytes(CollKind kind, size_t count, shoalDataType_t dtype, int n);

Prediction predict(const Cluster& c, const WorkloadSpec& spec, const Profile& p,
                   const EngineOptions& o);

// The tuner's parameters for a profile: each link's alpha is its latency plus
// the software cost of one step, beta its payload bandwidth, gamma the
// reduction bandwidth. What the simulator suggests as defaults for that kind
// of cluster.
TuningParams tuningFromProfile(const Profile& p);
// The algorithm tunerChoose would pick on this cluster with these parameters.
std::string tunerPick(const Cluster& c, const WorkloadSpec& spec, const TuningParams& params);

}  // namespace shoal::sim
