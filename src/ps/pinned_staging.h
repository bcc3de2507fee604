// How a worker moves GPU memory where the transport cannot (see
// Context::writesFromDevice; pulls into GPU memory always): through pinned
// host buffers, copied on a stream of the worker's own per device. Buffers
// are kept and reused across operations (each one used by one operation at a
// time); one that is too small is freed and replaced by a larger one when it
// is next free.
#pragma once

#include <cstddef>
#include <functional>
#include <map>
#include <memory>
#include <vector>

#include "cuda/cuda_api.h"

namespace shoal::ps {

class PinnedStaging {
 public:
  // beforeFree(p) runs before a pinned buffer is given back to CUDA (the
  // worker drops the transport registration of p there).
  explicit PinnedStaging(std::function<void(void*)> beforeFree);
  ~PinnedStaging();
  PinnedStaging(const PinnedStaging&) = delete;
  PinnedStaging& operator=(const PinnedStaging&) = delete;

  struct Buffer {
    char* data = nullptr;
    size_t bytes = 0;
    bool busy = false;
  };
  // A buffer of at least `bytes` for one operation.
  Buffer* acquire(size_t bytes);
  // reusable: nothing reads or writes the buffer any more. An operation that
  // failed may still have a copy or a transfer on it; its buffer is set aside
  // until the worker ends instead.
  void release(Buffer* b, bool reusable);
  // The worker's stream on `device`, which is made current.
  cuda::Stream stream(int device);

 private:
  std::function<void(void*)> beforeFree_;
  std::vector<std::unique_ptr<Buffer>> buffers_;
  std::vector<std::unique_ptr<Buffer>> abandoned_;
  std::map<int, cuda::Stream> streams_;
};

}  // namespace shoal::ps
