#pragma once

#include <cstdint>

#include "transports/pair.h"

namespace shoal::transport::shm {

class ShmContext;

class ShmPair : public Pair {
 public:
  ShmPair(ShmContext& ctx, int peer) : Pair(peer), ctx_(ctx) {}
  bool write(const void* src, size_t len, const RemoteKey& dst, size_t dstOffset, uint32_t imm,
             uint64_t cookie) override;
  bool writeWithNote(const void* src, size_t len, const RemoteKey& dst, size_t dstOffset,
                     uint32_t imm, uint64_t cookie, const void* note, size_t noteLen) override;
  bool sendCtrl(const void* msg, size_t len) override;

 private:
  ShmContext& ctx_;
  uint64_t tailSeen_ = 0;  // MailboxQueue::hasRoom's copy of our outbox's tail
};

}  // namespace shoal::transport::shm
