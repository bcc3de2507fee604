// gdr.h over the CUDA driver API (cuda/driver.h: entry points from the
// runtime, so libshoal does not link libcuda).
#include "cuda/gdr.h"

#include <cuda_runtime.h>
#include <unistd.h>

#include "core/error.h"
#include "cuda/cuda_api.h"
#include "cuda/driver.h"

namespace shoal::cuda {
namespace {

// Driver calls on a pointer want the owning GPU's primary context current on
// this thread; the caller's current device is restored afterwards.
class OnDeviceOf {
 public:
  explicit OnDeviceOf(const void* p, const char* what) : scope_(deviceOf(p, what)) {}

 private:
  static int deviceOf(const void* p, const char* what) {
    int dev = -1;
    if (pointerKind(p, &dev) != MemoryKind::kDevice || dev < 0)
      fail(shoalInvalidArgument, "%s: %p is not device memory", what, p);
    return dev;
  }
  DeviceScope scope_;
};

uintptr_t hostPage() {
  static const uintptr_t page = static_cast<uintptr_t>(sysconf(_SC_PAGESIZE));
  return page;
}

}  // namespace

bool gpuDirectRdmaSupported(int device) {
  return deviceAttribute(device, CU_DEVICE_ATTRIBUTE_GPU_DIRECT_RDMA_SUPPORTED,
                         "CU_DEVICE_ATTRIBUTE_GPU_DIRECT_RDMA_SUPPORTED", nullptr) > 0;
}

bool dmabufSupported(int device, std::string* why) {
  int v = deviceAttribute(device, CU_DEVICE_ATTRIBUTE_DMA_BUF_SUPPORTED,
                          "CU_DEVICE_ATTRIBUTE_DMA_BUF_SUPPORTED", why);
  if (v == 0 && why) {
    *why = strprintf(
        "GPU %d reports no dma-buf export (CU_DEVICE_ATTRIBUTE_DMA_BUF_SUPPORTED = 0: needs the "
        "open GPU kernel modules and Linux >= 5.12)",
        device);
  }
  return v > 0;
}

void allocationRange(const void* p, uintptr_t* base, size_t* size) {
  const Driver& d = requireDriver("cuMemGetAddressRange");
  OnDeviceOf on(p, "cuMemGetAddressRange");
  CUdeviceptr b = 0;
  size_t s = 0;
  CUresult r = d.memGetAddressRange(&b, &s, reinterpret_cast<CUdeviceptr>(p));
  if (r != CUDA_SUCCESS)
    fail(shoalUnhandledCudaError, "cuMemGetAddressRange(%p) failed: %s", p, message(d, r).c_str());
  *base = static_cast<uintptr_t>(b);
  *size = s;
}

int dmabufFd(const void* devPtr, size_t bytes, size_t* offsetInFd) {
  const Driver& d = requireDriver("cuMemGetHandleForAddressRange");
  OnDeviceOf on(devPtr, "cuMemGetHandleForAddressRange");
  CUdeviceptr b = 0;
  size_t s = 0;
  CUresult r = d.memGetAddressRange(&b, &s, reinterpret_cast<CUdeviceptr>(devPtr));
  if (r != CUDA_SUCCESS) {
    fail(shoalUnhandledCudaError, "cuMemGetAddressRange(%p) failed: %s", devPtr,
         message(d, r).c_str());
  }
  const uintptr_t p = reinterpret_cast<uintptr_t>(devPtr);
  const uintptr_t base = static_cast<uintptr_t>(b);
  if (bytes == 0) bytes = 1;
  if (p + bytes > base + s) {
    fail(shoalInvalidArgument,
         "dma-buf export of [%p, +%zu): the range runs past its allocation [0x%zx, +%zu)", devPtr,
         bytes, static_cast<size_t>(base), s);
  }
  // Page-aligned as the driver requires. A page-aligned allocation (every
  // cudaMalloc of a page or more) contains the rounded-down start; a smaller,
  // sub-allocated one may not, and then the driver decides whether the pages
  // around it (the same physical block) can be exported.
  uintptr_t start = p & ~(hostPage() - 1);
  uintptr_t end = (p + bytes + hostPage() - 1) & ~(hostPage() - 1);
  int fd = -1;
  r = d.memGetHandleForAddressRange(&fd, static_cast<CUdeviceptr>(start), end - start,
                                    CU_MEM_RANGE_HANDLE_TYPE_DMA_BUF_FD, 0);
  if (r != CUDA_SUCCESS || fd < 0) {
    fail(shoalUnhandledCudaError,
         "cuMemGetHandleForAddressRange(dma-buf, [0x%zx, +%zu) for [%p, +%zu) in allocation "
         "[0x%zx, +%zu)) failed: %s",
         static_cast<size_t>(start), static_cast<size_t>(end - start), devPtr, bytes,
         static_cast<size_t>(base), s, message(d, r).c_str());
  }
  *offsetInFd = static_cast<size_t>(p - start);
  return fd;
}

uint64_t allocationId(const void* p) {
  const Driver& d = driver();
  if (!d.loaded || p == nullptr) return 0;
  unsigned long long id = 0;
  CUresult r =
      d.pointerGetAttribute(&id, CU_POINTER_ATTRIBUTE_BUFFER_ID, reinterpret_cast<CUdeviceptr>(p));
  return r == CUDA_SUCCESS ? static_cast<uint64_t>(id) : 0;
}

}  // namespace shoal::cuda
