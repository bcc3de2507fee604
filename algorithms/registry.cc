#include "algorithms/algorithm.h"

namespace shoal {

namespace algorithms {

const std::vector<AlgorithmInfo>& registry() {
  // Order matters only as the fallback when the tuner has no model for a
  // collective: the first applicable entry wins.
  static const std::vector<AlgorithmInfo> table = {
      {CollKind::kAllReduce, "ring", ringAllReduce, nullptr},
      {CollKind::kAllReduce, "tree", treeAllReduce, nullptr},
      {CollKind::kAllReduce, "rhd", rhdAllReduce, nullptr},
      {CollKind::kAllReduce, "rd", rdAllReduce, nullptr},
      {CollKind::kAllReduce, "hier", hierAllReduce, hierApplies},
      {CollKind::kReduceScatter, "ring", ringReduceScatter, nullptr},
      {CollKind::kAllGather, "ring", ringAllGather, nullptr},
      {CollKind::kBroadcast, "ring", ringBroadcast, nullptr},
      {CollKind::kBroadcast, "tree", treeBroadcast, nullptr},
      {CollKind::kReduce, "ring", ringReduce, nullptr},
      {CollKind::kReduce, "tree", treeReduce, nullptr},
      {CollKind::kBarrier, "dissemination", disseminationBarrier, nullptr},
  };
  return table;
}

const AlgorithmInfo* findAlgorithm(CollKind kind, const std::string& name) {
  for (const auto& a : registry()) {
    if (a.kind == kind && name == a.name) return &a;
  }
  return nullptr;
}

}  // namespace algorithms
}  // namespace shoal
