// The connection to one peer. RDMA-shaped: a one-sided write into memory the
// peer registered, with a 32-bit immediate the peer sees as an event once the
// data is in place, and small two-sided control messages.
#pragma once

#include <cstddef>
#include <cstdint>

#include "transports/buffer.h"

namespace shoal::transport {

class Pair {
 public:
  virtual ~Pair() = default;
  int peer() const { return peer_; }

  // Writes len bytes from src (local memory; registered or not, the transport
  // registers or stages it as it needs) to dstOffset inside the peer's region
  // `dst`. The peer gets a kWrite event carrying imm after the data landed.
  // When cookie != 0 this side gets a kSendDone event with it once src may be
  // reused. Returns false without side effects when the transport is out of
  // send resources; progress (Context::poll) and retry.
  virtual bool write(const void* src, size_t len, const RemoteKey& dst, size_t dstOffset,
                     uint32_t imm, uint64_t cookie) = 0;
  // write() whose kWrite event also carries `note` (up to
  // Context::maxNoteBytes() bytes) in its payload: a control message that
  // rides with the data instead of costing a message of its own. Only called
  // where maxNoteBytes() is nonzero.
  virtual bool writeWithNote(const void* src, size_t len, const RemoteKey& dst, size_t dstOffset,
                             uint32_t imm, uint64_t cookie, const void* note, size_t noteLen);
  // Sends up to Context::maxCtrlBytes() bytes; the peer gets a kCtrl event.
  // Returns false when out of resources (retry after poll).
  virtual bool sendCtrl(const void* msg, size_t len) = 0;

 protected:
  explicit Pair(int peer) : peer_(peer) {}
  int peer_;
};

}  // namespace shoal::transport
