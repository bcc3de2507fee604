#include "core/device_staging.h"

#include "core/error.h"
#include "core/log.h"
#include "cuda/reduce_kernels.h"

namespace shoal {

DeviceStaging::DeviceStaging(int device, size_t slotBytes, int slots,
                             const std::vector<void*>& recvSlots, size_t recvBytes)
    : device_(device), slotBytes_(slotBytes), slots_(slots) {
  cuda::setDevice(device);
  try {
    stream_ = cuda::createStream();
    loadKernels();
    send_.assign(recvSlots.size(), nullptr);
    sendEvents_.assign(recvSlots.size() * static_cast<size_t>(slots), nullptr);
    for (size_t p = 0; p < recvSlots.size(); ++p) {
      if (!recvSlots[p]) continue;
      send_[p] = static_cast<char*>(cuda::pinnedAlloc(slotBytes * static_cast<size_t>(slots)));
      for (int k = 0; k < slots; ++k) {
        sendEvents_[p * static_cast<size_t>(slots) + static_cast<size_t>(k)] = cuda::createEvent();
        slotEvents_.push_back(cuda::createEvent());
      }
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

// CUDA loads kernels lazily, at their first launch, and loading waits for
// the whole GPU, so a first launch inside a stream-ordered call would wait
// for the caller's stream, which waits for that call. Every kernel the
// executor may launch runs once here, before any stream is parked.
void DeviceStaging::loadKernels() {
  void* one = cuda::deviceAllocAsync(64, stream_);
  cuda::memsetAsync(one, 0, 64, stream_);
  for (int t = 0; t < shoalNumTypes; ++t) {
    auto dtype = static_cast<shoalDataType_t>(t);
    for (int o = 0; o < shoalNumOps; ++o) {
      cuda::reduceAsync(one, one, one, 1, dtype, static_cast<shoalRedOp_t>(o), stream_);
    }
    cuda::divideAsync(one, 1, dtype, 2, stream_);
  }
  cuda::deviceFreeAsync(one, stream_);
  cuda::streamSync(stream_, Deadline::after(60), "loading the GPU reduction kernels");
}

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
  for (cuda::Event e : sendEvents_) cuda::destroyEvent(e);
  sendEvents_.clear();
  for (cuda::Event e : slotEvents_) cuda::destroyEvent(e);
  slotEvents_.clear();
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

cuda::Event DeviceStaging::sendEvent(int peer, uint64_t seq) const {
  return sendEvents_[static_cast<size_t>(peer) * static_cast<size_t>(slots_) +
                     seq % static_cast<uint64_t>(slots_)];
}

cuda::Event DeviceStaging::nextSlotEvent() {
  cuda::Event e = slotEvents_[nextSlotEvent_];
  nextSlotEvent_ = (nextSlotEvent_ + 1) % slotEvents_.size();
  return e;
}

const void* DeviceStaging::onThisDevice(const void* p, size_t bytes, int owner) {
  if (owner == device_) return p;
  if (!bounce_) bounce_ = cuda::deviceAllocAsync(slotBytes_, stream_);
  cuda::copyAsync(bounce_, p, bytes, stream_);
  return bounce_;
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
