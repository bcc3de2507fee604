// What GPUDirect RDMA needs from CUDA: whether a GPU lets a NIC reach its
// memory (the peer-memory driver path, nvidia_peermem) or exports it as a
// Linux dma-buf (the upstream kernel path), and the dma-buf itself.
//
// These calls go to the CUDA driver API, reached through the runtime's
// driver entry points rather than by linking libcuda: libshoal must load on
// machines without an NVIDIA driver. Without a driver or a GPU the queries
// answer false and say why; the calls that need a GPU throw shoal::Error
// naming the CUDA call and the driver's message.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace shoal::cuda {

// CU_DEVICE_ATTRIBUTE_GPU_DIRECT_RDMA_SUPPORTED: the GPU can be the target of
// third-party PCIe peers at all (false for GPUs that never can, and without a
// driver or device).
bool gpuDirectRdmaSupported(int device);

// CU_DEVICE_ATTRIBUTE_DMA_BUF_SUPPORTED: cuMemGetHandleForAddressRange can
// export this GPU's memory as a dma-buf (needs the open kernel modules and a
// kernel with dma-buf peer-to-peer). *why says what is missing when false.
bool dmabufSupported(int device, std::string* why = nullptr);

// A dma-buf file descriptor covering [devPtr, devPtr + bytes). The driver
// exports only host-page-aligned ranges, so the exported range starts at
// devPtr rounded down to a page (inside devPtr's allocation whenever that
// allocation is page aligned, as every cudaMalloc of a page or more is) and
// ends rounded up to a page; *offsetInFd is devPtr's offset from that start,
// i.e. where devPtr lies inside the dma-buf. The range must lie inside one
// allocation (cuMemGetAddressRange), else shoalInvalidArgument. The caller owns the descriptor and
// closes it (a verbs registration holds its own reference, so it may be closed right after
// ibv_reg_dmabuf_mr).
int dmabufFd(const void* devPtr, size_t bytes, size_t* offsetInFd);

// The device allocation (cudaMalloc block) that holds p: its base and size.
void allocationRange(const void* p, uintptr_t* base, size_t* size);

// CU_POINTER_ATTRIBUTE_BUFFER_ID: process-wide unique per allocation, so a
// registration cache can tell a freed-and-reallocated range at the same
// address from the allocation it registered. 0 when p is not device memory
// (or was freed).
uint64_t allocationId(const void* p);

}  // namespace shoal::cuda
