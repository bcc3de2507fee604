#include "topo/path_class.h"

#include <strings.h>

#include <algorithm>

namespace shoal::topo {

namespace {

const char* const kNames[] = {"LOC", "PIX", "PXB", "PHB", "NODE", "SYS"};

bool intersects(const std::vector<int>& a, const std::vector<int>& b) {
  for (int x : a) {
    if (std::find(b.begin(), b.end(), x) != b.end()) return true;
  }
  return false;
}

}  // namespace

const char* pathClassName(PathClass c) {
  int i = static_cast<int>(c);
  return i >= 0 && i < 6 ? kNames[i] : "?";
}

bool parsePathClass(const std::string& text, PathClass* out) {
  for (int i = 0; i < 6; ++i) {
    if (strcasecmp(text.c_str(), kNames[i]) == 0) {
      *out = static_cast<PathClass>(i);
      return true;
    }
  }
  return false;
}

PathClass classifyPci(const PciPlace& a, const PciPlace& b) {
  if (a.hostBridge != 0 && a.hostBridge == b.hostBridge) {
    for (size_t i = 0; i < a.bridges.size(); ++i) {
      auto it = std::find(b.bridges.begin(), b.bridges.end(), a.bridges[i]);
      if (it == b.bridges.end()) continue;
      size_t j = static_cast<size_t>(it - b.bridges.begin());
      // Index 0 is the bridge right above the device (a switch's downstream
      // port), index 1 the one above that (the same switch's upstream port).
      return i < 2 && j < 2 ? PathClass::kPix : PathClass::kPxb;
    }
    return PathClass::kPhb;
  }
  bool sameNuma = intersects(a.numaNodes, b.numaNodes);
  bool samePackage = a.package >= 0 && a.package == b.package;
  return sameNuma || samePackage ? PathClass::kNode : PathClass::kSys;
}

PathClass classifyCpu(const std::vector<int>& cpus, const std::vector<int>& cpuNuma,
                      const std::vector<int>& cpuPackages, const PciPlace& dev) {
  if (intersects(cpus, dev.localCpus)) return PathClass::kPhb;
  if (intersects(cpuNuma, dev.numaNodes)) return PathClass::kNode;
  if (dev.package >= 0 && cpuPackages.size() == 1 && cpuPackages[0] == dev.package)
    return PathClass::kNode;
  return PathClass::kSys;
}

}  // namespace shoal::topo
