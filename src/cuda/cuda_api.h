// The CUDA runtime as the rest of shoal sees it. No CUDA header leaks out of
// src/cuda, so core code, transports and tests compile the same with and
// without SHOAL_WITH_CUDA; without it available() says so and every other
// call fails with shoalInvalidUsage. Failures throw shoal::Error naming the
// CUDA call and the runtime's own message (cudaGetErrorString).
//
// Tests and tools call these instead of cudart directly: libshoal links cudart
// statically, and one runtime per process keeps pointer queries consistent.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "core/deadline.h"

namespace shoal::cuda {

using Stream = void*;  // cudaStream_t
using Event = void*;   // cudaEvent_t

// Whether this build has CUDA and this process sees a GPU; *why names what is
// missing (no toolkit at build time, no driver, no device).
bool available(std::string* why = nullptr);
int deviceCount();

enum class MemoryKind { kHost, kDevice, kManaged };
// Host memory, pinned or not, is kHost. *device gets the owning GPU (-1 for
// host memory). Never throws for a host pointer, also without a GPU.
MemoryKind pointerKind(const void* p, int* device = nullptr);
inline bool onDevice(const void* p) { return pointerKind(p) != MemoryKind::kHost; }

int currentDevice();
void setDevice(int device);
// cudaSetDevice without a throw, for destructors (a failure is left alone).
void restoreDevice(int device) noexcept;

// Makes a GPU current for a scope and restores the previous one after;
// nothing for device < 0 (host memory).
class DeviceScope {
 public:
  explicit DeviceScope(int device) {
    if (device < 0) return;
    const int prev = currentDevice();
    if (prev == device) return;
    setDevice(device);
    prev_ = prev;
  }
  ~DeviceScope() {
    if (prev_ >= 0) restoreDevice(prev_);
  }
  DeviceScope(const DeviceScope&) = delete;
  DeviceScope& operator=(const DeviceScope&) = delete;

 private:
  int prev_ = -1;
};
// "0000:00:06.0", lower case, as hwloc and sysfs spell PCI addresses.
std::string pciBusId(int device);

void* deviceAlloc(size_t bytes);
void deviceFree(void* p) noexcept;
// Stream-ordered (cudaMallocAsync): unlike cudaMalloc/cudaFree these never
// wait for other streams, so they are safe while a caller's stream is held
// behind a stream-ordered call that is still running.
void* deviceAllocAsync(size_t bytes, Stream s);
void deviceFreeAsync(void* p, Stream s) noexcept;
// Page-locked host memory, mapped into the GPU's address space.
void* pinnedAlloc(size_t bytes);
void pinnedFree(void* p) noexcept;
// Pins and maps caller memory so kernels read it in place over PCIe (the
// executor's receive slots, which a kernel reduces from directly).
void hostRegister(void* p, size_t bytes);
void hostUnregister(void* p) noexcept;

Stream createStream();  // non-blocking with respect to the legacy stream
void destroyStream(Stream s) noexcept;
// Any direction (cudaMemcpyDefault); enqueued on s.
void copyAsync(void* dst, const void* src, size_t bytes, Stream s);
void memsetAsync(void* dst, int value, size_t bytes, Stream s);
// Waits for all work on s. Polls, so a stuck stream fails with shoalTimeout
// naming `what` when the deadline passes instead of blocking forever.
void streamSync(Stream s, Deadline deadline, const char* what);
// Synchronous copy in any direction (tests, tools, staging set-up).
void copy(void* dst, const void* src, size_t bytes);

// CUDA IPC between processes of one node (cudaIpc* handles): a device
// allocation exported by one process and mapped into another's address space
// on its current GPU (peer access enabled as needed, also for the same GPU).
constexpr size_t kIpcHandleBytes = 64;
void ipcExport(void* devPtr, uint8_t handle[kIpcHandleBytes]);
void* ipcOpen(const uint8_t handle[kIpcHandleBytes]);
void ipcClose(void* mapped) noexcept;

Event createEvent();  // timing disabled
void destroyEvent(Event e) noexcept;
void recordEvent(Event e, Stream s);
bool eventDone(Event e);
void streamWaitEvent(Stream s, Event e);

}  // namespace shoal::cuda
