// Single-producer single-consumer notification queue living in shared memory:
// one per ordered pair of ranks, inside the receiver's mailbox segment.
//
// Each entry carries its own stamp (the entry's sequence number + 1), stored
// last with release order, so the consumer learns of a new entry and reads it
// from the same cache line: one transfer between cores per small message
// instead of a shared head counter and then the entry. Small writes travel
// inside the entry (the consumer copies them into place before it reports the
// write), which saves the separate line of the destination slot as well.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstring>

namespace shoal::transport::shm {

struct alignas(64) MailboxEntry {
  static constexpr uint8_t kInline = 1;  // flags: the write's data follows the note in body
  std::atomic<uint32_t> stamp;           // sequence + 1 once published
  uint8_t kind;                          // Event::Kind
  uint8_t flags;
  uint16_t len;      // kCtrl: payload bytes; kWrite: data bytes
  uint32_t imm;      // kWrite
  uint16_t noteLen;  // kWrite: control bytes delivered with the write
  uint16_t pad;
  uint64_t addr;      // inline write: destination in the consumer's memory
  uint8_t body[104];  // kCtrl payload, or a write's note then its inline data
};
static_assert(sizeof(MailboxEntry) == 128);
constexpr size_t kEntryBody = sizeof(MailboxEntry::body);

struct alignas(64) MailboxQueue {
  static constexpr uint32_t kEntries = 256;
  alignas(64) std::atomic<uint64_t> head;  // written and read by the producer only
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
  // Producer side, after hasRoom: the entry to fill, then publish().
  MailboxEntry& next() { return entries[head.load(std::memory_order_relaxed) % kEntries]; }
  void publish(MailboxEntry& e) {
    const uint64_t h = head.load(std::memory_order_relaxed);
    e.stamp.store(static_cast<uint32_t>(h + 1), std::memory_order_release);
    head.store(h + 1, std::memory_order_relaxed);
  }
  // Consumer side. Null when empty; call pop() after using the entry. The
  // stamp of a slot not yet rewritten is one lap (kEntries) behind, never
  // equal, so a stale entry is never taken for a new one.
  const MailboxEntry* front() const {
    const uint64_t t = tail.load(std::memory_order_relaxed);
    const MailboxEntry& e = entries[t % kEntries];
    if (e.stamp.load(std::memory_order_acquire) != static_cast<uint32_t>(t + 1)) return nullptr;
    return &e;
  }
  void pop() { tail.store(tail.load(std::memory_order_relaxed) + 1, std::memory_order_release); }
};

// Hints the CPU to move a line this core just wrote out of its private
// caches to the shared one (CLDEMOTE; older x86 CPUs execute it as a NOP),
// so the consumer's read is served from there instead of by a snoop into
// this core's cache. Issued after the entry's stamp: an early demote would
// only be undone by the next store.
inline void demoteLine(const void* p) {
#if defined(__x86_64__)
  asm volatile("cldemote (%0)" ::"r"(p) : "memory");
#else
  (void)p;
#endif
}

// The entry's lines that hold something: the header's line always, the
// second once the body runs past it.
inline void demoteEntry(const MailboxEntry& e, size_t bodyBytes) {
  demoteLine(&e);
  if (offsetof(MailboxEntry, body) + bodyBytes > 64)
    demoteLine(reinterpret_cast<const char*>(&e) + 64);
}
// Slot writes up to this size are demoted line by line; past it the
// receiver streams the data anyway and the hints would only cost issue slots.
constexpr size_t kDemoteMaxBytes = 512;

// One per rank, after its queues: lets the rank sleep in the kernel (futex
// on seq) while it waits, and lets a producer wake it only when it sleeps.
// Producer: publish the entry, read sleepers; if nonzero, bump seq and wake.
// Consumer: count itself in sleepers, look at the queues once more, then
// wait while seq is unchanged. Either the producer must see the sleeper or
// the consumer the entry, which needs a full barrier between each side's
// store and load. Where every rank registered for membarrier(2), the
// consumer's global expedited membarrier is that barrier for both sides
// (it interrupts every CPU running a registered rank), so producers, the
// hot path, fence nothing. Otherwise the consumer fences, and producers do
// only where ranks outnumber cores (elsewhere a missed wake-up costs the
// consumer's timed wait).
struct alignas(64) Doorbell {
  std::atomic<uint32_t> seq;
  std::atomic<uint32_t> sleepers;
  uint32_t membarrier;  // 1: this rank registered; read once, at connect
};

static_assert(std::atomic<uint32_t>::is_always_lock_free && sizeof(std::atomic<uint32_t>) == 4,
              "shm doorbell needs 32-bit atomics usable as futex words");
static_assert(std::atomic<uint64_t>::is_always_lock_free,
              "shm mailbox needs lock-free 64-bit atomics");

}  // namespace shoal::transport::shm
