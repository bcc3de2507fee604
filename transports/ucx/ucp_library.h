// The ucp_context of one shoal Context. Buffers share ownership so that a
// buffer released after its Context still unmaps against a live ucp_context.
#pragma once

#include <ucp/api/ucp.h>

namespace shoal::transport::ucx {

struct UcpLibrary {
  ucp_context_h context = nullptr;

  UcpLibrary() = default;
  UcpLibrary(const UcpLibrary&) = delete;
  UcpLibrary& operator=(const UcpLibrary&) = delete;
  ~UcpLibrary() {
    if (context != nullptr) ucp_cleanup(context);
  }
};

}  // namespace shoal::transport::ucx
