// Automatic algorithm choice: an alpha-beta cost model per algorithm,
//   time = messages * alpha + bytes on the critical path * beta
//          + bytes reduced * gamma,
// with alpha (per-message latency) and beta (seconds per byte) for the
// communicator's transport, separately for links inside a node and between
// nodes, and gamma from the reduction kernels. The parameters start from
// per-transport defaults, are refined by a local measurement (memory copy
// and reduction throughput, SHOAL_TUNING_MEASURE) and by SHOAL_TUNING_FILE,
// and are then agreed over the bootstrap (each the maximum over the ranks),
// so that every rank decides from the same numbers and picks the same
// algorithm. That happens at the first collective that needs an automatic
// choice, which every rank reaches in the same order.
//
// SHOAL_TUNING_FILE: text, one setting per line, '#' starts a comment:
//   link <transport> <intra|inter> <alpha_us> <bandwidth_GBps>
//   reduce <GBps>                          reduction throughput (input bytes)
//   scale <collective>:<algorithm> <factor> multiplies that prediction
//   nics <per_node>                        links out of a node (0: one per rank)
// e.g. "link verbs inter 2.5 11.5". Values absent from the file keep their
// defaults (or measured values).
#pragma once

#include <map>
#include <memory>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "algorithms/algorithm.h"
#include "core/schedule.h"

struct shoalComm;

namespace shoal {

struct LinkCost {
  double alpha = 0;  // seconds per message
  double beta = 0;   // seconds per byte
};

struct TuningParams {
  LinkCost intra;                       // between ranks on one host
  LinkCost inter;                       // between hosts
  double gamma = 0;                     // seconds per byte reduced
  std::map<std::string, double> scale;  // "allreduce:tree" -> factor
  // Multiplies the double tree's allreduce prediction when each half is at
  // most two messages and there are more than two ranks (see defaultTuning).
  double treeShort = 1.0;
  // Multiplies it when each half is at least eight messages and there are
  // more than two ranks; agree() sets it for shm only where a node's ranks
  // outnumber its cores (see there).
  double treeLong = 1.0;
  // Multiplies it at exactly two ranks from 64 messages per half (see
  // defaultTuning).
  double treePair = 1.0;
  // Links out of a node that its ranks' traffic spreads over (NICs per
  // node); 0: one per rank. hier's cross-node phase runs one ring per local
  // rank, so it is limited by min(this, ranks per node) links, not by one.
  int nicsPerNode = 1;
};

// Defaults for a transport ("shm", "ucx", "verbs"; others get network-like ones).
TuningParams defaultTuning(const std::string& transport);
// Applies a tuning file's text for `transport`; throws shoal::Error naming
// the line on a syntax error.
void parseTuningText(const std::string& text, const std::string& transport,
                     const std::string& origin, TuningParams* params);

// Predicted seconds of algorithm `name` for these arguments, or a negative
// value when there is no model for it.
double predictSeconds(const CollArgs& args, const std::string& name, const TuningParams& params);

// The applicable algorithm with the lowest prediction (registry order breaks
// ties; algorithms without a model only as the fallback); null when none
// applies. Appends "name time;" per algorithm to table when given.
const algorithms::AlgorithmInfo* pickByModel(const CollArgs& args, const TuningParams& params,
                                             std::string* table);

// The algorithm to run when SHOAL_ALGO does not force one: the applicable
// one with the lowest prediction (registry order breaks ties).
const algorithms::AlgorithmInfo& tunerChoose(shoalComm* comm, const CollArgs& args);

// Agrees on the model's parameters across ranks (collective). Called when
// the communicator is built, so no collective ever waits in it: a call that
// shoalCommAbort must be able to end has only the executor's waits.
void tunerAgree(shoalComm* comm);

// Per-communicator state (shoalComm::tuner).
struct TunerState {
  bool agreed = false;
  TuningParams params;
  std::map<std::pair<int, size_t>, const algorithms::AlgorithmInfo*> choices;
};

}  // namespace shoal
