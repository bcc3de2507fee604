// What this node looks like to shoal: CPUs (packages, NUMA nodes, cores), the
// GPUs and RDMA NICs on its PCI buses, and the path class of every GPU–NIC
// pair. Detected with hwloc (I/O discovery on), or read from an hwloc XML
// file (SHOAL_TOPO_FILE). Built without hwloc, a topology is "unavailable"
// and every choice made from it falls back to the transports' defaults.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "topo/path_class.h"

namespace shoal::topo {

using CpuList = std::vector<int>;  // sorted OS indexes of PUs (hardware threads)

struct NumaNode {
  int osIndex = -1;
  int package = -1;  // OS index of its package, -1 when unknown
  CpuList cpus;
};

struct Core {
  CpuList pus;
};

struct Gpu {
  // CUDA's index when hwloc reports a cudaN (or nvmlN) device for it, else the
  // position in PCI bus order (nvidia-smi's order, CUDA_DEVICE_ORDER=PCI_BUS_ID).
  int index = -1;
  std::string name;  // "cuda0", "nvml0", or the bus id when hwloc names none
  unsigned vendor = 0, device = 0;
  PciPlace pci;
};

// An RDMA-capable NIC: a PCI device with an OpenFabrics device under it.
struct Nic {
  std::string name;                  // the verbs device name, "mlx5_0"
  std::string link;                  // "InfiniBand" or "Ethernet" (RoCE), from the PCI class
  std::vector<std::string> netdevs;  // network interfaces of the same PCI device ("ib0")
  PciPlace pci;
};

struct Topology {
  bool available = false;
  std::string why;          // why not, when unavailable
  std::string source;       // "this machine" or the XML file it came from
  bool thisSystem = false;  // whether binding and the current binding can be used
  std::string hostName;
  // The node's identity as hwloc sees it: host name plus DMI product UUID
  // when hwloc reports one (it does for root).
  std::string machineId;
  int packages = 0;
  std::vector<NumaNode> numa;  // in OS index order
  std::vector<Core> cores;     // in hwloc's logical order
  CpuList pus;                 // every PU this process may use
  std::vector<Gpu> gpus;       // by index
  std::vector<Nic> nics;       // in PCI bus order
  // gpuNic[g][n]: path class between gpus[g] and nics[n].
  std::vector<std::vector<PathClass>> gpuNic;
  // The hwloc topology (hwloc_topology_t) behind this, for binding; null when
  // unavailable.
  std::shared_ptr<void> handle;

  // NUMA nodes and packages (OS indexes, sorted) that hold any of these CPUs.
  std::vector<int> numaOf(const CpuList& cpus) const;
  std::vector<int> packagesOf(const CpuList& cpus) const;
};

// Detects this machine (xmlFile empty) or loads an hwloc XML file, then
// writes the result as hwloc XML to dumpFile when that is not empty. Throws
// shoal::Error naming the file and hwloc's error when a file cannot be read
// or written. Built without hwloc it returns an unavailable topology.
Topology loadTopology(const std::string& xmlFile, const std::string& dumpFile);

// The process's topology from SHOAL_TOPO_FILE / SHOAL_TOPO_DUMP_FILE, loaded
// once. Never throws: a failure is logged and gives an unavailable topology
// whose `why` says what went wrong.
const Topology& systemTopology();

// The CPUs this process is currently bound to, when topo describes this
// machine; empty otherwise (or when hwloc cannot tell).
CpuList currentBinding(const Topology& topo);

// "0-3,8,10-11" for messages and shoal-info.
std::string cpuListString(const CpuList& cpus);

}  // namespace shoal::topo
