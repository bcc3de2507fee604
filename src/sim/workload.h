// The schedules the simulator runs: produced by the same algorithm functions
// (algorithms::registry) from the same CollArgs a communicator builds, then
// reduced to what timing needs (kind, peer, bytes, dependencies) with peers
// written relative to the rank, so that ranks whose schedules differ only
// by where they sit share one template.
//
// At thousands of ranks generating every rank's schedule costs more than
// simulating it (each generator does O(n) setup per rank), so when the
// cluster has several nodes the workload first assumes that moving every
// rank by one node maps each schedule onto another (true of ring and hier
// for sizes that split evenly), generates one node's ranks, and checks the
// assumption against ranks generated on other nodes; any difference, and it
// generates every rank instead.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "core/schedule.h"

namespace shoal::sim {

// nodes x ranksPerNode, block placement: rank r lives on node r / ranksPerNode.
struct Cluster {
  int nodes = 1;
  int ranksPerNode = 1;
  int ranks() const { return nodes * ranksPerNode; }
};

constexpr uint16_t kLocal = 0xffff;

struct SimStep {
  StepKind kind;
  uint16_t chan = kLocal;  // index into Template::peers; kLocal for local steps
  uint64_t bytes = 0;
  int32_t dep[2] = {-1, -1};
};

struct Template {
  std::vector<SimStep> steps;
  std::vector<int> peers;  // (peer - rank) mod n, in order of first use
  // Per channel, the step indices of its sends and of its receives, in
  // schedule order (the executor's matching order).
  std::vector<std::vector<int32_t>> sendQ, recvQ;
  // Dependents of each step (CSR) and the initial number of unmet dependencies.
  std::vector<int32_t> depBegin, depList;
  std::vector<uint8_t> waiting0;
  bool operator==(const Template& o) const;
  // Same messages (kind, peer, bytes, order) and local steps; dependencies may differ.
  bool sameMessages(const Template& o) const;
};

struct WorkloadSpec {
  std::string algorithm;  // a registry name, e.g. "ring"
  CollKind kind = CollKind::kAllReduce;
  size_t count = 0;  // elements per rank (NCCL's count)
  shoalDataType_t dtype = shoalFloat32;
  shoalRedOp_t op = shoalSum;
  int root = 0;
  bool inPlace = false;
  // 0: generate every rank. 1: node-translation symmetry where it holds
  // exactly. 2: also where other nodes' schedules send and receive the same
  // messages and differ only in dependencies (hier at large sizes: each node
  // starts its cross-node ring on a different slice); node 0's dependencies
  // are used everywhere, an approximation the output names.
  int symmetry = 1;
  int threads = 0;  // generating every rank: threads to use (0: one per core)
  // With symmetry >= 1: when no exact symmetry holds and simulating every
  // rank would take more than this many steps (estimated from node 0's
  // schedules times the node count), every rank is neither generated nor
  // simulated: buildWorkload uses node 0's schedules where other nodes only
  // differ in dependencies (as symmetry 2), and otherwise returns a workload
  // marked overBudget, which predict() answers by extrapolating from smaller
  // counts. 0: no limit (always exact).
  uint64_t maxSteps = 0;
};

struct Workload {
  Cluster cluster;
  WorkloadSpec spec;
  size_t chunkBytes = 0;
  // Rank r runs templates[templateOf[r]] with its peers moved by r (see peerOf).
  std::vector<Template> templates;
  std::vector<int32_t> templateOf;
  // Smallest p such that templateOf[r] == templateOf[r % p] for every r
  // that is known to hold (n when no symmetry was used).
  int period = 0;
  // Exchange symmetry (recursive halving-doubling, recursive doubling): rank
  // r behaves as rank b = r % period with every peer XORed by r - b, the
  // template being b's own. Only used when n and period are powers of two.
  bool xorMap = false;
  int generated = 0;  // schedules the algorithm code produced
  bool exact = true;  // false: symmetry 2 approximated dependencies
  // Every rank would have to be generated and simulated, estimated at
  // estimatedSteps > spec.maxSteps: nothing was generated for all ranks.
  bool overBudget = false;
  uint64_t estimatedSteps = 0;
  std::string how;     // how the templates were obtained, for the output
  double seconds = 0;  // wall time spent generating
};

// The host identity each rank reports, as Bootstrap::hostId would on that cluster.
std::vector<std::string> hostIds(const Cluster& c);
// The CollArgs commCollective builds for `rank` (chunk from SHOAL_CHUNK_SIZE,
// rounded as the executor rounds its slots).
CollArgs collArgsFor(const WorkloadSpec& spec, int rank, int nranks,
                     const std::vector<std::string>& hosts);
size_t chunkBytesFromConfig();
int slotsFromConfig();

// Throws shoal::Error when the algorithm is unknown or does not apply.
Workload buildWorkload(const Cluster& c, const WorkloadSpec& spec);

// The rank that rank r talks to over channel c of its template.
inline int peerOf(const Workload& w, int r, size_t c) {
  const int n = w.cluster.ranks();
  const Template& t = w.templates[static_cast<size_t>(w.templateOf[static_cast<size_t>(r)])];
  if (!w.xorMap) return (r + t.peers[c]) % n;
  const int b = r % w.period;
  return ((b + t.peers[c]) % n) ^ (r - b);
}

// One rank's schedule in template form (exposed for tests).
Template toTemplate(const Schedule& s, int rank, int nranks);

}  // namespace shoal::sim
