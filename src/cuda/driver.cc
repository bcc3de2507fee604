#include "cuda/driver.h"

#include <cuda_runtime.h>

#include <mutex>

#include "core/error.h"
#include "cuda/cuda_api.h"

namespace shoal::cuda {
namespace {

// Each symbol at the ABI version its PFN type was declared for, so a newer
// driver keeps handing out the signature compiled against here.
template <class Fn>
bool entry(const char* symbol, unsigned version, Fn* out, std::string* why) {
  void* fn = nullptr;
  cudaDriverEntryPointQueryResult status = cudaDriverEntryPointSymbolNotFound;
  cudaError_t e =
      cudaGetDriverEntryPointByVersion(symbol, &fn, version, cudaEnableDefault, &status);
  if (e != cudaSuccess || status != cudaDriverEntryPointSuccess || fn == nullptr) {
    if (e != cudaSuccess) {
      (void)cudaGetLastError();
      *why = strprintf("cudaGetDriverEntryPointByVersion(%s): %s", symbol, cudaGetErrorString(e));
    } else {
      *why = strprintf("the CUDA driver has no %s (version %u): %s", symbol, version,
                       status == cudaDriverEntryPointVersionNotSufficent ? "driver too old"
                                                                         : "symbol not found");
    }
    return false;
  }
  *out = reinterpret_cast<Fn>(fn);
  return true;
}

}  // namespace

const Driver& driver() {
  static Driver d;
  static std::once_flag once;
  std::call_once(once, [] {
    std::string why;
    if (!available(&why)) {
      d.why = why;
      return;
    }
    d.loaded =
        entry("cuGetErrorString", 6000, &d.getErrorString, &d.why) &&
        entry("cuDeviceGet", 2000, &d.deviceGet, &d.why) &&
        entry("cuDeviceGetAttribute", 2000, &d.deviceGetAttribute, &d.why) &&
        entry("cuMemGetAddressRange", 3020, &d.memGetAddressRange, &d.why) &&
        entry("cuMemGetHandleForAddressRange", 11070, &d.memGetHandleForAddressRange, &d.why) &&
        entry("cuPointerGetAttribute", 4000, &d.pointerGetAttribute, &d.why);
    std::string ignored;
    if (d.loaded) entry("cuStreamWaitValue64", 11070, &d.streamWaitValue64, &ignored);
  });
  return d;
}

const Driver& requireDriver(const char* what) {
  const Driver& d = driver();
  if (!d.loaded)
    fail(shoalUnhandledCudaError, "%s: CUDA driver API unavailable: %s", what, d.why.c_str());
  return d;
}

std::string message(const Driver& d, CUresult r) {
  const char* text = nullptr;
  if (d.getErrorString == nullptr || d.getErrorString(r, &text) != CUDA_SUCCESS || !text)
    return strprintf("CUDA driver error %d", static_cast<int>(r));
  return strprintf("%s (%d)", text, static_cast<int>(r));
}

int deviceAttribute(int device, CUdevice_attribute attr, const char* name, std::string* why) {
  const Driver& d = driver();
  if (!d.loaded) {
    if (why) *why = d.why;
    return -1;
  }
  CUdevice dev = 0;
  CUresult r = d.deviceGet(&dev, device);
  int value = 0;
  if (r == CUDA_SUCCESS) r = d.deviceGetAttribute(&value, attr, dev);
  if (r != CUDA_SUCCESS) {
    if (why) *why = strprintf("GPU %d: reading %s failed: %s", device, name, message(d, r).c_str());
    return -1;
  }
  return value;
}

}  // namespace shoal::cuda
