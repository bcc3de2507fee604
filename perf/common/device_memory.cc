#include "common/device_memory.h"

#include <cstdlib>
#include <string>

#include "common/runtime.h"
#include "core/deadline.h"
#include "cuda/cuda_api.h"

namespace perf {

int localRank() {
  for (const char* v : {"SHOAL_LOCAL_RANK", "OMPI_COMM_WORLD_LOCAL_RANK", "LOCAL_RANK"}) {
    const char* s = getenv(v);
    if (s == nullptr || *s == '\0') continue;
    char* end = nullptr;
    const long r = strtol(s, &end, 10);
    if (*end != '\0' || r < 0) throw RuntimeError(std::string(v) + "='" + s + "' is not a rank");
    return static_cast<int>(r);
  }
  return 0;
}

DeviceMemory::DeviceMemory() {
  std::string why;
  if (!shoal::cuda::available(&why)) throw RuntimeError("-g 1: " + why);
  const int local = localRank();
  device_ = local % shoal::cuda::deviceCount();
  shoal::cuda::setDevice(device_);
  stream_ = shoal::cuda::createStream();
}

DeviceMemory::~DeviceMemory() { shoal::cuda::destroyStream(stream_); }

void* DeviceMemory::allocate(size_t bytes) {
  const size_t rounded = bytes == 0 ? 4096 : (bytes + 4095) / 4096 * 4096;
  void* p = shoal::cuda::deviceAlloc(rounded);
  try {
    shoal::cuda::memsetAsync(p, 0, rounded, stream_);
    synchronize();
  } catch (...) {
    shoal::cuda::deviceFree(p);
    throw;
  }
  return p;
}

void DeviceMemory::release(void* p) noexcept { shoal::cuda::deviceFree(p); }

// On the benchmark's stream, which does not synchronize with the legacy
// default stream that a plain cudaMemcpy would use.
void DeviceMemory::upload(void* dst, const void* hostSrc, size_t bytes) {
  shoal::cuda::copyAsync(dst, hostSrc, bytes, stream_);
  synchronize();
}

void DeviceMemory::download(void* hostDst, const void* src, size_t bytes) {
  shoal::cuda::copyAsync(hostDst, src, bytes, stream_);
  synchronize();
}

void DeviceMemory::synchronize() {
  shoal::cuda::streamSync(stream_, shoal::Deadline::fromConfig(),
                          "synchronizing the benchmark's stream");
}

std::string DeviceMemory::describe() const {
  return "cuda device " + std::to_string(device_) + " [" + shoal::cuda::pciBusId(device_) + "]";
}

}  // namespace perf
