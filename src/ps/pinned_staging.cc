#include "ps/pinned_staging.h"

#include <algorithm>

#include "core/deadline.h"
#include "core/error.h"
#include "core/log.h"

namespace shoal::ps {

namespace {
// Sizes are rounded up so tensors of nearby sizes share buffers.
constexpr size_t kGrain = 64 * 1024;
}  // namespace

PinnedStaging::PinnedStaging(std::function<void(void*)> beforeFree)
    : beforeFree_(std::move(beforeFree)) {}

PinnedStaging::~PinnedStaging() {
  // Copies of operations that failed may still run into the buffers.
  for (auto& [device, s] : streams_) {
    try {
      cuda::setDevice(device);
      cuda::streamSync(s, Deadline::after(10), "ps worker: draining its copies at the end");
    } catch (const Error& e) {
      SHOAL_WARN(PS, "%s", e.what());
    }
    cuda::destroyStream(s);
  }
  for (auto& b : buffers_) cuda::pinnedFree(b->data);
  for (auto& b : abandoned_) cuda::pinnedFree(b->data);
}

PinnedStaging::Buffer* PinnedStaging::acquire(size_t bytes) {
  Buffer* best = nullptr;
  Buffer* spare = nullptr;  // the largest free one that is too small
  for (auto& b : buffers_) {
    if (b->busy) continue;
    if (b->bytes >= bytes) {
      if (!best || b->bytes < best->bytes) best = b.get();
    } else if (!spare || b->bytes > spare->bytes) {
      spare = b.get();
    }
  }
  if (!best) {
    size_t want = (std::max<size_t>(bytes, 1) + kGrain - 1) / kGrain * kGrain;
    void* p = cuda::pinnedAlloc(want);
    if (spare) {
      beforeFree_(spare->data);
      cuda::pinnedFree(spare->data);
      best = spare;
    } else {
      buffers_.push_back(std::make_unique<Buffer>());
      best = buffers_.back().get();
    }
    best->data = static_cast<char*>(p);
    best->bytes = want;
  }
  best->busy = true;
  return best;
}

void PinnedStaging::release(Buffer* b, bool reusable) {
  if (reusable) {
    b->busy = false;
    return;
  }
  auto it = std::find_if(buffers_.begin(), buffers_.end(),
                         [&](const std::unique_ptr<Buffer>& o) { return o.get() == b; });
  if (it == buffers_.end()) return;
  abandoned_.push_back(std::move(*it));
  buffers_.erase(it);
}

cuda::Stream PinnedStaging::stream(int device) {
  cuda::setDevice(device);
  auto it = streams_.find(device);
  if (it != streams_.end()) return it->second;
  cuda::Stream s = cuda::createStream();
  streams_[device] = s;
  return s;
}

}  // namespace shoal::ps
