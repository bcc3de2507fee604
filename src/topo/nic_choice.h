// Which NIC a rank should use, and whether GPUDirect RDMA pays off for it.
//
// A local rank drives GPU (localRank mod GPUs). Its NICs are ordered by path
// class to that GPU, or, without GPUs, to the CPUs it runs on. Among the
// equally near NICs of the best class, local ranks are spread round-robin
// so that two GPUs behind one switch with two NICs use one NIC each.
//
// How the verbs transport uses it: when SHOAL_IB_HCA is empty it tries
// preferredNicsForThisProcess() in order (each as an exact device name) and
// takes the first with an active port; when none has one, or the list is
// empty (no hwloc, no NIC in the topology), it keeps its own rule, the first
// active port. SHOAL_IB_HCA, when set, always wins and the topology is not
// consulted.
#pragma once

#include <string>
#include <vector>

#include "topo/topology.h"

namespace shoal::topo {

// The GPU (index into topo.gpus) a local rank drives, -1 without GPUs.
int gpuForLocalRank(const Topology& topo, int localRank);

struct NicChoice {
  int gpu = -1;                    // as gpuForLocalRank
  std::vector<int> order;          // indexes into topo.nics, best first
  std::vector<PathClass> classes;  // path class of each entry of order
  std::string why;                 // how order[0] was picked, or why there is none
};

// rankCpus: the CPUs the rank runs on; empty means not bound (all CPUs).
NicChoice chooseNics(const Topology& topo, int localRank, const CpuList& rankCpus);

// Device names best first; empty when the topology is unavailable or has no
// NIC. Uses the process's current binding when topo describes this machine.
std::vector<std::string> preferredNics(const Topology& topo, int localRank);
// preferredNics(systemTopology(), localRankHint()): the call for transports.
std::vector<std::string> preferredNicsForThisProcess();

struct GdrChoice {
  bool use = false;
  PathClass path = PathClass::kSys;  // GPU–NIC path class, when both exist
  std::string why;
};

// GPUDirect RDMA is worth it when the GPU–NIC path class is at most level
// (SHOAL_NET_GDR_LEVEL, PXB by default as in NCCL): beyond that the PCIe
// peer traffic crosses the CPU and is slower than staging through host memory.
// gpu/nic are indexes (-1: none). Says nothing about driver support
// (nvidia-peermem), only about the path.
GdrChoice gdrChoice(const Topology& topo, int gpu, int nic, PathClass level);
// SHOAL_NET_GDR_LEVEL parsed; throws shoalInvalidArgument for an unknown name.
PathClass gdrLevelFromConfig();

}  // namespace shoal::topo
