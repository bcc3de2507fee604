// GPUDirect RDMA: how the verbs transport gets GPU memory in front of the NIC,
// per (CUDA device, HCA) pair.
//
//   dmabuf   the GPU exports the range as a Linux dma-buf and the NIC
//            registers that (ibv_reg_dmabuf_mr). Upstream kernel path; needs
//            CUDA's open kernel modules, Linux >= 5.12 and rdma-core >= 34.
//   peermem  the nvidia_peermem (or older nv_peer_mem) module lets plain
//            ibv_reg_mr pin GPU pages.
//   staging  no GPUDirect RDMA: the executor copies device memory through
//            pinned host buffers (Context::writesFromDevice answers false).
//
// Both direct methods are only worth it when the NIC and the GPU are close on
// PCIe: SHOAL_NET_GDR_LEVEL (see topo/nic_choice.h) bounds the path class.
// SHOAL_NET_GDR_ENABLE=0 turns GPUDirect RDMA off and SHOAL_DMABUF_ENABLE=0
// skips dma-buf. The choice is a pure function of facts (decideGdr), so the
// rules are tested without GPUs or NICs; gdrFacts* gather them from a system.
// The transport then proves a chosen method with one real registration and
// falls back to the next one when the kernel refuses it.
#pragma once

#include <string>

#include "topo/path_class.h"
#include "topo/topology.h"

namespace shoal::transport::verbs {

enum class GdrMethod { kStaging, kDmabuf, kPeermem };
const char* gdrMethodName(GdrMethod m);  // "staging", "dmabuf", "peermem"

struct GdrFacts {
  // Settings.
  bool enabled = true;                            // SHOAL_NET_GDR_ENABLE
  bool dmabufEnabled = true;                      // SHOAL_DMABUF_ENABLE
  topo::PathClass level = topo::PathClass::kPxb;  // SHOAL_NET_GDR_LEVEL

  // The pair, named for messages: "GPU 0 (0000:1d:00.0)" and "mlx5_0".
  std::string gpu;
  std::string nic;
  bool pathKnown = false;
  topo::PathClass path = topo::PathClass::kSys;
  std::string pathUnknownWhy;  // when !pathKnown

  // The GPU as CUDA in this process sees it.
  bool gpuVisible = false;
  std::string gpuInvisibleWhy;  // when !gpuVisible
  bool gpuRdma = false;         // CU_DEVICE_ATTRIBUTE_GPU_DIRECT_RDMA_SUPPORTED
  bool gpuDmabuf = false;       // CU_DEVICE_ATTRIBUTE_DMA_BUF_SUPPORTED
  std::string gpuDmabufWhy;     // when !gpuDmabuf

  // This host.
  bool verbsDmabuf = false;   // this rdma-core has ibv_reg_dmabuf_mr
  std::string dmabufRefused;  // a real ibv_reg_dmabuf_mr failed with this message
  std::string peermemModule;  // "nvidia_peermem" / "nv_peer_mem" when loaded, else empty
};

struct GdrDecision {
  GdrMethod method = GdrMethod::kStaging;
  // Starts with the method's name: "dmabuf: GPU 0 (0000:1d:00.0) and mlx5_0
  // share a PCIe switch (PIX <= SHOAL_NET_GDR_LEVEL=PXB); ...".
  std::string why;
};

// The rules, in order: off by setting; a path beyond the level (an unknown
// path counts as SYS); a GPU this process cannot use or that has no
// GPUDirect RDMA; then dma-buf when the GPU, rdma-core and the setting allow
// it; then a loaded peer-memory module; else staging.
GdrDecision decideGdr(const GdrFacts& facts);

// The loaded peer-memory module under sysModuleDir (/sys/module on a live
// system): "nvidia_peermem", "nv_peer_mem", or empty.
std::string loadedPeermemModule(const std::string& sysModuleDir = "/sys/module");
// Whether this build's rdma-core declares ibv_reg_dmabuf_mr.
bool verbsHasDmabufRegistration();

// Facts for the topology's GPU topoGpu and NIC topoNic (indexes into
// topo.gpus / topo.nics), settings from SHOAL_*, this host's modules, and
// CUDA's view of the GPU when this process sees it (matched by PCI bus id,
// only when topo describes this machine). Throws shoalInvalidArgument for a
// malformed SHOAL_NET_GDR_LEVEL.
GdrFacts gdrFactsForTopologyPair(const topo::Topology& topo, int topoGpu, int topoNic);
// Facts for a live context: CUDA device cudaDevice driving HCA nicName, each
// found in topo by bus id / name when topo describes this machine.
GdrFacts gdrFactsForDevice(const topo::Topology& topo, int cudaDevice, const std::string& nicName);

// shoal-info's section: settings, this host's facts, and for every GPU x NIC
// pair of topo its path class, method and why (or why there are no pairs).
std::string describeGdr(const topo::Topology& topo);

}  // namespace shoal::transport::verbs
