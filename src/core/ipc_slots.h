// GPU receive slots shared over CUDA IPC between the ranks of one node, so a
// chunk from GPU buffers to GPU buffers crosses once, GPU to GPU, instead of
// device -> pinned host -> transport -> device. Used between ranks whose
// bootstrap host identities match, whatever transport connects them (the
// transport then carries only control messages and zero-byte writes), so a
// hierarchical allreduce's intra-node steps take it on a multi-node job.
//
// Each rank that runs a call on GPU buffers exports one device allocation
// holding a slot ring per peer (the same slots x slotBytes as its host
// slots) and tells each peer, on the executor's connection, the handle and
// where that peer's ring starts (exec_wire.h DeviceSlotsMsg). A peer that
// also runs on GPU buffers maps it, copies a chunk into the slot on its
// stream and, once the copy has completed, sends a zero-byte write flagged
// kDeviceSlotBit in place of the data. Credits, message numbers and every
// other rule of the connection stay as they are, so any chunk may still take
// the host path (a peer that cannot map the slots, a host call, a landing).
//
// Allocated at the first call on GPU buffers and kept until the executor
// goes: peers may hold the mapping for as long as the connection lives.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "cuda/cuda_api.h"

namespace shoal {

class IpcSlots {
 public:
  // Allocates and exports one ring per peer on this host (local[p] true),
  // none for the others, so a multi-node job holds GPU memory only for a
  // node's worth of peers. Throws when CUDA refuses.
  IpcSlots(int device, const std::vector<bool>& local, int slots, size_t slotBytes);
  ~IpcSlots();
  IpcSlots(const IpcSlots&) = delete;
  IpcSlots& operator=(const IpcSlots&) = delete;

  int device() const { return device_; }
  const uint8_t* handle() const { return handle_; }
  // Where peer's ring starts in the allocation (peer must be local).
  uint64_t offsetFor(int peer) const;
  size_t ringBytes() const { return static_cast<size_t>(slots_) * slotBytes_; }
  // Where peer's message seq lands in this rank's allocation.
  char* ownSlot(int peer, uint64_t seq) const;

  // The sender side: maps peer's allocation (its handle and the offset of
  // this rank's ring there). False with *why when CUDA refuses (the peer's
  // GPU cannot be reached from this one): that peer then gets host slots.
  bool open(int peer, const uint8_t* handle, uint64_t offset, std::string* why);
  // Where message seq to peer goes, or null while peer's slots are not mapped.
  char* peerSlot(int peer, uint64_t seq) const;
  // A host-buffer call's read of a chunk in this rank's slot: copied on a
  // stream of the slots' own (never the legacy default stream, which a
  // caller's stream parked behind this very call may block), bounded by
  // the deadline.
  void fetch(void* host, const char* slot, size_t bytes, Deadline deadline);

 private:
  int device_;
  int slots_;
  size_t slotBytes_;
  char* own_ = nullptr;
  std::vector<int> ring_;  // per rank: index of its ring, -1 if not local
  cuda::Stream stream_ = nullptr;
  uint8_t handle_[cuda::kIpcHandleBytes] = {};
  std::vector<void*> mapped_;  // per peer: the base cudaIpcOpenMemHandle returned
  std::vector<char*> rings_;   // per peer: this rank's ring inside it
};

}  // namespace shoal
