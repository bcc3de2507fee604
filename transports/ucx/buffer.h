// Memory mapped with ucp_mem_map. Its key is the packed rkey plus the base
// address the writer adds its offset to.
#pragma once

#include <ucp/api/ucp.h>

#include <memory>

#include "transports/buffer.h"
#include "transports/ucx/ucp_library.h"

namespace shoal::transport::ucx {

class UcxBuffer : public Buffer {
 public:
  // ptr == nullptr lets UCX allocate the memory (it picks shared-memory
  // segments peers on the host can attach, or pinned pages for RDMA);
  // otherwise maps the caller's range.
  UcxBuffer(std::shared_ptr<UcpLibrary> lib, int rank, void* ptr, size_t bytes);
  ~UcxBuffer() override;
  UcxBuffer(const UcxBuffer&) = delete;
  UcxBuffer& operator=(const UcxBuffer&) = delete;

  RemoteKey key() const override { return key_; }

 private:
  std::shared_ptr<UcpLibrary> lib_;
  ucp_mem_h memh_ = nullptr;
  RemoteKey key_;
};

}  // namespace shoal::transport::ucx
