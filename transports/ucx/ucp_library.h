// The ucp_context of one shoal Context, and the memory mapped in it. Buffers
// share ownership so that a buffer released after its Context still unmaps
// against a live ucp_context.
#pragma once

#include <ucp/api/ucp.h>

#include <cstddef>
#include <cstdint>
#include <map>
#include <mutex>

namespace shoal::transport::ucx {

struct UcpLibrary {
  ucp_context_h context = nullptr;

  // Start and length of every live buffer, so a small write that arrives as
  // data in a message is copied only into memory this side handed out.
  void addRegion(const void* p, size_t len) {
    std::lock_guard<std::mutex> lock(regionsMutex);
    regions.emplace(reinterpret_cast<uintptr_t>(p), len);
  }
  void removeRegion(const void* p, size_t len) {
    std::lock_guard<std::mutex> lock(regionsMutex);
    auto range = regions.equal_range(reinterpret_cast<uintptr_t>(p));
    for (auto it = range.first; it != range.second; ++it) {
      if (it->second == len) {
        regions.erase(it);
        return;
      }
    }
  }
  bool covers(uint64_t addr, size_t len) {
    std::lock_guard<std::mutex> lock(regionsMutex);
    for (auto it = regions.upper_bound(addr); it != regions.begin();) {
      --it;
      if (addr + len >= addr && addr + len <= it->first + it->second) return true;
    }
    return false;
  }

  UcpLibrary() = default;
  UcpLibrary(const UcpLibrary&) = delete;
  UcpLibrary& operator=(const UcpLibrary&) = delete;
  ~UcpLibrary() {
    if (context != nullptr) ucp_cleanup(context);
  }

 private:
  std::mutex regionsMutex;
  std::multimap<uintptr_t, size_t> regions;
};

}  // namespace shoal::transport::ucx
