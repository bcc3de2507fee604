// cuda_api.h over the CUDA runtime (linked statically, see CMakeLists.txt).
#include <cuda_runtime.h>
#include <sched.h>

#include <cctype>
#include <cstring>
#include <mutex>

#include "core/error.h"
#include "core/log.h"
#include "cuda/cuda_api.h"

namespace shoal::cuda {
namespace {

[[noreturn]] void failCuda(const char* call, cudaError_t e) {
  fail(shoalUnhandledCudaError, "%s failed: %s (%s)", call, cudaGetErrorString(e),
       cudaGetErrorName(e));
}

void check(cudaError_t e, const char* call) {
  if (e != cudaSuccess) failCuda(call, e);
}

cudaStream_t st(Stream s) { return static_cast<cudaStream_t>(s); }
cudaEvent_t ev(Event e) { return static_cast<cudaEvent_t>(e); }

}  // namespace

int deviceCount() {
  // The answer cannot change inside a process, and asking again after a
  // failed driver load would only repeat the failure.
  static int count = [] {
    int n = 0;
    cudaError_t e = cudaGetDeviceCount(&n);
    if (e != cudaSuccess) {
      (void)cudaGetLastError();
      return -static_cast<int>(e);
    }
    return n;
  }();
  return count > 0 ? count : 0;
}

bool available(std::string* why) {
  int n = 0;
  cudaError_t e = cudaGetDeviceCount(&n);
  if (e != cudaSuccess) {
    (void)cudaGetLastError();
    if (why) *why = strprintf("no usable GPU: cudaGetDeviceCount: %s", cudaGetErrorString(e));
    return false;
  }
  if (n == 0) {
    if (why) *why = "no GPU visible to this process";
    return false;
  }
  return true;
}

MemoryKind pointerKind(const void* p, int* device) {
  if (device) *device = -1;
  if (p == nullptr || deviceCount() == 0) return MemoryKind::kHost;
  cudaPointerAttributes a{};
  cudaError_t e = cudaPointerGetAttributes(&a, p);
  if (e != cudaSuccess) {
    // Older runtimes report plain malloc'd memory as an invalid value.
    (void)cudaGetLastError();
    return MemoryKind::kHost;
  }
  switch (a.type) {
    case cudaMemoryTypeDevice:
      if (device) *device = a.device;
      return MemoryKind::kDevice;
    case cudaMemoryTypeManaged:
      if (device) *device = a.device;
      return MemoryKind::kManaged;
    default:
      return MemoryKind::kHost;
  }
}

int currentDevice() {
  int d = 0;
  check(cudaGetDevice(&d), "cudaGetDevice");
  return d;
}

void setDevice(int device) { check(cudaSetDevice(device), "cudaSetDevice"); }

void restoreDevice(int device) noexcept { (void)cudaSetDevice(device); }

std::string pciBusId(int device) {
  char buf[32] = {};
  check(cudaDeviceGetPCIBusId(buf, sizeof(buf), device), "cudaDeviceGetPCIBusId");
  std::string s(buf);
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

void* deviceAlloc(size_t bytes) {
  void* p = nullptr;
  cudaError_t e = cudaMalloc(&p, bytes ? bytes : 1);
  if (e != cudaSuccess) {
    fail(shoalUnhandledCudaError, "cudaMalloc(%zu bytes) failed: %s", bytes, cudaGetErrorString(e));
  }
  return p;
}

void deviceFree(void* p) noexcept {
  if (p) (void)cudaFree(p);
}

void* deviceAllocAsync(size_t bytes, Stream s) {
  void* p = nullptr;
  cudaError_t e = cudaMallocAsync(&p, bytes ? bytes : 1, st(s));
  if (e != cudaSuccess) {
    fail(shoalUnhandledCudaError, "cudaMallocAsync(%zu bytes) failed: %s", bytes,
         cudaGetErrorString(e));
  }
  return p;
}

void deviceFreeAsync(void* p, Stream s) noexcept {
  if (p) (void)cudaFreeAsync(p, st(s));
}

void* pinnedAlloc(size_t bytes) {
  void* p = nullptr;
  cudaError_t e = cudaHostAlloc(&p, bytes ? bytes : 1, cudaHostAllocMapped | cudaHostAllocPortable);
  if (e != cudaSuccess) {
    fail(shoalUnhandledCudaError, "cudaHostAlloc(%zu bytes) failed: %s", bytes,
         cudaGetErrorString(e));
  }
  return p;
}

void pinnedFree(void* p) noexcept {
  if (p) (void)cudaFreeHost(p);
}

void hostRegister(void* p, size_t bytes) {
  cudaError_t e = cudaHostRegister(p, bytes, cudaHostRegisterMapped | cudaHostRegisterPortable);
  if (e != cudaSuccess) {
    fail(shoalUnhandledCudaError, "cudaHostRegister(%p, %zu bytes) failed: %s", p, bytes,
         cudaGetErrorString(e));
  }
}

void hostUnregister(void* p) noexcept {
  if (p) (void)cudaHostUnregister(p);
}

Stream createStream() {
  cudaStream_t s = nullptr;
  check(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking), "cudaStreamCreateWithFlags");
  return s;
}

void destroyStream(Stream s) noexcept {
  if (s) (void)cudaStreamDestroy(st(s));
}

void copyAsync(void* dst, const void* src, size_t bytes, Stream s) {
  if (bytes == 0) return;
  check(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDefault, st(s)), "cudaMemcpyAsync");
}

