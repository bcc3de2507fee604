#include "topo/report.h"

#include <algorithm>
#include <cstdlib>

#include "core/config.h"
#include "core/error.h"
#include "topo/binding.h"
#include "topo/nic_choice.h"
#include "topo/node_group.h"

namespace shoal::topo {

namespace {

std::string numaList(const std::vector<int>& nodes) {
  if (nodes.empty()) return "?";
  std::string s;
  for (int n : nodes) {
    if (!s.empty()) s += ',';
    s += std::to_string(n);
  }
  return s;
}

std::string trimRight(std::string s) {
  while (!s.empty() && s.back() == ' ') s.pop_back();
  return s;
}

}  // namespace

std::string describe(const Topology& topo, int localRanks) {
  std::string out = strprintf("\nTopology (%s):\n", topo.source.c_str());
  if (!topo.available) {
    out += "  " + topo.why + "\n";
    out += "  choices: verbs takes the first active port (or SHOAL_IB_HCA); no binding; no GDR\n";
    return out;
  }
  out += strprintf("  node key %s\n", nodeKey(topo).c_str());
  out += strprintf("  %d package(s), %zu NUMA node(s), %zu core(s), %zu PU(s)\n", topo.packages,
                   topo.numa.size(), topo.cores.size(), topo.pus.size());
  for (const auto& n : topo.numa) {
    out += strprintf("  NUMA node %d: CPUs %s (package %d)\n", n.osIndex,
                     cpuListString(n.cpus).c_str(), n.package);
  }
  out += "  GPUs:";
  if (topo.gpus.empty()) out += " none found";
  out += "\n";
  for (const auto& g : topo.gpus) {
    out += strprintf("    GPU %d  %-14s %s [%04x:%04x] NUMA %s\n", g.index, g.name.c_str(),
                     g.pci.busId.c_str(), g.vendor, g.device, numaList(g.pci.numaNodes).c_str());
  }
  out += "  RDMA NICs:";
  if (topo.nics.empty()) out += " none found";
  out += "\n";
  for (const auto& n : topo.nics) {
    std::string netdevs;
    for (const auto& d : n.netdevs) {
      if (!netdevs.empty()) netdevs += ',';
      netdevs += d;
    }
    out += strprintf("    %-10s %-12s %s NUMA %s netdev %s\n", n.name.c_str(), n.link.c_str(),
                     n.pci.busId.empty() ? "(no PCI)" : n.pci.busId.c_str(),
                     numaList(n.pci.numaNodes).c_str(), netdevs.empty() ? "-" : netdevs.c_str());
  }
  if (!topo.gpus.empty() && !topo.nics.empty()) {
    size_t width = 4;
    for (const auto& n : topo.nics) width = std::max(width, n.name.size());
    int w = static_cast<int>(width);
    std::string row = "          ";
    for (const auto& n : topo.nics) row += strprintf(" %-*s", w, n.name.c_str());
    out += "  GPU x NIC path classes:\n" + trimRight(row) + "\n";
    for (size_t g = 0; g < topo.gpus.size(); ++g) {
      row = strprintf("    GPU %-2d", topo.gpus[g].index);
      for (size_t n = 0; n < topo.nics.size(); ++n)
        row += strprintf(" %-*s", w, pathClassName(topo.gpuNic[g][n]));
      out += trimRight(row) + "\n";
    }
    out +=
        "    PIX one PCIe switch, PXB several switches, PHB through the host bridge, NODE across\n"
        "    host bridges of one NUMA node or socket, SYS across the socket interconnect\n";
  }

  if (localRanks <= 0) {
    std::string env = config::getString("SHOAL_LOCAL_SIZE");
    localRanks = env.empty() ? 0 : atoi(env.c_str());
    if (localRanks <= 0) localRanks = std::max<int>(static_cast<int>(topo.gpus.size()), 1);
  }
  PathClass level;
  BindMode mode;
  try {
    level = gdrLevelFromConfig();
    mode = bindModeFromConfig();
  } catch (const Error& e) {
    return out + "  choices: " + e.what() + "\n";
  }
  out += strprintf("  Choices per local rank (%d; SHOAL_NET_GDR_LEVEL=%s, SHOAL_BIND=%s):\n",
                   localRanks, pathClassName(level), bindModeName(mode));
  std::string hca = config::getString("SHOAL_IB_HCA");
  for (int lr = 0; lr < localRanks; ++lr) {
    NicChoice c = chooseNics(topo, lr, {});
    out += strprintf("    local rank %d:", lr);
    if (c.gpu >= 0)
      out += strprintf(" GPU %d (%s)", topo.gpus[c.gpu].index, topo.gpus[c.gpu].name.c_str());
    out += "\n";
    if (!hca.empty()) {
      out += "      NIC: SHOAL_IB_HCA=" + hca + " (topology not consulted)\n";
    } else if (c.order.empty()) {
      out += "      NIC: " + c.why + "; verbs takes the first active port\n";
    } else {
      out += "      NIC: " + c.why + "\n";
    }
    GdrChoice g = gdrChoice(topo, c.gpu, c.order.empty() ? -1 : c.order[0], level);
    out += strprintf("      GDR: %s (%s)\n", g.use ? "yes" : "no", g.why.c_str());
    out += "      binding: " + planBinding(topo, lr, mode).why + "\n";
  }
  return out;
}

}  // namespace shoal::topo
