#include "common/memory.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <string>

#include "common/runtime.h"

namespace perf {

void Memory::upload(void* dst, const void* hostSrc, size_t bytes) { memcpy(dst, hostSrc, bytes); }

void Memory::download(void* hostDst, const void* src, size_t bytes) { memcpy(hostDst, src, bytes); }

// Touched here, so first-use page faults stay out of the timing.
void* HostMemory::allocate(size_t bytes) {
  const size_t rounded = std::max<size_t>(4096, (bytes + 4095) / 4096 * 4096);
  void* p = aligned_alloc(4096, rounded);
  if (p == nullptr) throw RuntimeError("cannot allocate " + std::to_string(rounded) + " bytes");
  memset(p, 0, rounded);
  return p;
}

void HostMemory::release(void* p) noexcept { free(p); }

}  // namespace perf
