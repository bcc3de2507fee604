// The text `shoal-info --topo` prints: the node, its GPUs and NICs, the
// GPU x NIC path-class matrix, and what each local rank would choose (NIC,
// GPUDirect RDMA, binding) under the current SHOAL_* settings.
#pragma once

#include <string>

#include "topo/topology.h"

namespace shoal::topo {

// localRanks <= 0: SHOAL_LOCAL_SIZE when set, else one per GPU (at least one).
std::string describe(const Topology& topo, int localRanks = 0);

}  // namespace shoal::topo
