// Two kinds of shm memory: segments the transport allocates (memfd, mapped by
// peers, written with memcpy) and registered user memory (written by peers
// with cross-memory attach, process_vm_writev).
#pragma once

#include <sys/types.h>

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

class SegmentBuffer : public Buffer {
 public:
  explicit SegmentBuffer(size_t bytes);
  ~SegmentBuffer() override;
  RemoteKey key() const override;

 private:
  int fd_ = -1;
  size_t mapped_ = 0;
};

class UserBuffer : public Buffer {
 public:
  UserBuffer(void* ptr, size_t bytes);
  RemoteKey key() const override;
};

// Maps a memfd of another process (through /proc/<pid>/fd/<fd>).
void* mapPeerSegment(pid_t pid, int fd, size_t bytes);

}  // namespace shoal::transport::shm
