#include "core/ipc_slots.h"

#include "core/error.h"
#include "core/log.h"
#include "cuda/gdr.h"

namespace shoal {

IpcSlots::IpcSlots(int device, const std::vector<bool>& local, int slots, size_t slotBytes)
    : device_(device), slots_(slots), slotBytes_(slotBytes) {
  int rings = 0;
  ring_.assign(local.size(), -1);
  for (size_t p = 0; p < local.size(); ++p) {
    if (local[p]) ring_[p] = rings++;
  }
  cuda::setDevice(device);
  own_ = static_cast<char*>(cuda::deviceAlloc(static_cast<size_t>(rings) * ringBytes()));
  try {
    cuda::ipcExport(own_, handle_);
    stream_ = cuda::createStream();
  } catch (...) {
    cuda::deviceFree(own_);
    throw;
  }
  mapped_.assign(local.size(), nullptr);
  rings_.assign(local.size(), nullptr);
}

IpcSlots::~IpcSlots() {
  for (void* m : mapped_) cuda::ipcClose(m);
  cuda::destroyStream(stream_);
  cuda::deviceFree(own_);
}

uint64_t IpcSlots::offsetFor(int peer) const {
  const int k = ring_[static_cast<size_t>(peer)];
  if (k < 0) fail(shoalInternalError, "GPU slots: rank %d is not on this host", peer);
  return static_cast<uint64_t>(k) * ringBytes();
}

char* IpcSlots::ownSlot(int peer, uint64_t seq) const {
  return own_ + offsetFor(peer) + (seq % static_cast<uint64_t>(slots_)) * slotBytes_;
}

void IpcSlots::fetch(void* host, const char* slot, size_t bytes, Deadline deadline) {
  cuda::DeviceScope on(device_);
  cuda::copyAsync(host, slot, bytes, stream_);
  cuda::streamSync(stream_, deadline, "reading a chunk from this rank's GPU slot");
}

bool IpcSlots::open(int peer, const uint8_t* handle, uint64_t offset, std::string* why) {
  void* base = nullptr;
  try {
    base = cuda::ipcOpen(handle);
    // The peer's word for where the ring is must fall inside what it
    // exported: a bad offset would have this rank write past its allocation.
    uintptr_t start = 0;
    size_t size = 0;
    cuda::allocationRange(base, &start, &size);
    const uintptr_t b = reinterpret_cast<uintptr_t>(base);
    const size_t at = b >= start ? static_cast<size_t>(b - start) : size + 1;
    if (at > size || offset > size - at || ringBytes() > size - at - offset) {
      cuda::ipcClose(base);
      *why = strprintf("its ring [+%llu, %zu bytes) lies outside its %zu-byte allocation",
                       static_cast<unsigned long long>(offset), ringBytes(), size);
      return false;
    }
  } catch (const Error& e) {
    if (base) cuda::ipcClose(base);
    *why = e.what();
    return false;
  }
  mapped_[static_cast<size_t>(peer)] = base;
  rings_[static_cast<size_t>(peer)] = static_cast<char*>(base) + offset;
  return true;
}

char* IpcSlots::peerSlot(int peer, uint64_t seq) const {
  char* ring = rings_[static_cast<size_t>(peer)];
  if (!ring) return nullptr;
  return ring + (seq % static_cast<uint64_t>(slots_)) * slotBytes_;
}

}  // namespace shoal
