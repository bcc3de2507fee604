#include "transports/verbs/gdr.h"

#include <sys/stat.h>

#include "core/config.h"
#include "core/error.h"
#include "cuda/cuda_api.h"
#include "cuda/gdr.h"
#include "topo/nic_choice.h"

namespace shoal::transport::verbs {

namespace {

// What a path class means physically, for the reason strings.
const char* pathPhrase(topo::PathClass c) {
  switch (c) {
    case topo::PathClass::kLoc:
      return "are the same device";
    case topo::PathClass::kPix:
      return "share a PCIe switch";
    case topo::PathClass::kPxb:
      return "meet across PCIe switches below one host bridge";
    case topo::PathClass::kPhb:
      return "meet at the CPU's PCIe host bridge";
    case topo::PathClass::kNode:
      return "hang from different host bridges of one NUMA node";
    case topo::PathClass::kSys:
      return "are on different sockets";
  }
  return "are an unknown distance apart";
}

std::string pathVerdict(const GdrFacts& f) {
  const char* level = topo::pathClassName(f.level);
  if (!f.pathKnown) {
    return strprintf(
        "the %s-%s path is unknown (%s), counted as SYS against SHOAL_NET_GDR_LEVEL=%s",
        f.gpu.c_str(), f.nic.c_str(), f.pathUnknownWhy.c_str(), level);
  }
  const char* cls = topo::pathClassName(f.path);
  bool within = f.path <= f.level;
  return strprintf("%s and %s %s (%s %s SHOAL_NET_GDR_LEVEL=%s)", f.gpu.c_str(), f.nic.c_str(),
                   pathPhrase(f.path), cls, within ? "<=" : ">", level);
}

bool pathWithinLevel(const GdrFacts& f) {
  return f.pathKnown ? f.path <= f.level : f.level >= topo::PathClass::kSys;
}

// Why dma-buf cannot be used, or empty when it can.
std::string dmabufObstacle(const GdrFacts& f) {
  if (!f.dmabufEnabled) return "SHOAL_DMABUF_ENABLE=0";
  if (!f.verbsDmabuf) return "this rdma-core has no ibv_reg_dmabuf_mr (needs rdma-core >= 34)";
  if (!f.gpuDmabuf) return f.gpuDmabufWhy.empty() ? "the GPU exports no dma-buf" : f.gpuDmabufWhy;
  if (!f.dmabufRefused.empty()) return "refused here: " + f.dmabufRefused;
  return "";
}

std::string gpuLabel(int index, const std::string& busId) {
  return strprintf("GPU %d (%s)", index, busId.c_str());
}

// Settings and this host's facts, shared by both gatherers.
GdrFacts hostFacts() {
  GdrFacts f;
  f.enabled = config::getBool("SHOAL_NET_GDR_ENABLE");
  f.dmabufEnabled = config::getBool("SHOAL_DMABUF_ENABLE");
  f.level = topo::gdrLevelFromConfig();
  f.verbsDmabuf = verbsHasDmabufRegistration();
  f.peermemModule = loadedPeermemModule();
  return f;
}

void cudaFacts(GdrFacts* f, int cudaDevice) {
  f->gpuVisible = true;
  f->gpuRdma = cuda::gpuDirectRdmaSupported(cudaDevice);
  f->gpuDmabuf = cuda::dmabufSupported(cudaDevice, &f->gpuDmabufWhy);
}

// The CUDA device with this PCI bus id, -1 (with *why) when none.
int cudaDeviceWithBusId(const std::string& busId, std::string* why) {
  if (!cuda::available(why)) return -1;
  for (int d = 0; d < cuda::deviceCount(); ++d) {
    if (cuda::pciBusId(d) == busId) return d;
  }
  *why = strprintf("none of the %d GPU(s) this process sees has bus id %s", cuda::deviceCount(),
                   busId.c_str());
  return -1;
}

}  // namespace

const char* gdrMethodName(GdrMethod m) {
  switch (m) {
    case GdrMethod::kDmabuf:
      return "dmabuf";
    case GdrMethod::kPeermem:
      return "peermem";
    case GdrMethod::kStaging:
      break;
  }
  return "staging";
}

GdrDecision decideGdr(const GdrFacts& f) {
  GdrDecision d;
  auto staging = [&d](const std::string& why) {
    d.method = GdrMethod::kStaging;
    d.why = "staging: " + why;
    return d;
  };
  if (!f.enabled) return staging("SHOAL_NET_GDR_ENABLE=0 turns GPUDirect RDMA off");
  if (!f.gpuVisible && !f.pathKnown) {
    return staging(strprintf("%s is not usable by CUDA in this process (%s)", f.gpu.c_str(),
                             f.gpuInvisibleWhy.c_str()));
  }
  if (!pathWithinLevel(f)) {
    return staging(pathVerdict(f) + ": PCIe peer traffic that far is slower than host staging");
  }
  if (!f.gpuVisible) {
    return staging(
        strprintf("%s is not usable by CUDA in this process (%s); the path would allow "
                  "GPUDirect RDMA: %s",
                  f.gpu.c_str(), f.gpuInvisibleWhy.c_str(), pathVerdict(f).c_str()));
  }
  if (!f.gpuRdma) {
    return staging(
        f.gpu +
        " does not support GPUDirect RDMA (CU_DEVICE_ATTRIBUTE_GPU_DIRECT_RDMA_SUPPORTED "
        "= 0)");
  }
  std::string noDmabuf = dmabufObstacle(f);
  if (noDmabuf.empty()) {
    d.method = GdrMethod::kDmabuf;
    d.why = "dmabuf: " + pathVerdict(f) +
            "; the GPU exports dma-bufs and rdma-core has ibv_reg_dmabuf_mr";
    return d;
  }
  if (!f.peermemModule.empty()) {
    d.method = GdrMethod::kPeermem;
    d.why = "peermem: " + pathVerdict(f) + "; " + f.peermemModule +
            " is loaded (dma-buf not used: " + noDmabuf + ")";
    return d;
  }
  return staging("nvidia_peermem not loaded and dma-buf unusable: " + noDmabuf + "; " +
                 pathVerdict(f));
}

std::string loadedPeermemModule(const std::string& sysModuleDir) {
  // nvidia_peermem ships with the driver since 470; nv_peer_mem is the older
  // out-of-tree module with the same role.
  for (const char* name : {"nvidia_peermem", "nv_peer_mem"}) {
    struct stat st {};
    if (stat((sysModuleDir + "/" + name).c_str(), &st) == 0 && S_ISDIR(st.st_mode)) return name;
  }
  return "";
}

bool verbsHasDmabufRegistration() {
#if SHOAL_HAVE_IBV_REG_DMABUF_MR
  return true;
#else
  return false;
#endif
}

GdrFacts gdrFactsForTopologyPair(const topo::Topology& topo, int topoGpu, int topoNic) {
  GdrFacts f = hostFacts();
  const topo::Gpu& g = topo.gpus.at(static_cast<size_t>(topoGpu));
  f.gpu = gpuLabel(g.index, g.pci.busId);
  f.nic = topo.nics.at(static_cast<size_t>(topoNic)).name;
  f.pathKnown = true;
  f.path = topo.gpuNic[topoGpu][topoNic];
  int dev = -1;
  if (!topo.thisSystem) {
    f.gpuInvisibleWhy = "the topology was read from a file, not detected on this machine";
  } else {
    dev = cudaDeviceWithBusId(g.pci.busId, &f.gpuInvisibleWhy);
  }
  if (dev >= 0) cudaFacts(&f, dev);
  return f;
}

GdrFacts gdrFactsForDevice(const topo::Topology& topo, int cudaDevice, const std::string& nicName) {
  GdrFacts f = hostFacts();
  f.nic = nicName;
  std::string why;
  if (!cuda::available(&why) || cudaDevice < 0 || cudaDevice >= cuda::deviceCount()) {
    f.gpu = strprintf("GPU %d", cudaDevice);
    f.gpuInvisibleWhy =
        why.empty() ? strprintf("this process sees %d GPU(s)", cuda::deviceCount()) : why;
    f.pathUnknownWhy = "the GPU is not visible";
    return f;
  }
  std::string bus = cuda::pciBusId(cudaDevice);
  f.gpu = gpuLabel(cudaDevice, bus);
  cudaFacts(&f, cudaDevice);
  int g = -1, n = -1;
  if (topo.available && topo.thisSystem) {
    for (size_t i = 0; i < topo.gpus.size(); ++i)
      if (topo.gpus[i].pci.busId == bus) g = static_cast<int>(i);
    for (size_t i = 0; i < topo.nics.size(); ++i)
      if (topo.nics[i].name == nicName) n = static_cast<int>(i);
  }
  if (!topo.available) {
    f.pathUnknownWhy = "no topology: " + topo.why;
  } else if (!topo.thisSystem) {
    f.pathUnknownWhy = "the topology was read from a file, not detected on this machine";
  } else if (g < 0) {
    f.pathUnknownWhy = "hwloc does not show the GPU at " + bus;
  } else if (n < 0) {
    f.pathUnknownWhy = "hwloc does not show " + nicName;
  } else {
    f.pathKnown = true;
    f.path = topo.gpuNic[g][n];
  }
  return f;
}

std::string describeGdr(const topo::Topology& topo) {
  std::string out = "\nGPUDirect RDMA (verbs):\n";
  GdrFacts host;
  try {
    host = hostFacts();
  } catch (const Error& e) {
    return out + "  " + e.what() + "\n";
  }
  out += strprintf(
      "  settings: SHOAL_NET_GDR_ENABLE=%d SHOAL_DMABUF_ENABLE=%d SHOAL_NET_GDR_LEVEL=%s\n",
      host.enabled ? 1 : 0, host.dmabufEnabled ? 1 : 0, topo::pathClassName(host.level));
  std::string cudaWhy;
  bool cudaOk = cuda::available(&cudaWhy);
  out += strprintf(
      "  this host: peer-memory module: %s; ibv_reg_dmabuf_mr in rdma-core: %s; CUDA: %s\n",
      host.peermemModule.empty() ? "not loaded" : host.peermemModule.c_str(),
      host.verbsDmabuf ? "yes" : "no",
      cudaOk ? strprintf("%d GPU(s) visible", cuda::deviceCount()).c_str() : cudaWhy.c_str());
  out += "  topology: " + (topo.source.empty() ? std::string("none") : topo.source) + "\n";
  if (!topo.available) {
    out += "  no topology (" + topo.why +
           "): every GPU-NIC path is unknown, so only SHOAL_NET_GDR_LEVEL=SYS allows GPUDirect "
           "RDMA\n";
    return out;
  }
  if (topo.gpus.empty() || topo.nics.empty()) {
    out += strprintf(
        "  no GPU x NIC pairs: %s%s%s in the topology; device memory (if any) is staged\n",
        topo.gpus.empty() ? "no GPU" : "", topo.gpus.empty() && topo.nics.empty() ? " and " : "",
        topo.nics.empty() ? "no RDMA NIC" : "");
    return out;
  }
  out += "  GPU x NIC: path class, method, why\n";
  for (size_t g = 0; g < topo.gpus.size(); ++g) {
    for (size_t n = 0; n < topo.nics.size(); ++n) {
      GdrFacts f = gdrFactsForTopologyPair(topo, static_cast<int>(g), static_cast<int>(n));
      GdrDecision d = decideGdr(f);
      out += strprintf("    GPU %-2d %-10s %-4s %-8s %s\n", topo.gpus[g].index,
                       topo.nics[n].name.c_str(), topo::pathClassName(f.path),
                       gdrMethodName(d.method), d.why.c_str());
    }
  }
  return out;
}

}  // namespace shoal::transport::verbs
