#include "transports/ucx/buffer.h"

#include <cstring>

#include "core/error.h"
#include "core/log.h"

namespace shoal::transport::ucx {

UcxBuffer::UcxBuffer(std::shared_ptr<UcpLibrary> lib, int rank, void* ptr, size_t bytes)
    : lib_(std::move(lib)) {
  const bool allocate = ptr == nullptr;
  if (bytes == 0) {
    // Nothing to map; a zero-sized key lets peers issue zero-byte writes.
    data_ = ptr;
    return;
  }
  ucp_mem_map_params_t params{};
  params.field_mask = UCP_MEM_MAP_PARAM_FIELD_LENGTH | UCP_MEM_MAP_PARAM_FIELD_FLAGS;
  params.length = bytes;
  params.flags = allocate ? UCP_MEM_MAP_ALLOCATE : 0;
  if (!allocate) {
    params.field_mask |= UCP_MEM_MAP_PARAM_FIELD_ADDRESS;
    params.address = ptr;
  }
  ucs_status_t st = ucp_mem_map(lib_->context, &params, &memh_);
  if (st != UCS_OK) {
    fail(allocate ? shoalSystemError : shoalInvalidArgument,
         "rank %d: UCX ucp_mem_map failed to %s %zu bytes%s: %s", rank,
         allocate ? "allocate" : "register", bytes,
         allocate ? "" : " of caller memory (is the range mapped and writable?)",
         ucs_status_string(st));
  }
  ucp_mem_attr_t attr{};
  attr.field_mask = UCP_MEM_ATTR_FIELD_ADDRESS | UCP_MEM_ATTR_FIELD_LENGTH;
  st = ucp_mem_query(memh_, &attr);
  if (st != UCS_OK) {
    ucp_mem_unmap(lib_->context, memh_);
    fail(shoalInternalError, "rank %d: UCX ucp_mem_query failed: %s", rank, ucs_status_string(st));
  }
  data_ = allocate ? attr.address : ptr;
  size_ = bytes;

  void* packed = nullptr;
  size_t packedLen = 0;
  st = ucp_rkey_pack(lib_->context, memh_, &packed, &packedLen);
  if (st != UCS_OK || packedLen > RemoteKey::kMaxBytes) {
    if (st == UCS_OK) ucp_rkey_buffer_release(packed);
    ucp_mem_unmap(lib_->context, memh_);
    if (st != UCS_OK) {
      fail(shoalInternalError, "rank %d: UCX ucp_rkey_pack failed: %s", rank,
           ucs_status_string(st));
    }
    fail(shoalInternalError,
         "rank %d: UCX packed rkey is %zu bytes, more than the %zu a shoal key holds (too many "
         "memory domains; restrict them with UCX_TLS or UCX_NET_DEVICES)",
         rank, packedLen, RemoteKey::kMaxBytes);
  }
  key_.len = static_cast<uint32_t>(packedLen);
  key_.addr = reinterpret_cast<uint64_t>(data_);
  key_.size = bytes;
  memcpy(key_.bytes, packed, packedLen);
  ucp_rkey_buffer_release(packed);
  lib_->addRegion(data_, size_);
  SHOAL_TRACE(UCX, "rank %d: mapped %zu bytes at %p (%s), rkey %zu bytes", rank, bytes, data_,
              allocate ? "allocated" : "registered", packedLen);
}

UcxBuffer::~UcxBuffer() {
  if (memh_ == nullptr) return;
  lib_->removeRegion(data_, size_);
  ucs_status_t st = ucp_mem_unmap(lib_->context, memh_);
  if (st != UCS_OK) {
    SHOAL_WARN(UCX, "UCX ucp_mem_unmap of %zu bytes at %p failed: %s", size_, data_,
               ucs_status_string(st));
  }
}

}  // namespace shoal::transport::ucx
