// A region of memory registered with a transport. Its key() is what a peer
// needs to write into it (verbs: addr + rkey; UCX: packed rkey; shm: segment
// or process id + address). Keys travel through the bootstrap as bytes.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>

namespace shoal::transport {

struct RemoteKey {
  static constexpr size_t kMaxBytes = 200;
  uint32_t len = 0;
  uint64_t addr = 0;  // base address in the owner's space (informational)
  uint64_t size = 0;  // bytes the owner allows to be written
  uint8_t bytes[kMaxBytes] = {};
};

class Buffer {
 public:
  virtual ~Buffer() = default;
  void* data() const { return data_; }
  size_t size() const { return size_; }
  virtual RemoteKey key() const = 0;

 protected:
  void* data_ = nullptr;
  size_t size_ = 0;
};

}  // namespace shoal::transport
