// Single-producer single-consumer notification queue living in shared memory:
// one per ordered pair of ranks, inside the receiver's mailbox segment. The
// producer publishes an entry with a release store of `head`, so a consumer
// that sees the entry also sees the data written before it (memcpy into a
// mapped segment, or a completed process_vm_writev).
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstring>

namespace shoal::transport::shm {

struct MailboxEntry {
  uint32_t kind;  // Event::Kind
  uint32_t imm;
  uint32_t len;
  uint32_t pad;
  uint8_t payload[64];
};

struct alignas(64) MailboxQueue {
  static constexpr uint32_t kEntries = 256;
  alignas(64) std::atomic<uint64_t> head;  // written by the producer
  alignas(64) std::atomic<uint64_t> tail;  // written by the consumer
  alignas(64) MailboxEntry entries[kEntries];

  // Producer side: whether one more entry fits. tailSeen is the producer's
  // own copy of tail, re-read from the consumer's cache line only when it
  // says full (tail only grows, so a stale copy errs on the safe side).
  bool hasRoom(uint64_t& tailSeen) const {
    const uint64_t h = head.load(std::memory_order_relaxed);
    if (h - tailSeen < kEntries) return true;
    tailSeen = tail.load(std::memory_order_acquire);
    return h - tailSeen < kEntries;
  }
  // Producer side, after hasRoom.
  void push(uint32_t kind, uint32_t imm, const void* payload, uint32_t len) {
    uint64_t h = head.load(std::memory_order_relaxed);
    MailboxEntry& e = entries[h % kEntries];
    e.kind = kind;
    e.imm = imm;
    e.len = len;
    if (len) memcpy(e.payload, payload, len);
    head.store(h + 1, std::memory_order_release);
  }
  // Consumer side. Null when empty; call pop() after using the entry.
  const MailboxEntry* front() const {
    uint64_t t = tail.load(std::memory_order_relaxed);
    if (head.load(std::memory_order_acquire) == t) return nullptr;
    return &entries[t % kEntries];
  }
  void pop() { tail.store(tail.load(std::memory_order_relaxed) + 1, std::memory_order_release); }
};

// One per rank, after its queues: lets the rank sleep in the kernel (futex
// on seq) while it waits, and lets a producer wake it only when it sleeps.
// Producer: publish the entry, full fence, read sleepers; if nonzero, bump
// seq and wake. Consumer: count itself in sleepers, full fence, look at the
// queues once more, then wait while seq is unchanged. With a full fence on
// both sides either the producer sees the sleeper or the consumer sees the
// entry, so no wake-up is lost.
struct alignas(64) Doorbell {
  std::atomic<uint32_t> seq;
  std::atomic<uint32_t> sleepers;
};

static_assert(std::atomic<uint32_t>::is_always_lock_free && sizeof(std::atomic<uint32_t>) == 4,
              "shm doorbell needs 32-bit atomics usable as futex words");
static_assert(std::atomic<uint64_t>::is_always_lock_free,
              "shm mailbox needs lock-free 64-bit atomics");

}  // namespace shoal::transport::shm
