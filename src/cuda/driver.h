// The CUDA driver API entry points shoal uses, reached through the runtime's
// cudaGetDriverEntryPointByVersion rather than by linking libcuda: libshoal
// must load on machines without an NVIDIA driver. Only .cc/.cu files under
// src/cuda include this (it pulls in cuda.h).
#pragma once

#include <cuda.h>
#include <cudaTypedefs.h>

#include <string>

namespace shoal::cuda {

struct Driver {
  bool loaded = false;
  std::string why;  // when not loaded
  PFN_cuGetErrorString_v6000 getErrorString = nullptr;
  PFN_cuDeviceGet_v2000 deviceGet = nullptr;
  PFN_cuDeviceGetAttribute_v2000 deviceGetAttribute = nullptr;
  PFN_cuMemGetAddressRange_v3020 memGetAddressRange = nullptr;
  PFN_cuMemGetHandleForAddressRange_v11070 memGetHandleForAddressRange = nullptr;
  PFN_cuPointerGetAttribute_v4000 pointerGetAttribute = nullptr;
  // Optional: null where the driver lacks it (the stream gate then keeps its
  // kernel); not part of `loaded`.
  PFN_cuStreamWaitValue64_v11070 streamWaitValue64 = nullptr;
};

// Loaded once per process; !loaded with `why` when CUDA or a symbol is missing.
const Driver& driver();
// Throws shoalUnhandledCudaError naming `what` when the driver is not loaded.
const Driver& requireDriver(const char* what);
// The driver's own text for r, with its number.
std::string message(const Driver& d, CUresult r);
// -1 with *why set when the attribute cannot be read.
int deviceAttribute(int device, CUdevice_attribute attr, const char* name, std::string* why);

}  // namespace shoal::cuda
