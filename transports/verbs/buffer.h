// Registered memory of the verbs transport. Its RemoteKey carries the address and
// rkey a peer needs for an RDMA write into it.
#pragma once

#include <memory>

#include "transports/buffer.h"
#include "transports/verbs/handles.h"
#include "transports/verbs/wire.h"  // WireKey, decodeKey

namespace shoal::transport::verbs {

class VerbsBuffer : public Buffer {
 public:
  // entry: a reference the buffer now owns. ownsMemory: data was mmap'ed by the
  // transport and is unmapped with the buffer.
  VerbsBuffer(std::shared_ptr<Domain> domain, RegEntry* entry, void* data, size_t size,
              bool ownsMemory);
  ~VerbsBuffer() override;
  RemoteKey key() const override;

 private:
  std::shared_ptr<Domain> domain_;
  RegEntry* entry_;
  bool ownsMemory_;
};

}  // namespace shoal::transport::verbs
