// Start and length of every live buffer of a UCX context, so that a small
// write arriving as data in a message (kWriteInline) is copied only into
// memory this side handed out. Free of UCX, so fuzz/ucx_wire_fuzz.cc checks
// the very test UcxPair::deliver applies.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <mutex>

namespace shoal::transport::ucx {

class RegionSet {
 public:
  void add(const void* p, size_t len) {
    std::lock_guard<std::mutex> lock(mutex_);
    regions_.emplace(reinterpret_cast<uintptr_t>(p), len);
  }
  void remove(const void* p, size_t len) {
    std::lock_guard<std::mutex> lock(mutex_);
    auto range = regions_.equal_range(reinterpret_cast<uintptr_t>(p));
    for (auto it = range.first; it != range.second; ++it) {
      if (it->second == len) {
        regions_.erase(it);
        return;
      }
    }
  }
  // Whether [addr, addr + len) lies inside one live buffer.
  bool covers(uint64_t addr, size_t len) {
    std::lock_guard<std::mutex> lock(mutex_);
    if (addr + len < addr) return false;
    // Every region starting at or before addr, nearest first.
    for (auto it = regions_.upper_bound(addr); it != regions_.begin();) {
      --it;
      if (addr + len <= it->first + it->second) return true;
    }
    return false;
  }

 private:
  std::mutex mutex_;
  std::multimap<uintptr_t, size_t> regions_;
};

}  // namespace shoal::transport::ucx
