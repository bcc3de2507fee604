#include "transports/verbs/buffer.h"

#include <sys/mman.h>

#include <cstring>

#include "core/error.h"

namespace shoal::transport::verbs {

VerbsBuffer::VerbsBuffer(std::shared_ptr<Domain> domain, RegEntry* entry, void* data, size_t size,
                         bool ownsMemory)
    : domain_(std::move(domain)), entry_(entry), ownsMemory_(ownsMemory) {
  data_ = data;
  size_ = size;
}

VerbsBuffer::~VerbsBuffer() {
  // Deregister before unmapping: the MR pins the pages being returned.
  domain_->cache->release(entry_);
  if (ownsMemory_) munmap(data_, size_);
}

RemoteKey VerbsBuffer::key() const {
  return encodeKey(reinterpret_cast<uint64_t>(data_), entry_->mr->rkey, size_);
}

}  // namespace shoal::transport::verbs
