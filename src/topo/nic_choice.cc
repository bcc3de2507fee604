#include "topo/nic_choice.h"

#include <algorithm>

#include "core/config.h"
#include "core/error.h"
#include "core/log.h"
#include "topo/binding.h"

namespace shoal::topo {

namespace {

// Indexes of the NICs at the smallest class for a GPU.
std::vector<int> bestNicsForGpu(const Topology& topo, int gpu) {
  std::vector<int> best;
  PathClass min = PathClass::kSys;
  for (size_t n = 0; n < topo.nics.size(); ++n) min = std::min(min, topo.gpuNic[gpu][n]);
  for (size_t n = 0; n < topo.nics.size(); ++n) {
    if (topo.gpuNic[gpu][n] == min) best.push_back(static_cast<int>(n));
  }
  return best;
}

std::string gpuLabel(const Topology& topo, int gpu) {
  const Gpu& g = topo.gpus[gpu];
  if (g.name == g.pci.busId) return strprintf("GPU %d (%s)", g.index, g.name.c_str());
  return strprintf("GPU %d (%s, %s)", g.index, g.name.c_str(), g.pci.busId.c_str());
}

}  // namespace

int gpuForLocalRank(const Topology& topo, int localRank) {
  if (topo.gpus.empty() || localRank < 0) return -1;
  return localRank % static_cast<int>(topo.gpus.size());
}

NicChoice chooseNics(const Topology& topo, int localRank, const CpuList& rankCpus) {
  NicChoice c;
  if (!topo.available) {
    c.why = topo.why;
    return c;
  }
  c.gpu = gpuForLocalRank(topo, localRank);
  if (topo.nics.empty()) {
    c.why = "no RDMA NIC found in the topology (none found)";
    return c;
  }
  std::vector<PathClass> cls(topo.nics.size());
  const CpuList& cpus = rankCpus.empty() ? topo.pus : rankCpus;
  if (c.gpu >= 0) {
    for (size_t n = 0; n < cls.size(); ++n) cls[n] = topo.gpuNic[c.gpu][n];
  } else {
    std::vector<int> numa = topo.numaOf(cpus), pkgs = topo.packagesOf(cpus);
    for (size_t n = 0; n < cls.size(); ++n)
      cls[n] = classifyCpu(cpus, numa, pkgs, topo.nics[n].pci);
  }
  std::vector<int> order(topo.nics.size());
  for (size_t n = 0; n < order.size(); ++n) order[n] = static_cast<int>(n);
  std::stable_sort(order.begin(), order.end(), [&](int a, int b) { return cls[a] < cls[b]; });
  size_t ties = 1;
  while (ties < order.size() && cls[order[ties]] == cls[order[0]]) ++ties;

  // Spread local ranks over equally near NICs: this rank's position among
  // the lower local ranks that see the same best set.
  size_t spread = 0;
  if (ties > 1) {
    if (c.gpu >= 0) {
      std::vector<int> mine = bestNicsForGpu(topo, c.gpu);
      for (int l = 0; l < localRank; ++l) {
        if (bestNicsForGpu(topo, gpuForLocalRank(topo, l)) == mine) ++spread;
      }
    } else {
      spread = static_cast<size_t>(std::max(localRank, 0));
    }
    std::rotate(order.begin(), order.begin() + static_cast<long>(spread % ties),
                order.begin() + static_cast<long>(ties));
  }
  for (int n : order) c.classes.push_back(cls[n]);
  const Nic& first = topo.nics[order[0]];
  std::string tie = ties > 1 ? strprintf("; %zu NICs at %s, spread over local ranks", ties,
                                         pathClassName(c.classes[0]))
                             : "";
  if (c.gpu >= 0) {
    c.why = strprintf("%s is nearest to %s: %s%s", first.name.c_str(),
                      gpuLabel(topo, c.gpu).c_str(), pathClassName(c.classes[0]), tie.c_str());
  } else {
    c.why = strprintf("no GPU; %s is nearest to the rank's CPUs %s%s: %s%s", first.name.c_str(),
                      cpuListString(cpus).c_str(), rankCpus.empty() ? " (not bound)" : "",
                      pathClassName(c.classes[0]), tie.c_str());
  }
  c.order = std::move(order);
  return c;
}

std::vector<std::string> preferredNics(const Topology& topo, int localRank) {
  NicChoice c = chooseNics(topo, localRank, currentBinding(topo));
  std::vector<std::string> names;
  for (int n : c.order) names.push_back(topo.nics[n].name);
  return names;
}

std::vector<std::string> preferredNicsForThisProcess() {
  const Topology& topo = systemTopology();
  int localRank = localRankHint();
  NicChoice c = chooseNics(topo, localRank, currentBinding(topo));
  SHOAL_INFO(TOPO, "local rank %d: %s", localRank, c.why.c_str());
  std::vector<std::string> names;
  for (int n : c.order) names.push_back(topo.nics[n].name);
  return names;
}

GdrChoice gdrChoice(const Topology& topo, int gpu, int nic, PathClass level) {
  GdrChoice g;
  if (!topo.available) {
    g.why = topo.why;
  } else if (gpu < 0) {
    g.why = "no GPU for this rank";
  } else if (nic < 0) {
    g.why = "no NIC for this rank";
  } else {
    g.path = topo.gpuNic[gpu][nic];
    g.use = g.path <= level;
    g.why = strprintf("%s and %s are %s apart, %s SHOAL_NET_GDR_LEVEL=%s",
                      topo.gpus[gpu].name.c_str(), topo.nics[nic].name.c_str(),
                      pathClassName(g.path), g.use ? "within" : "beyond", pathClassName(level));
  }
  return g;
}

PathClass gdrLevelFromConfig() {
  std::string text = config::getString("SHOAL_NET_GDR_LEVEL");
  PathClass level;
  if (!parsePathClass(text, &level)) {
    fail(shoalInvalidArgument,
         "topology: SHOAL_NET_GDR_LEVEL=%s is not one of LOC, PIX, PXB, PHB, NODE, SYS",
         text.c_str());
  }
  return level;
}

}  // namespace shoal::topo
