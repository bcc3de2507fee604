#include "topo/binding.h"

#include <strings.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>

#include "core/config.h"
#include "core/error.h"
#include "core/log.h"
#include "shoal/build_config.h"
#include "topo/nic_choice.h"
#include "topo/node_group.h"

#if SHOAL_WITH_HWLOC_ENABLED
#include <hwloc.h>
#endif

namespace shoal::topo {

namespace {

// Set by onCommInit for the transport contexts that commCreate builds next on
// the same thread; transports have no other way to learn it.
thread_local int tlsLocalRank = -1;

struct Target {
  CpuList cpus;
  std::string what;
};

// The CPUs a local rank belongs near: the NUMA node(s) of its GPU, else of its
// NIC (as chosen for an unbound rank, which every rank can compute alike).
Target targetFor(const Topology& topo, int localRank) {
  const PciPlace* place = nullptr;
  std::string what;
  int gpu = gpuForLocalRank(topo, localRank);
  if (gpu >= 0) {
    place = &topo.gpus[gpu].pci;
    what = "GPU " + topo.gpus[gpu].name;
  } else {
    NicChoice c = chooseNics(topo, localRank, {});
    if (!c.order.empty()) {
      place = &topo.nics[c.order[0]].pci;
      what = "NIC " + topo.nics[c.order[0]].name;
    }
  }
  Target t;
  if (place) {
    for (const auto& n : topo.numa) {
      if (std::find(place->numaNodes.begin(), place->numaNodes.end(), n.osIndex) !=
          place->numaNodes.end())
        t.cpus.insert(t.cpus.end(), n.cpus.begin(), n.cpus.end());
    }
    if (t.cpus.empty()) t.cpus = place->localCpus;
    t.what = what;
  } else if (!topo.numa.empty()) {
    const NumaNode& n = topo.numa[static_cast<size_t>(std::max(localRank, 0)) % topo.numa.size()];
    t.cpus = n.cpus;
    t.what =
        strprintf("NUMA node %d (no GPU or NIC; nodes taken in turn by local rank)", n.osIndex);
  }
  CpuList allowed;
  for (int c : t.cpus) {
    if (std::binary_search(topo.pus.begin(), topo.pus.end(), c)) allowed.push_back(c);
  }
  std::sort(allowed.begin(), allowed.end());
  allowed.erase(std::unique(allowed.begin(), allowed.end()), allowed.end());
  t.cpus = std::move(allowed);
  return t;
}

bool contains(const CpuList& set, const CpuList& sub) {
  for (int c : sub) {
    if (!std::binary_search(set.begin(), set.end(), c)) return false;
  }
  return true;
}

}  // namespace

const char* bindModeName(BindMode mode) {
  switch (mode) {
    case BindMode::kNuma:
      return "numa";
    case BindMode::kCore:
      return "core";
    default:
      return "none";
  }
}

bool parseBindMode(const std::string& text, BindMode* out) {
  for (BindMode m : {BindMode::kNone, BindMode::kNuma, BindMode::kCore}) {
    if (strcasecmp(text.c_str(), bindModeName(m)) == 0) {
      *out = m;
      return true;
    }
  }
  if (text.empty()) {
    *out = BindMode::kNone;
    return true;
  }
  return false;
}

BindMode bindModeFromConfig() {
  std::string text = config::getString("SHOAL_BIND");
  BindMode mode;
  if (!parseBindMode(text, &mode))
    fail(shoalInvalidArgument, "topology: SHOAL_BIND=%s is not one of none, numa, core",
         text.c_str());
  return mode;
}

BindPlan planBinding(const Topology& topo, int localRank, BindMode mode) {
  BindPlan p;
  p.mode = mode;
  if (mode == BindMode::kNone) {
    p.why = "SHOAL_BIND=none: left as launched";
    return p;
  }
  if (!topo.available) {
    p.why = topo.why;
    return p;
  }
  Target t = targetFor(topo, localRank);
  if (t.cpus.empty()) {
    p.why = "no CPUs near " + (t.what.empty() ? std::string("any device") : t.what);
    return p;
  }
  if (mode == BindMode::kNuma) {
    p.cpus = t.cpus;
    p.why = strprintf("numa: CPUs %s near %s", cpuListString(p.cpus).c_str(), t.what.c_str());
    return p;
  }
  std::vector<const Core*> cores;
  for (const auto& c : topo.cores) {
    if (contains(t.cpus, c.pus)) cores.push_back(&c);
  }
  if (cores.empty()) {
    p.cpus = t.cpus;
    p.why = strprintf("core: no whole core among CPUs %s near %s; bound to all of them",
                      cpuListString(t.cpus).c_str(), t.what.c_str());
    return p;
  }
  // The k-th local rank near these CPUs takes the k-th core there.
  size_t k = 0;
  for (int l = 0; l < localRank; ++l) {
    if (targetFor(topo, l).cpus == t.cpus) ++k;
  }
  p.cpus = cores[k % cores.size()]->pus;
  p.why = strprintf("core: PUs %s, core %zu of %zu near %s%s", cpuListString(p.cpus).c_str(),
                    k % cores.size(), cores.size(), t.what.c_str(),
                    k >= cores.size() ? " (more ranks than cores: shared)" : "");
  return p;
}

void applyBinding(const Topology& topo, const BindPlan& plan, int rank) {
  if (plan.cpus.empty()) return;
  std::string who = rank >= 0 ? strprintf("rank %d: ", rank) : std::string();
  if (!topo.available || !topo.thisSystem) {
    fail(shoalInvalidUsage, "%stopology: cannot bind to CPUs %s: the topology comes from %s",
         who.c_str(), cpuListString(plan.cpus).c_str(), topo.source.c_str());
  }
#if SHOAL_WITH_HWLOC_ENABLED
  auto t = static_cast<hwloc_topology_t>(topo.handle.get());
  hwloc_bitmap_t set = hwloc_bitmap_alloc();
  if (set == nullptr) failErrno("%stopology: hwloc_bitmap_alloc failed", who.c_str());
  for (int c : plan.cpus) hwloc_bitmap_set(set, static_cast<unsigned>(c));
  int rc = hwloc_set_cpubind(t, set, HWLOC_CPUBIND_PROCESS);
  int err = errno;
  hwloc_bitmap_free(set);
  if (rc != 0) {
    errno = err;
    failErrno("%stopology: hwloc_set_cpubind(%s) failed", who.c_str(),
              cpuListString(plan.cpus).c_str());
  }
  SHOAL_INFO(TOPO, "%sbound to CPUs %s (%s)", who.c_str(), cpuListString(plan.cpus).c_str(),
             plan.why.c_str());
#endif
}

void onCommInit(const std::vector<std::string>& hosts, int rank) {
  if (rank >= 0 && static_cast<size_t>(rank) < hosts.size()) tlsLocalRank = localRanks(hosts)[rank];
  // Both are checked here so that a typo fails init rather than being ignored.
  std::string bind = config::getString("SHOAL_BIND");
  std::string gdr = config::getString("SHOAL_NET_GDR_LEVEL");
  BindMode mode;
  PathClass level;
  if (!parseBindMode(bind, &mode)) {
    fail(shoalInvalidArgument, "rank %d: init: SHOAL_BIND=%s is not one of none, numa, core", rank,
         bind.c_str());
  }
  if (!parsePathClass(gdr, &level)) {
    fail(shoalInvalidArgument,
         "rank %d: init: SHOAL_NET_GDR_LEVEL=%s is not one of LOC, PIX, PXB, PHB, NODE, SYS", rank,
         gdr.c_str());
  }
  if (mode == BindMode::kNone) return;
  const Topology& topo = systemTopology();
  BindPlan plan = planBinding(topo, localRankHint(), mode);
  if (plan.cpus.empty() || !topo.thisSystem) {
    SHOAL_WARN(
        TOPO, "rank %d: SHOAL_BIND=%s not applied: %s", rank, bindModeName(mode),
        plan.cpus.empty() ? plan.why.c_str() : ("the topology comes from " + topo.source).c_str());
    return;
  }
  applyBinding(topo, plan, rank);
}

int localRankHint() {
  if (tlsLocalRank >= 0) return tlsLocalRank;
  std::string env = config::getString("SHOAL_LOCAL_RANK");
  return env.empty() ? 0 : std::max(atoi(env.c_str()), 0);
}

}  // namespace shoal::topo
