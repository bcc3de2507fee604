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

// The ranks of a recursive exchange (doubling or halving-doubling), which
// needs a power of two: p is the largest power of two <= n and rem = n - p.
// The first 2*rem ranks pair up; the even one of each pair hands its data to
// the odd one and sits the exchange out; the other p ranks take part under a
// virtual rank in [0, p).
struct PowerOfTwoFold {
  int p;
  int rem;
  explicit PowerOfTwoFold(int n);
  bool folded(int r) const { return r < 2 * rem; }  // one of a pair
  bool sitsOut(int r) const { return folded(r) && r % 2 == 0; }
  int virtualRank(int r) const { return folded(r) ? r / 2 : r - rem; }
  int realRank(int v) const { return v < rem ? 2 * v + 1 : v + rem; }
};

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
