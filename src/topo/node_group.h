// Grouping ranks into nodes, for hierarchical algorithms.
#pragma once

#include <string>
#include <vector>

#include "topo/topology.h"

namespace shoal::topo {

// The identity of this node: SHOAL_HOST_ID when set (tests fake nodes with
// it), else the topology's machine identity (host name plus DMI product UUID
// when hwloc has it), else the host name from gethostname.
std::string nodeKey(const Topology& topo);

// For keys[r] = the node key (or bootstrap host id) of rank r: the node
// number of each rank, nodes numbered in order of their lowest rank.
std::vector<int> nodeOfRanks(const std::vector<std::string>& keys);
// The ranks of each node, ascending, nodes in the same order.
std::vector<std::vector<int>> ranksByNode(const std::vector<std::string>& keys);
// Each rank's position among the ranks of its node.
std::vector<int> localRanks(const std::vector<std::string>& keys);

}  // namespace shoal::topo
