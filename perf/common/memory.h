// Where a benchmark's send and receive buffers live. The driver fills and
// checks data on the host; with device buffers it copies the pattern in and
// the result out around the checked call, and waits for the stream after
// each timed batch (nccl-tests' timing: enqueue the iterations, then
// synchronize). HostMemory is the default and needs no CUDA, so the MPI and
// Gloo baselines link without it; DeviceMemory (device_memory.h) is the -g 1
// twin in the shoal-linked part.
#pragma once

#include <cstddef>
#include <string>

namespace perf {

class Memory {
 public:
  virtual ~Memory() = default;

  // Zeroed, page-aligned. Throws RuntimeError naming the size.
  virtual void* allocate(size_t bytes) = 0;
  virtual void release(void* p) noexcept = 0;
  // Whether allocate() returns memory the host cannot touch: the driver then
  // stages data through host copies with upload()/download().
  virtual bool onDevice() const { return false; }
  virtual void upload(void* dst, const void* hostSrc, size_t bytes);
  virtual void download(void* hostDst, const void* src, size_t bytes);
  // The stream passed to every collective (nullptr for host memory), and the
  // wait for everything queued on it.
  virtual void* stream() const { return nullptr; }
  virtual void synchronize() {}
  // Appended to this rank's "# Using devices" line; empty for host memory.
  virtual std::string describe() const { return {}; }
};

class HostMemory : public Memory {
 public:
  void* allocate(size_t bytes) override;
  void release(void* p) noexcept override;
};

}  // namespace perf
