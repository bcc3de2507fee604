// Optional binding of a rank to the CPUs near its device (SHOAL_BIND):
//   none  leave the process as the launcher placed it (default);
//   numa  the CPUs of the NUMA node(s) of the rank's GPU, else of its NIC;
//   core  one core there, the k-th for the k-th local rank sharing that node.
// A rank with neither GPU nor NIC is placed on NUMA node (localRank mod nodes).
// Applied once at communicator init, with hwloc_set_cpubind on the process.
#pragma once

#include <string>
#include <vector>

#include "topo/topology.h"

namespace shoal::topo {

enum class BindMode { kNone, kNuma, kCore };

const char* bindModeName(BindMode mode);
bool parseBindMode(const std::string& text, BindMode* out);
// SHOAL_BIND parsed; throws shoalInvalidArgument for an unknown value.
BindMode bindModeFromConfig();

struct BindPlan {
  BindMode mode = BindMode::kNone;
  CpuList cpus;  // empty: leave the binding as it is
  std::string why;
};

BindPlan planBinding(const Topology& topo, int localRank, BindMode mode);

// Binds this process to plan.cpus. Throws shoalSystemError with hwloc's
// errno when the system refuses, shoalInvalidUsage when topo is not this
// machine (an XML topology cannot bind anything). rank (>= 0) prefixes errors.
void applyBinding(const Topology& topo, const BindPlan& plan, int rank = -1);

// Called by commCreate once the host of every rank is known: remembers this
// rank's local rank for the transports created next on this thread, and binds
// per SHOAL_BIND. Throws on a bad SHOAL_BIND / SHOAL_NET_GDR_LEVEL or a
// failed binding; only warns when there is nothing to bind near or the
// topology is not this machine's (SHOAL_TOPO_FILE).
void onCommInit(const std::vector<std::string>& hosts, int rank);

// The local rank of the communicator being created on this thread, else
// SHOAL_LOCAL_RANK, else 0.
int localRankHint();

}  // namespace shoal::topo
