// Holds a CUDA stream at a point until the host says go: how a collective
// called with a stream returns at once yet completes in stream order. The
// host publishes tickets in a word of pinned host memory the GPU can read,
// and the caller's stream waits for its ticket, so work the caller enqueues
// afterwards starts only once shoal has finished the call.
//
// The wait is a stream memory operation (cuStreamWaitValue64) where the GPU
// has them: the stream's front end waits and no kernel occupies the GPU, so
// another process's work on the same GPU is not shut out while shoal's host
// side runs. Elsewhere (or SHOAL_CUDA_GATE=kernel) a one-thread kernel
// polls the word.
#pragma once

#include <atomic>
#include <cstdint>
#include <vector>

#include "cuda/cuda_api.h"

namespace shoal::cuda {

class StreamGate {
 public:
  StreamGate();
  // Releases every ticket handed out, then frees the word.
  ~StreamGate();
  StreamGate(const StreamGate&) = delete;
  StreamGate& operator=(const StreamGate&) = delete;

  // Enqueues on s (a stream of the current GPU) a wait until ticket is
  // released. Tickets count up from 1. The kernel form gives up after
  // timeoutSeconds so a host side that vanished cannot wedge the GPU; the
  // memory-operation form has no timeout of its own: the proxy releases every
  // ticket, each call bounded by the communicator's deadline.
  void hold(Stream s, uint64_t ticket, double timeoutSeconds);
  // Releases every ticket up to and including this one.
  void release(uint64_t ticket);
  // "memop" or "kernel": how hold parks a stream of this GPU.
  const char* mode(int device);

 private:
  // The word's device address on this GPU when the memory operation parks
  // its streams, null where the kernel does; worked out once per GPU.
  void* memopWord(int device);

  std::atomic<uint64_t>* word_ = nullptr;  // pinned, mapped for the GPU
  uint64_t issued_ = 0;                    // the largest ticket held
  struct PerGpu {
    bool known = false;
    void* word = nullptr;  // see memopWord
  };
  std::vector<PerGpu> gpus_;
};

}  // namespace shoal::cuda
