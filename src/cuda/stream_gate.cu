#include <cuda_runtime.h>

#include <algorithm>
#include <new>
#include <string>

#include "core/config.h"
#include "core/error.h"
#include "core/log.h"
#include "cuda/driver.h"
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

StreamGate::~StreamGate() {
  // A stream parked by a memory operation has no timeout: whatever the
  // proxy did not release (it releases all) goes now, before the word does.
  release(issued_);
  pinnedFree(word_);
}

void* StreamGate::memopWord(int device) {
  if (device < 0) return nullptr;
  if (gpus_.size() <= static_cast<size_t>(device)) gpus_.resize(static_cast<size_t>(device) + 1);
  PerGpu& g = gpus_[static_cast<size_t>(device)];
  if (!g.known) {
    const std::string want = config::getString("SHOAL_CUDA_GATE");
    if (want != "auto" && want != "kernel")
      SHOAL_WARN(COLL, "SHOAL_CUDA_GATE=%s is neither auto nor kernel; using auto", want.c_str());
    std::string why;
    int attr = deviceAttribute(device, CU_DEVICE_ATTRIBUTE_CAN_USE_64_BIT_STREAM_MEM_OPS,
                               "CU_DEVICE_ATTRIBUTE_CAN_USE_64_BIT_STREAM_MEM_OPS", &why);
    if (want != "kernel" && attr > 0 && driver().streamWaitValue64 != nullptr) {
      cudaError_t e = cudaHostGetDevicePointer(&g.word, word_, 0);
      if (e != cudaSuccess) {
        fail(shoalUnhandledCudaError, "cudaHostGetDevicePointer for the stream gate failed: %s",
             cudaGetErrorString(e));
      }
    }
    g.known = true;
    SHOAL_INFO(COLL, "GPU %d: stream-ordered calls park the caller's stream with %s", device,
               g.word ? "a stream memory operation (cuStreamWaitValue64)"
               : want == "kernel"
                   ? "a polling kernel (SHOAL_CUDA_GATE=kernel)"
                   : strprintf("a polling kernel (no 64-bit stream memory operations: %s)",
                               attr == 0 ? "the GPU reports none" : why.c_str())
                         .c_str());
  }
  return g.word;
}

const char* StreamGate::mode(int device) { return memopWord(device) ? "memop" : "kernel"; }

void StreamGate::hold(Stream s, uint64_t ticket, double timeoutSeconds) {
  issued_ = std::max(issued_, ticket);
  const int device = currentDevice();
  if (void* dptr = memopWord(device)) {
    const Driver& d = driver();
    CUresult r = d.streamWaitValue64(static_cast<CUstream>(s), reinterpret_cast<CUdeviceptr>(dptr),
                                     ticket, CU_STREAM_WAIT_VALUE_GEQ);
    if (r != CUDA_SUCCESS) {
      fail(shoalUnhandledCudaError, "cuStreamWaitValue64 on GPU %d failed: %s", device,
           message(d, r).c_str());
    }
    return;
  }
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
