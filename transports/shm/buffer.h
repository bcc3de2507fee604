// Two kinds of shm memory: segments the transport allocates (memfd, mapped by
// peers, written with memcpy) and registered user memory (written by peers
// with cross-memory attach, process_vm_writev).
#pragma once

#include <sys/types.h>

#include <atomic>
#include <memory>
#include <mutex>
#include <vector>

#include "transports/buffer.h"

namespace shoal::transport::shm {

enum class KeyKind : uint32_t { kSegment = 1, kCma = 2 };

// Serialized into RemoteKey::bytes.
struct KeyData {
  KeyKind kind;
  int32_t pid;
  int32_t fd;  // kSegment: the owner's memfd
  uint32_t pad;
  uint64_t segBytes;  // kSegment: whole mapping size
};

// The memory of this rank that peers may write, so that a small write a peer
// sends inside a mailbox entry is copied only into a live region of ours:
// the destination address comes from another process and is checked.
class OwnRegions {
 public:
  // The caller's memory of the last region found: while no region came or
  // went since, a hit there needs no lock.
  struct Hint {
    uint64_t generation = ~uint64_t{0};
    uint64_t begin = 0, end = 0;
  };
  void add(const void* p, size_t bytes);
  void remove(const void* p);
  bool contains(uint64_t addr, size_t bytes, Hint& hint);

 private:
  std::mutex mu_;  // buffers may be released on another thread than the one polling
  std::atomic<uint64_t> generation_{0};
  std::vector<std::pair<uint64_t, uint64_t>> list_;  // [begin, end)
};

class SegmentBuffer : public Buffer {
 public:
  explicit SegmentBuffer(size_t bytes, std::shared_ptr<OwnRegions> regions = nullptr);
  ~SegmentBuffer() override;
  RemoteKey key() const override;

 private:
  int fd_ = -1;
  size_t mapped_ = 0;
  std::shared_ptr<OwnRegions> regions_;
};

// The key of `bytes` at `addr` in process `pid`, written by cross-memory
// attach: a registered buffer's own, or a place a peer named (a landing).
RemoteKey cmaKey(pid_t pid, uint64_t addr, uint64_t bytes);

class UserBuffer : public Buffer {
 public:
  UserBuffer(void* ptr, size_t bytes, std::shared_ptr<OwnRegions> regions = nullptr);
  ~UserBuffer() override;
  RemoteKey key() const override;

 private:
  std::shared_ptr<OwnRegions> regions_;
};

// Maps a memfd of another process (through /proc/<pid>/fd/<fd>). With gone
// given, a process or descriptor that no longer exists (the peer exited, or
// freed the memory) sets *gone and returns null instead of failing.
void* mapPeerSegment(pid_t pid, int fd, size_t bytes, bool* gone = nullptr);

}  // namespace shoal::transport::shm
