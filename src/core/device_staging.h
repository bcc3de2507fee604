// What the executor needs to run a schedule on GPU buffers when the transport
// moves host memory: a stream for the copies and kernels, pinned send slots
// (device chunks are copied there before the one-sided write), and the
// receive slots pinned and mapped so the reduction kernel reads them in place.
// Every device-side step goes onto the one stream, so stream order alone
// keeps dependent steps in order. The host never blocks on the stream in the
// middle of a call: it records events where it hands memory over (a staged
// chunk before it is written out, a receive slot before its credit goes
// back) and polls them, serving other peers meanwhile.
#pragma once

#include <cstddef>
#include <vector>

#include "cuda/cuda_api.h"

namespace shoal {

class DeviceStaging {
 public:
  // peers x slots send slots of slotBytes each; recvSlots are the executor's
  // receive regions (null for this rank), registered for the GPU here.
  DeviceStaging(int device, size_t slotBytes, int slots, const std::vector<void*>& recvSlots,
                size_t recvBytes);
  ~DeviceStaging();
  DeviceStaging(const DeviceStaging&) = delete;
  DeviceStaging& operator=(const DeviceStaging&) = delete;

  int device() const { return device_; }
  cuda::Stream stream() const { return stream_; }
  char* sendSlot(int peer, uint64_t seq) const;
  // Recorded on the stream behind the chunk for message seq to peer (its
  // staging copy, or the kernel that made it where the transport reads the
  // GPU): the chunk may go once the event has passed. One per send slot, as
  // at most `slots` messages to a peer are staged ahead (its credits).
  cuda::Event sendEvent(int peer, uint64_t seq) const;
  // Recorded behind device work that reads receive slots, so their credits
  // go back once it passed. A ring as long as the receive slots: no more
  // batches can be outstanding than slots they hold.
  cuda::Event nextSlotEvent();
  // Device memory for a schedule's scratch, kept and grown (stream-ordered).
  void* scratch(size_t bytes);
  // Where a kernel can read a received chunk: the slot itself when it is
  // mapped, else a device copy of it (enqueued on the stream).
  const void* readable(const void* slot, size_t bytes);
  // Where a kernel on this GPU can read device memory of GPU `owner`: in
  // place on the same GPU, else a copy (enqueued on the stream).
  const void* onThisDevice(const void* p, size_t bytes, int owner);

 private:
  void release() noexcept;
  void loadKernels();

  int device_;
  size_t slotBytes_;
  int slots_;
  cuda::Stream stream_ = nullptr;
  std::vector<char*> send_;              // per peer: slots x slotBytes, pinned
  std::vector<cuda::Event> sendEvents_;  // per peer: slots (null for this rank)
  std::vector<cuda::Event> slotEvents_;
  size_t nextSlotEvent_ = 0;
  std::vector<void*> registered_;  // receive regions pinned for the GPU
  void* bounce_ = nullptr;         // device copy of a slot, when not mapped
  void* scratch_ = nullptr;
  size_t scratchBytes_ = 0;
};

}  // namespace shoal
