#include "transports/verbs/device_mr.h"

#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstring>

#include "core/error.h"
#include "cuda/cuda_api.h"
#include "cuda/gdr.h"

namespace shoal::transport::verbs {

namespace {

// Large enough that cudaMalloc hands out a block of its own, page aligned, as
// real collective buffers are.
constexpr size_t kProbeBytes = 2u << 20;

}  // namespace

ibv_mr* registerDeviceMemory(ibv_pd* pd, GdrMethod method, void* addr, size_t len, int access,
                             std::string* err) {
  if (method == GdrMethod::kPeermem) {
    ibv_mr* mr = ibv_reg_mr(pd, addr, len, access);
    if (mr == nullptr) {
      int e = errno;
      *err = strprintf(
          "ibv_reg_mr(GPU memory %p, %zu bytes) through the peer-memory module failed: %s", addr,
          len, strerror(e));
      errno = e;
    }
    return mr;
  }
  if (method == GdrMethod::kDmabuf) {
#if SHOAL_HAVE_IBV_REG_DMABUF_MR
    size_t offset = 0;
    int fd = -1;
    try {
      fd = cuda::dmabufFd(addr, len, &offset);
    } catch (const Error& e) {
      *err = e.what();
      errno = 0;
      return nullptr;
    }
    ibv_mr* mr = ibv_reg_dmabuf_mr(pd, offset, len, reinterpret_cast<uintptr_t>(addr), fd, access);
    int e = errno;
    // The registration holds its own reference to the dma-buf.
    close(fd);
    if (mr == nullptr) {
      *err =
          strprintf("ibv_reg_dmabuf_mr(GPU memory %p, %zu bytes at dma-buf offset %zu) failed: %s",
                    addr, len, offset, strerror(e));
    }
    errno = e;
    return mr;
#else
    *err = "this rdma-core has no ibv_reg_dmabuf_mr";
    errno = EOPNOTSUPP;
    return nullptr;
#endif
  }
  *err = strprintf("GPU memory %p cannot be registered: GPUDirect RDMA is not used for it", addr);
  errno = EINVAL;
  return nullptr;
}

bool probeDeviceRegistration(ibv_pd* pd, GdrMethod method, int cudaDevice, std::string* err) {
  void* mem = nullptr;
  try {
    int saved = cuda::currentDevice();
    cuda::setDevice(cudaDevice);
    try {
      mem = cuda::deviceAlloc(kProbeBytes);
    } catch (...) {
      cuda::setDevice(saved);
      throw;
    }
    cuda::setDevice(saved);
  } catch (const Error& e) {
    *err = strprintf("probe allocation on GPU %d: %s", cudaDevice, e.what());
    return false;
  }
  ibv_mr* mr = registerDeviceMemory(
      pd, method, mem, kProbeBytes,
      IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_REMOTE_WRITE | IBV_ACCESS_REMOTE_READ, err);
  if (mr != nullptr) ibv_dereg_mr(mr);
  cuda::deviceFree(mem);
  return mr != nullptr;
}

}  // namespace shoal::transport::verbs
