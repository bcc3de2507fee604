// Registering GPU memory with the NIC by a GPUDirect RDMA method (gdr.h).
// Kept apart from the registration cache so that no device pointer can reach
// plain ibv_reg_mr except through the peermem method here.
#pragma once

#include <infiniband/verbs.h>

#include <cstddef>
#include <string>

#include "transports/verbs/gdr.h"

namespace shoal::transport::verbs {

// Registers device memory [addr, addr + len) in pd: dmabuf exports the range
// with cuMemGetHandleForAddressRange and registers the dma-buf with the NIC
// mapping addr (the MR's iova is the device virtual address, so work requests
// and peers' keys use device addresses as they use host ones); peermem hands
// the device address to ibv_reg_mr for nvidia_peermem to pin. Returns null
// with *err naming the call and the system's (or CUDA's) message, and errno
// kept from the failed verbs call (0 when CUDA failed first).
ibv_mr* registerDeviceMemory(ibv_pd* pd, GdrMethod method, void* addr, size_t len, int access,
                             std::string* err);

// One real registration of a fresh 2 MiB allocation on cudaDevice by method,
// released again: what the NIC and kernel accept is known only by trying
// (a Soft-RoCE or old provider refuses dma-bufs with EOPNOTSUPP; peermem
// refuses when the module cannot pin this GPU). False with *err when refused.
bool probeDeviceRegistration(ibv_pd* pd, GdrMethod method, int cudaDevice, std::string* err);

}  // namespace shoal::transport::verbs
