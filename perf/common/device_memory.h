// -g 1: buffers in GPU memory and one CUDA stream per rank, through shoal's
// own CUDA layer (src/cuda/cuda_api.h), so the process holds one CUDA runtime
// (the one libshoal links statically) and the perf tools need no CUDA headers.
// Without CUDA in the build, or without a GPU, the constructor throws one line
// saying which.
#pragma once

#include <string>

#include "common/memory.h"

namespace perf {

class DeviceMemory : public Memory {
 public:
  // GPU (local rank % visible GPUs); the local rank comes from
  // SHOAL_LOCAL_RANK, OMPI_COMM_WORLD_LOCAL_RANK or LOCAL_RANK, else 0.
  DeviceMemory();
  ~DeviceMemory() override;
  DeviceMemory(const DeviceMemory&) = delete;
  DeviceMemory& operator=(const DeviceMemory&) = delete;

  int device() const { return device_; }

  void* allocate(size_t bytes) override;
  void release(void* p) noexcept override;
  bool onDevice() const override { return true; }
  void upload(void* dst, const void* hostSrc, size_t bytes) override;
  void download(void* hostDst, const void* src, size_t bytes) override;
  void* stream() const override { return stream_; }
  void synchronize() override;
  std::string describe() const override;

 private:
  int device_ = 0;
  void* stream_ = nullptr;
};

// This process's rank on its host, from the launcher's variables; 0 if none.
int localRank();

}  // namespace perf
