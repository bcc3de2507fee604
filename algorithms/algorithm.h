// Algorithm entry points. Each algorithm is one file that turns CollArgs into
// a Schedule, using only the schedule vocabulary (src/core/schedule.h).
#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include "core/schedule.h"

namespace shoal::algorithms {

// Element ranges of a count split into n near-equal segments (the first
// count % n segments get one element more).
struct Segment {
  size_t offset;  // elements
  size_t count;
};
std::vector<Segment> splitEven(size_t count, int n);

// Appends Step objects that move `bytes` starting at the given offsets in
// messages of at most chunkBytes; helpers shared by the algorithms.
size_t chunksFor(size_t bytes, size_t chunkBytes);

Schedule ringAllReduce(const CollArgs& args);
Schedule treeAllReduce(const CollArgs& args);
Schedule rhdAllReduce(const CollArgs& args);
Schedule rdAllReduce(const CollArgs& args);
Schedule hierAllReduce(const CollArgs& args);
bool hierApplies(const CollArgs& args);  // more than one node, and a node with several ranks
Schedule ringReduceScatter(const CollArgs& args);
Schedule ringAllGather(const CollArgs& args);
Schedule ringBroadcast(const CollArgs& args);
Schedule treeBroadcast(const CollArgs& args);
Schedule ringReduce(const CollArgs& args);
Schedule treeReduce(const CollArgs& args);
Schedule disseminationBarrier(const CollArgs& args);

// Every algorithm, by collective. `plan` builds the schedule; `applies` says
// whether it can serve these arguments (null: always).
struct AlgorithmInfo {
  CollKind kind;
  const char* name;
  Schedule (*plan)(const CollArgs&);
  bool (*applies)(const CollArgs&);
};
const std::vector<AlgorithmInfo>& registry();
const AlgorithmInfo* findAlgorithm(CollKind kind, const std::string& name);

}  // namespace shoal::algorithms
