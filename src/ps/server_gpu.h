// A server's partitions in GPU memory (SHOAL_PS_SERVER_DEVICE=cuda): values,
// sync-round sums and optimizer state live on one device; pushes stay in the
// transport's receive slots, pinned and mapped so the update kernels read
// them in place; pull answers go out from a pinned copy of the value unless
// the transport reads GPU memory itself (Context::writesFromDevice). Every
// update is waited for before it returns, so a slot may be written again
// once its push is acknowledged, as on the CPU.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>

#include "cuda/cuda_api.h"
#include "ps/optimizer.h"
#include "shoal/shoal.h"

namespace shoal::ps {

class GpuStore {
 public:
  GpuStore(int rank, int device, double timeoutSeconds);
  ~GpuStore();
  GpuStore(const GpuStore&) = delete;
  GpuStore& operator=(const GpuStore&) = delete;

  int device() const { return device_; }

  // One partition's memory; zero-filled at creation, freed with it.
  struct Part {
    Part() = default;
    Part(const Part&) = delete;
    Part& operator=(const Part&) = delete;
    ~Part();
    size_t bytes = 0;
    void* value = nullptr;     // device
    void* accum = nullptr;     // device, sync mode: the round being summed
    void* state = nullptr;     // device, momentum
    void* pullCopy = nullptr;  // pinned host: the value pull answers send
    uint64_t copiedVersion = UINT64_MAX;
  };
  std::unique_ptr<Part> createPart(size_t bytes, bool accum, bool state);

  // Receive-slot memory pinned and mapped for the GPU until destroyed.
  class Mapping {
   public:
    explicit Mapping(void* p) : p_(p) {}
    ~Mapping();
    Mapping(const Mapping&) = delete;
    Mapping& operator=(const Mapping&) = delete;

   private:
    void* p_;
  };
  std::unique_ptr<Mapping> map(void* p, size_t bytes);

  // ps::applyUpdate on the GPU over count elements, waited for.
  void update(const UpdateRule& rule, bool replace, void* value, const void* g, void* state,
              size_t count, shoalDataType_t dtype, const char* what);
  // The partition's value at `version` in pinned host memory: copied from the
  // device once per version (the value only changes while no answer reads it).
  const void* forPull(Part& p, uint64_t version);

 private:
  void wait(const char* what);

  int rank_;
  int device_;
  double timeout_;
  cuda::Stream stream_ = nullptr;
};

}  // namespace shoal::ps
