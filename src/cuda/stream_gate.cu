#include <cuda_runtime.h>

#include <new>

#include "core/error.h"
#include "cuda/stream_gate.h"

namespace shoal::cuda {
namespace {

__device__ uint64_t globalNanos() {
  uint64_t t;
  asm volatile("mov.u64 %0, %%globaltimer;" : "=l"(t));
  return t;
}

// One thread; sleeps between reads so it costs the SM next to nothing.
__global__ void waitForTicket(const volatile uint64_t* word, uint64_t ticket, uint64_t timeoutNs) {
  const uint64_t start = globalNanos();
  while (*word < ticket) {
    if (globalNanos() - start > timeoutNs) return;
    __nanosleep(2000);
  }
}

}  // namespace

StreamGate::StreamGate() {
  void* p = pinnedAlloc(sizeof(std::atomic<uint64_t>));
  word_ = new (p) std::atomic<uint64_t>(0);
}

StreamGate::~StreamGate() { pinnedFree(word_); }

void StreamGate::hold(Stream s, uint64_t ticket, double timeoutSeconds) {
  const auto* word = reinterpret_cast<const volatile uint64_t*>(word_);
  uint64_t timeoutNs = static_cast<uint64_t>(timeoutSeconds * 1e9);
  waitForTicket<<<1, 1, 0, static_cast<cudaStream_t>(s)>>>(word, ticket, timeoutNs);
  cudaError_t e = cudaGetLastError();
  if (e != cudaSuccess) {
    fail(shoalUnhandledCudaError, "launching the stream wait failed: %s", cudaGetErrorString(e));
  }
}

void StreamGate::release(uint64_t ticket) {
  uint64_t cur = word_->load(std::memory_order_relaxed);
  while (cur < ticket && !word_->compare_exchange_weak(cur, ticket, std::memory_order_release)) {
  }
}

}  // namespace shoal::cuda
