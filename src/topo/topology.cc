#include "topo/topology.h"

#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <mutex>

#include "core/config.h"
#include "core/error.h"
#include "core/log.h"
#include "shoal/build_config.h"

#if SHOAL_WITH_HWLOC_ENABLED
#include <hwloc.h>
#endif

namespace shoal::topo {

std::vector<int> Topology::numaOf(const CpuList& cpus) const {
  std::vector<int> out;
  for (const auto& n : numa) {
    for (int c : cpus) {
      if (std::binary_search(n.cpus.begin(), n.cpus.end(), c)) {
        out.push_back(n.osIndex);
        break;
      }
    }
  }
  std::sort(out.begin(), out.end());
  return out;
}

std::vector<int> Topology::packagesOf(const CpuList& cpus) const {
  std::vector<int> out;
  for (const auto& n : numa) {
    if (n.package < 0 || std::find(out.begin(), out.end(), n.package) != out.end()) continue;
    for (int c : cpus) {
      if (std::binary_search(n.cpus.begin(), n.cpus.end(), c)) {
        out.push_back(n.package);
        break;
      }
    }
  }
  std::sort(out.begin(), out.end());
  return out;
}

std::string cpuListString(const CpuList& cpus) {
  std::string s;
  for (size_t i = 0; i < cpus.size();) {
    size_t j = i;
    while (j + 1 < cpus.size() && cpus[j + 1] == cpus[j] + 1) ++j;
    if (!s.empty()) s += ',';
    s += std::to_string(cpus[i]);
    if (j > i) s += '-' + std::to_string(cpus[j]);
    i = j + 1;
  }
  return s.empty() ? "none" : s;
}

#if SHOAL_WITH_HWLOC_ENABLED

namespace {

CpuList toList(hwloc_const_bitmap_t set) {
  CpuList out;
  if (set == nullptr || hwloc_bitmap_weight(set) < 0) return out;  // null or infinite
  for (int i = hwloc_bitmap_first(set); i != -1; i = hwloc_bitmap_next(set, i)) out.push_back(i);
  return out;
}

bool startsWith(const char* s, const char* prefix) {
  return s != nullptr && strncmp(s, prefix, strlen(prefix)) == 0;
}

// The trailing number of "cuda3" / "nvml3", or -1.
int trailingIndex(const char* name, const char* prefix) {
  if (!startsWith(name, prefix)) return -1;
  const char* digits = name + strlen(prefix);
  if (*digits == '\0') return -1;
  for (const char* p = digits; *p; ++p) {
    if (*p < '0' || *p > '9') return -1;
  }
  return atoi(digits);
}

std::string busIdOf(hwloc_obj_t pci) {
  const auto& a = pci->attr->pcidev;
  return strprintf("%04x:%02x:%02x.%x", a.domain, a.bus, a.dev, a.func);
}

// Identifiers in PciPlace are gp_index + 1 so that 0 can mean "none".
uint64_t idOf(hwloc_obj_t obj) { return obj->gp_index + 1; }

PciPlace placeOf(hwloc_topology_t t, hwloc_obj_t dev) {
  PciPlace p;
  if (dev->type == HWLOC_OBJ_PCI_DEVICE) p.busId = busIdOf(dev);
  for (hwloc_obj_t up = dev->parent; up && up->type == HWLOC_OBJ_BRIDGE; up = up->parent) {
    if (up->attr->bridge.upstream_type == HWLOC_OBJ_BRIDGE_HOST) {
      p.hostBridge = idOf(up);
      break;
    }
    p.bridges.push_back(idOf(up));
  }
  hwloc_obj_t cpuSide = hwloc_get_non_io_ancestor_obj(t, dev);
  if (cpuSide) {
    p.localCpus = toList(cpuSide->cpuset);
    p.numaNodes = toList(cpuSide->nodeset);
    hwloc_obj_t pkg = cpuSide->type == HWLOC_OBJ_PACKAGE
                          ? cpuSide
                          : hwloc_get_ancestor_obj_by_type(t, HWLOC_OBJ_PACKAGE, cpuSide);
    if (pkg) p.package = static_cast<int>(pkg->os_index);
  }
  return p;
}

// The PCI device an OS device belongs to, or null for virtual devices.
hwloc_obj_t pciOf(hwloc_obj_t osdev) {
  for (hwloc_obj_t up = osdev->parent; up && hwloc_obj_type_is_io(up->type); up = up->parent) {
    if (up->type == HWLOC_OBJ_PCI_DEVICE) return up;
  }
  return nullptr;
}

void collectCpus(hwloc_topology_t t, Topology* topo) {
  hwloc_obj_t root = hwloc_get_root_obj(t);
  topo->pus = toList(root->cpuset);
  topo->packages = hwloc_get_nbobjs_by_type(t, HWLOC_OBJ_PACKAGE);
  int n = hwloc_get_nbobjs_by_type(t, HWLOC_OBJ_NUMANODE);
  for (int i = 0; i < n; ++i) {
    hwloc_obj_t node = hwloc_get_obj_by_type(t, HWLOC_OBJ_NUMANODE, static_cast<unsigned>(i));
    NumaNode nn;
    nn.osIndex = static_cast<int>(node->os_index);
    nn.cpus = toList(node->cpuset);
    hwloc_obj_t pkg = hwloc_get_ancestor_obj_by_type(t, HWLOC_OBJ_PACKAGE, node);
    if (pkg) nn.package = static_cast<int>(pkg->os_index);
    topo->numa.push_back(nn);
  }
  std::sort(topo->numa.begin(), topo->numa.end(),
            [](const NumaNode& a, const NumaNode& b) { return a.osIndex < b.osIndex; });
  int cores = hwloc_get_nbobjs_by_type(t, HWLOC_OBJ_CORE);
  for (int i = 0; i < cores; ++i) {
    hwloc_obj_t core = hwloc_get_obj_by_type(t, HWLOC_OBJ_CORE, static_cast<unsigned>(i));
    Core c;
    c.pus = toList(core->cpuset);
    if (!c.pus.empty()) topo->cores.push_back(c);
  }
  // Some platforms (and some containers) report no cores: then each PU is one.
  if (topo->cores.empty()) {
    for (int pu : topo->pus) topo->cores.push_back(Core{{pu}});
  }
}

void collectGpus(hwloc_topology_t t, Topology* topo) {
  struct Found {
    Gpu gpu;
    int cuda = -1, nvml = -1;
  };
  std::vector<Found> found;
  for (hwloc_obj_t pci = hwloc_get_next_pcidev(t, nullptr); pci;
       pci = hwloc_get_next_pcidev(t, pci)) {
    const auto& a = pci->attr->pcidev;
    Found f;
    for (hwloc_obj_t c = pci->io_first_child; c; c = c->next_sibling) {
      if (c->type != HWLOC_OBJ_OS_DEVICE) continue;
      if (f.cuda < 0) f.cuda = trailingIndex(c->name, "cuda");
      if (f.nvml < 0) f.nvml = trailingIndex(c->name, "nvml");
    }
    bool nvidiaDisplay = a.vendor_id == 0x10de && (a.class_id == 0x0300 || a.class_id == 0x0302);
    if (!nvidiaDisplay && f.cuda < 0 && f.nvml < 0) continue;
    f.gpu.vendor = a.vendor_id;
    f.gpu.device = a.device_id;
    f.gpu.pci = placeOf(t, pci);
    found.push_back(f);
  }
  std::sort(found.begin(), found.end(),
            [](const Found& a, const Found& b) { return a.gpu.pci.busId < b.gpu.pci.busId; });
  // CUDA's numbering when hwloc knows it for every GPU, else NVML's, else bus order.
  bool allCuda = true, allNvml = true;
  for (const auto& f : found) {
    allCuda = allCuda && f.cuda >= 0;
    allNvml = allNvml && f.nvml >= 0;
  }
  for (size_t i = 0; i < found.size(); ++i) {
    Gpu g = found[i].gpu;
    if (allCuda) {
      g.index = found[i].cuda;
      g.name = "cuda" + std::to_string(g.index);
    } else if (allNvml) {
      g.index = found[i].nvml;
      g.name = "nvml" + std::to_string(g.index);
    } else {
      g.index = static_cast<int>(i);
      g.name = g.pci.busId;
    }
    topo->gpus.push_back(g);
  }
  std::sort(topo->gpus.begin(), topo->gpus.end(),
            [](const Gpu& a, const Gpu& b) { return a.index < b.index; });
  for (size_t i = 0; i < topo->gpus.size(); ++i) {
    if (topo->gpus[i].index != static_cast<int>(i)) {
      // Duplicate or sparse numbering (hidden devices): fall back to positions.
      SHOAL_INFO(TOPO, "GPU numbering from hwloc is not dense; using positions in bus order");
      for (size_t k = 0; k < topo->gpus.size(); ++k) topo->gpus[k].index = static_cast<int>(k);
      break;
    }
  }
}

void collectNics(hwloc_topology_t t, Topology* topo) {
  for (hwloc_obj_t os = hwloc_get_next_osdev(t, nullptr); os; os = hwloc_get_next_osdev(t, os)) {
    if (os->attr->osdev.type != HWLOC_OBJ_OSDEV_OPENFABRICS || os->name == nullptr) continue;
    Nic nic;
    nic.name = os->name;
    hwloc_obj_t pci = pciOf(os);
    nic.pci = placeOf(t, pci ? pci : os);
    const char* layer = hwloc_obj_get_info_by_name(os, "Port1LinkLayer");
    if (pci && pci->attr->pcidev.class_id == 0x0207) {
      nic.link = "InfiniBand";
    } else if (pci && pci->attr->pcidev.class_id == 0x0200) {
      nic.link = "Ethernet";
    } else {
      nic.link = layer ? layer : "unknown";
    }
    if (pci) {
      for (hwloc_obj_t c = pci->io_first_child; c; c = c->next_sibling) {
        if (c->type == HWLOC_OBJ_OS_DEVICE && c->attr->osdev.type == HWLOC_OBJ_OSDEV_NETWORK &&
            c->name) {
          nic.netdevs.push_back(c->name);
        }
      }
    }
    topo->nics.push_back(nic);
  }
  std::sort(topo->nics.begin(), topo->nics.end(), [](const Nic& a, const Nic& b) {
    return a.pci.busId != b.pci.busId ? a.pci.busId < b.pci.busId : a.name < b.name;
  });
}

}  // namespace

Topology loadTopology(const std::string& xmlFile, const std::string& dumpFile) {
  hwloc_topology_t raw = nullptr;
  if (hwloc_topology_init(&raw) != 0) failErrno("topology: hwloc_topology_init failed");
  std::shared_ptr<void> handle(
      raw, [](void* p) { hwloc_topology_destroy(static_cast<hwloc_topology_t>(p)); });
  // Bridges and PCI devices that lead to something useful (GPUs, NICs,
  // storage), and every OS device: the verbs and CUDA names live there.
  hwloc_topology_set_io_types_filter(raw, HWLOC_TYPE_FILTER_KEEP_IMPORTANT);
  hwloc_topology_set_type_filter(raw, HWLOC_OBJ_OS_DEVICE, HWLOC_TYPE_FILTER_KEEP_ALL);
  Topology topo;
  if (!xmlFile.empty()) {
    if (access(xmlFile.c_str(), R_OK) != 0)
      failErrno("topology: cannot read SHOAL_TOPO_FILE %s", xmlFile.c_str());
    if (hwloc_topology_set_xml(raw, xmlFile.c_str()) != 0)
      failErrno("topology: hwloc_topology_set_xml(%s) failed", xmlFile.c_str());
    topo.source = xmlFile;
  } else {
    topo.source = "this machine";
  }
  if (hwloc_topology_load(raw) != 0) {
    failErrno("topology: hwloc_topology_load(%s) failed (hwloc prints the details above)",
              topo.source.c_str());
  }
  topo.thisSystem = hwloc_topology_is_thissystem(raw) != 0;
  hwloc_obj_t root = hwloc_get_root_obj(raw);
  const char* host = hwloc_obj_get_info_by_name(root, "HostName");
  const char* uuid = hwloc_obj_get_info_by_name(root, "DMIProductUUID");
  topo.hostName = host ? host : "";
  topo.machineId = topo.hostName;
  if (uuid && *uuid) topo.machineId += std::string(topo.machineId.empty() ? "" : ":") + uuid;
  collectCpus(raw, &topo);
  collectGpus(raw, &topo);
  collectNics(raw, &topo);
  topo.gpuNic.assign(topo.gpus.size(), std::vector<PathClass>(topo.nics.size()));
  for (size_t g = 0; g < topo.gpus.size(); ++g) {
    for (size_t n = 0; n < topo.nics.size(); ++n)
      topo.gpuNic[g][n] = classifyPci(topo.gpus[g].pci, topo.nics[n].pci);
  }
  if (!dumpFile.empty() && hwloc_topology_export_xml(raw, dumpFile.c_str(), 0) != 0)
    failErrno("topology: cannot write SHOAL_TOPO_DUMP_FILE %s", dumpFile.c_str());
  topo.handle = std::move(handle);
  topo.available = true;
  SHOAL_INFO(TOPO,
             "topology of %s: %d packages, %zu NUMA nodes, %zu cores, %zu PUs, %zu GPUs, %zu NICs",
             topo.source.c_str(), topo.packages, topo.numa.size(), topo.cores.size(),
             topo.pus.size(), topo.gpus.size(), topo.nics.size());
  return topo;
}

CpuList currentBinding(const Topology& topo) {
  if (!topo.available || !topo.thisSystem || !topo.handle) return {};
  auto t = static_cast<hwloc_topology_t>(topo.handle.get());
  hwloc_bitmap_t set = hwloc_bitmap_alloc();
  CpuList out;
  if (set && hwloc_get_cpubind(t, set, HWLOC_CPUBIND_PROCESS) == 0) {
    for (int cpu : toList(set)) {
      if (std::binary_search(topo.pus.begin(), topo.pus.end(), cpu)) out.push_back(cpu);
    }
  } else {
    SHOAL_INFO(TOPO, "hwloc_get_cpubind failed: %s", strerror(errno));
  }
  hwloc_bitmap_free(set);
  return out;
}

#else  // built without hwloc

Topology loadTopology(const std::string& xmlFile, const std::string& dumpFile) {
  Topology topo;
  topo.source = xmlFile.empty() ? "this machine" : xmlFile;
  topo.why = "topology unavailable: built without hwloc";
  if (!xmlFile.empty() || !dumpFile.empty())
    topo.why += " (SHOAL_TOPO_FILE and SHOAL_TOPO_DUMP_FILE are ignored)";
  return topo;
}

CpuList currentBinding(const Topology&) { return {}; }

#endif

const Topology& systemTopology() {
  static Topology topo;
  static std::once_flag once;
  std::call_once(once, [] {
    std::string file = config::getString("SHOAL_TOPO_FILE");
    try {
      topo = loadTopology(file, config::getString("SHOAL_TOPO_DUMP_FILE"));
    } catch (const Error& e) {
      topo = Topology();
      topo.source = file.empty() ? "this machine" : file;
      topo.why = std::string("topology unavailable: ") + e.what();
    }
  });
  return topo;
}

}  // namespace shoal::topo
