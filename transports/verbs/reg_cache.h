// Memory registration cache for one protection domain.
//
// Registering memory pins its pages and costs a system call plus page-table work,
// so registrations are reused: a lookup returns any live entry whose range covers
// the request. Entries nobody references any more (no live Buffer, no write in
// flight) stay registered in an LRU list bounded by SHOAL_IB_REG_CACHE_ENTRIES and
// SHOAL_IB_REG_CACHE_BYTES, and the least recently used is deregistered first.
//
// Reuse after free: when the owner frees memory and a later allocation lands at the
// same address, a cached registration still points at the old physical pages, so a
// write would send stale bytes. Nothing is hooked (no malloc/munmap interposition).
// Instead an unused entry is revalidated before it is handed out again: at
// registration the cache records a fingerprint of the range's physical frame numbers
// from /proc/self/pagemap, and a revived entry whose frames changed is deregistered
// and registered afresh. Frame numbers are readable only with CAP_SYS_ADMIN; without
// them the cache cannot tell, so unused entries are deregistered at once (entries are
// still shared while referenced). Memory must not be freed while a Buffer that
// registered it is alive or a write from it is in flight, as with ibv_reg_mr itself.
//
// Fork: with rdma-core >= 35 on Linux >= 5.13 (ibv_is_fork_initialized() ==
// IBV_FORK_UNNEEDED) a fork after registration is safe: the kernel gives the child
// copies of pinned pages. shoal does not call ibv_fork_init() (it must precede every
// other verbs call, which a library cannot promise); on older systems set
// RDMAV_FORK_SAFE=1 or do not fork once a communicator exists.
//
// GPU memory: a range CUDA reports as device memory is registered by the
// GPUDirect RDMA method the owner chose for its GPU (setDeviceMethod; see
// gdr.h and device_mr.h), never by plain ibv_reg_mr unless that method is
// peermem; with no method (staging) it is refused. Its pages are not in the
// CPU's page tables, so instead of frame numbers an unused entry is checked
// against CUDA's allocation id before reuse. An unused GPU registration keeps
// its dma-buf (and so, after cudaFree, possibly its GPU memory) until it is
// evicted or found stale; SHOAL_IB_REG_CACHE_ENTRIES/BYTES bound that too.
#pragma once

#include <infiniband/verbs.h>

#include <cstddef>
#include <cstdint>
#include <functional>
#include <list>
#include <map>
#include <string>

#include "transports/verbs/gdr.h"

namespace shoal::transport::verbs {

struct RegEntry {
  uintptr_t start = 0;  // page-aligned range [start, end)
  uintptr_t end = 0;
  ibv_mr* mr = nullptr;
  int refs = 0;
  bool owned = false;       // memory allocated by the transport: never evicted or revalidated
  bool writable = true;     // false: read-only memory, usable as a write source only
  uint64_t frames = 0;      // fingerprint of the physical frames at registration (0: unknown)
  int device = -1;          // CUDA device of GPU memory; -1 for host memory
  uint64_t allocation = 0;  // GPU memory: CUDA's id of the allocation registered (0: unknown)
  std::list<RegEntry*>::iterator lru;
  bool inLru = false;
};

struct RegCacheStats {
  uint64_t hits = 0;
  uint64_t registrations = 0;
  uint64_t evictions = 0;
  uint64_t invalidations = 0;  // revived entries whose pages had changed
};

class RegCache {
 public:
  RegCache(ibv_pd* pd, size_t maxUnusedEntries, size_t maxUnusedBytes);
  ~RegCache();
  RegCache(const RegCache&) = delete;
  RegCache& operator=(const RegCache&) = delete;

  // A referenced entry whose MR covers [addr, addr + len), registering on a miss.
  // remoteWrite: peers will write into it (else it is only read locally, and
  // read-only pages are accepted). Throws shoal::Error when registration fails.
  RegEntry* acquire(const void* addr, size_t len, bool remoteWrite);
  void release(RegEntry* entry);
  // One more reference to an entry already held (a write striped over several WRs).
  void retain(RegEntry* entry) { ++entry->refs; }
  // Takes over an MR of transport-owned memory (Context::allocate); referenced once.
  RegEntry* adopt(ibv_mr* mr);

  // How GPU memory of a CUDA device is registered, asked at each registration
  // of device memory; failed(device, message) hears of a registration the
  // kernel refused after the method was chosen. Unset: device memory is refused.
  using DeviceMethod = std::function<GdrMethod(int cudaDevice)>;
  using DeviceFailed = std::function<void(int cudaDevice, const std::string& message)>;
  void setDeviceMethod(DeviceMethod method, DeviceFailed failed) {
    deviceMethod_ = std::move(method);
    deviceFailed_ = std::move(failed);
  }

  const RegCacheStats& stats() const { return stats_; }
  size_t entries() const { return byStart_.size(); }
  bool validates() const { return pagemapFd_ >= 0; }

 private:
  RegEntry* find(uintptr_t start, uintptr_t end, bool remoteWrite);
  RegEntry* registerRange(uintptr_t start, uintptr_t end, bool remoteWrite, const void* addr);
  ibv_mr* registerDevice(uintptr_t start, uintptr_t end, int device);
  bool stillValid(const RegEntry* e, const void* addr);
  void destroy(RegEntry* entry);
  void trim();
  uint64_t fingerprint(uintptr_t start, uintptr_t end);

  ibv_pd* pd_;
  size_t maxUnusedEntries_;
  size_t maxUnusedBytes_;
  size_t unusedBytes_ = 0;
  std::multimap<uintptr_t, RegEntry*> byStart_;
  std::list<RegEntry*> lru_;  // unused entries, most recently released at the front
  int pagemapFd_ = -1;
  RegCacheStats stats_;
  DeviceMethod deviceMethod_;
  DeviceFailed deviceFailed_;
};

}  // namespace shoal::transport::verbs