void memsetAsync(void* dst, int value, size_t bytes, Stream s) {
  if (bytes == 0) return;
  check(cudaMemsetAsync(dst, value, bytes, st(s)), "cudaMemsetAsync");
}

void streamSync(Stream s, Deadline deadline, const char* what) {
  // Spin briefly (most waits are a copy or a kernel of microseconds), then
  // yield; cudaStreamSynchronize itself has no timeout.
  for (int i = 0;; ++i) {
    cudaError_t e = cudaStreamQuery(st(s));
    if (e == cudaSuccess) return;
    if (e != cudaErrorNotReady) failCuda(what, e);
    if ((i & 63) == 63) {
      if (deadline.expired()) {
        fail(shoalTimeout,
             "%s: the GPU did not finish its work before the deadline (SHOAL_TIMEOUT)", what);
      }
      sched_yield();
    }
  }
}

void copy(void* dst, const void* src, size_t bytes) {
  if (bytes == 0) return;
  check(cudaMemcpy(dst, src, bytes, cudaMemcpyDefault), "cudaMemcpy");
}

void ipcExport(void* devPtr, uint8_t handle[kIpcHandleBytes]) {
  static_assert(sizeof(cudaIpcMemHandle_t) == kIpcHandleBytes);
  cudaIpcMemHandle_t h;
  check(cudaIpcGetMemHandle(&h, devPtr), "cudaIpcGetMemHandle");
  memcpy(handle, &h, sizeof(h));
}

void* ipcOpen(const uint8_t handle[kIpcHandleBytes]) {
  cudaIpcMemHandle_t h;
  memcpy(&h, handle, sizeof(h));
  void* p = nullptr;
  check(cudaIpcOpenMemHandle(&p, h, cudaIpcMemLazyEnablePeerAccess), "cudaIpcOpenMemHandle");
  return p;
}

void ipcClose(void* mapped) noexcept {
  if (mapped) (void)cudaIpcCloseMemHandle(mapped);
}

Event createEvent() {
  cudaEvent_t e = nullptr;
  check(cudaEventCreateWithFlags(&e, cudaEventDisableTiming), "cudaEventCreateWithFlags");
  return e;
}

void destroyEvent(Event e) noexcept {
  if (e) (void)cudaEventDestroy(ev(e));
}

void recordEvent(Event e, Stream s) { check(cudaEventRecord(ev(e), st(s)), "cudaEventRecord"); }

bool eventDone(Event e) {
  cudaError_t r = cudaEventQuery(ev(e));
  if (r == cudaSuccess) return true;
  if (r == cudaErrorNotReady) return false;
  failCuda("cudaEventQuery", r);
}

void streamWaitEvent(Stream s, Event e) {
  check(cudaStreamWaitEvent(st(s), ev(e), 0), "cudaStreamWaitEvent");
}

}  // namespace shoal::cuda
