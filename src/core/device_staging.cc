#include "core/device_staging.h"

#include "core/error.h"
#include "core/log.h"

namespace shoal {

DeviceStaging::DeviceStaging(int device, size_t slotBytes, int slots,
                             const std::vector<void*>& recvSlots, size_t recvBytes)
    : device_(device), slotBytes_(slotBytes), slots_(slots) {
  cuda::setDevice(device);
  try {
    stream_ = cuda::createStream();
    send_.assign(recvSlots.size(), nullptr);
    for (size_t p = 0; p < recvSlots.size(); ++p) {
      if (!recvSlots[p]) continue;
      send_[p] = static_cast<char*>(cuda::pinnedAlloc(slotBytes * static_cast<size_t>(slots)));
      try {
        cuda::hostRegister(recvSlots[p], recvBytes);
        registered_.push_back(recvSlots[p]);
      } catch (const Error& e) {
        // Some transport memory cannot be pinned by CUDA; those chunks take a
        // copy to the GPU before the kernel instead.
        SHOAL_INFO(COLL, "receive slots for rank %zu stay unmapped (%s); chunks are copied first",
                   p, e.what());
        if (!bounce_) bounce_ = cuda::deviceAlloc(slotBytes);
      }
    }
  } catch (...) {
    release();
    throw;
  }
}

DeviceStaging::~DeviceStaging() { release(); }

void DeviceStaging::release() noexcept {
  if (stream_) {
    try {
      cuda::streamSync(stream_, Deadline::after(10), "releasing GPU staging");
    } catch (const Error&) {
      // The buffers go anyway; the failure was reported by the call that ran.
    }
  }
  for (void* r : registered_) cuda::hostUnregister(r);
  registered_.clear();
  for (char* s : send_) cuda::pinnedFree(s);
  send_.clear();
  cuda::deviceFree(bounce_);
  bounce_ = nullptr;
  if (scratch_) cuda::deviceFreeAsync(scratch_, stream_);
  scratch_ = nullptr;
  cuda::destroyStream(stream_);
  stream_ = nullptr;
}

char* DeviceStaging::sendSlot(int peer, uint64_t seq) const {
  return send_[static_cast<size_t>(peer)] + (seq % static_cast<uint64_t>(slots_)) * slotBytes_;
}

void* DeviceStaging::scratch(size_t bytes) {
  if (bytes > scratchBytes_) {
    cuda::deviceFreeAsync(scratch_, stream_);
    scratch_ = nullptr;
    scratchBytes_ = 0;
    scratch_ = cuda::deviceAllocAsync(bytes, stream_);
    scratchBytes_ = bytes;
  }
  return scratch_;
}

const void* DeviceStaging::readable(const void* slot, size_t bytes) {
  for (void* r : registered_) {
    const char* base = static_cast<const char*>(r);
    const char* s = static_cast<const char*>(slot);
    if (s >= base && s < base + slotBytes_ * static_cast<size_t>(slots_)) return slot;
  }
  cuda::copyAsync(bounce_, slot, bytes, stream_);
  return bounce_;
}

}  // namespace shoal
