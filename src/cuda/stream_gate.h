// Holds a CUDA stream at a point until the host says go: how a collective
// called with a stream returns at once yet completes in stream order. The
// host publishes tickets in a word of pinned host memory the GPU can read;
// a one-thread kernel on the caller's stream waits for its ticket, so work the
// caller enqueues afterwards starts only once shoal has finished the call.
#pragma once

#include <atomic>
#include <cstdint>

#include "cuda/cuda_api.h"

namespace shoal::cuda {

class StreamGate {
 public:
  StreamGate();
  ~StreamGate();
  StreamGate(const StreamGate&) = delete;
  StreamGate& operator=(const StreamGate&) = delete;

  // Enqueues on s a wait until ticket is released. The wait gives up after
  // timeoutSeconds so a host side that died cannot wedge the GPU forever
  // (the call's error is reported through the communicator then).
  void hold(Stream s, uint64_t ticket, double timeoutSeconds);
  // Releases every ticket up to and including this one.
  void release(uint64_t ticket);

 private:
  std::atomic<uint64_t>* word_ = nullptr;  // pinned, mapped for the GPU
};

}  // namespace shoal::cuda
