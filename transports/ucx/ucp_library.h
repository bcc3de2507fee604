// The ucp_context of one shoal Context, and the memory mapped in it. Buffers
// share ownership so that a buffer released after its Context still unmaps
// against a live ucp_context.
#pragma once

#include <ucp/api/ucp.h>

#include <cstddef>
#include <cstdint>

#include "transports/ucx/regions.h"

namespace shoal::transport::ucx {

struct UcpLibrary {
  ucp_context_h context = nullptr;

  // Every live buffer: a small write arriving as data is copied only there.
  void addRegion(const void* p, size_t len) { regions.add(p, len); }
  void removeRegion(const void* p, size_t len) { regions.remove(p, len); }
  RegionSet& regionSet() { return regions; }

  UcpLibrary() = default;
  UcpLibrary(const UcpLibrary&) = delete;
  UcpLibrary& operator=(const UcpLibrary&) = delete;
  ~UcpLibrary() {
    if (context != nullptr) ucp_cleanup(context);
  }

 private:
  RegionSet regions;
};

}  // namespace shoal::transport::ucx
