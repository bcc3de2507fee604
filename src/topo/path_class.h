// How far apart two PCI devices are, in the classes NCCL and `nvidia-smi topo
// -m` use. The order matters: a smaller class is a shorter path, and levels
// such as SHOAL_NET_GDR_LEVEL are compared with <=.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace shoal::topo {

enum class PathClass : int {
  kLoc = 0,   // the same device; as a level it means "never" for two devices
  kPix = 1,   // one PCIe switch (or a single bridge) between them
  kPxb = 2,   // several PCIe switches, but not the host bridge
  kPhb = 3,   // through a PCIe host bridge (the CPU's root complex)
  kNode = 4,  // across host bridges of the same NUMA node or socket
  kSys = 5,   // across the socket interconnect (UPI, Infinity Fabric, ...)
};

const char* pathClassName(PathClass c);  // "PIX", "SYS", ...
// Accepts the names above (any case). Returns false for anything else.
bool parsePathClass(const std::string& text, PathClass* out);

// Where a PCI device sits, reduced to what classification needs so that the
// rules below stay free of hwloc (and testable without it).
struct PciPlace {
  std::string busId;  // "0000:1b:00.0"
  // PCI-to-PCI bridges above the device, nearest first, as identifiers that
  // are unique within one topology (hwloc's gp_index).
  std::vector<uint64_t> bridges;
  uint64_t hostBridge = 0;     // identifier of its host bridge; 0 when none
  std::vector<int> localCpus;  // PUs (OS indexes) of the CPU-side object it hangs from
  std::vector<int> numaNodes;  // NUMA nodes (OS indexes) of that object
  int package = -1;            // OS index of the package holding it; -1 when unknown or several
};

// The class of the path between two PCI devices.
//
// A PCIe switch shows up in hwloc as two levels of bridges: its upstream port
// and one downstream port per slot. Devices behind the same switch therefore
// meet at the upstream port, one bridge above their own downstream ports. So
// bridges are taken in pairs from the device upwards (as NCCL does with sysfs
// paths): two devices are PIX when they meet within the first pair above each
// of them, PXB when they meet at a higher bridge below the host bridge.
PathClass classifyPci(const PciPlace& a, const PciPlace& b);

// The class between a set of CPUs and a PCI device: PHB when the device
// hangs from those CPUs' part of the machine, NODE when it is elsewhere on the
// same NUMA node or package, SYS otherwise. cpuNuma and cpuPackages describe
// the CPUs (OS indexes).
PathClass classifyCpu(const std::vector<int>& cpus, const std::vector<int>& cpuNuma,
                      const std::vector<int>& cpuPackages, const PciPlace& dev);

}  // namespace shoal::topo
