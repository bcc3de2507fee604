#include "transports/verbs/reg_cache.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <vector>

#include "core/error.h"
#include "core/log.h"
#include "cuda/cuda_api.h"
#include "cuda/gdr.h"
#include "transports/verbs/device_mr.h"

namespace shoal::transport::verbs {

namespace {

constexpr uint64_t kPresent = 1ull << 63;
constexpr uint64_t kPfnMask = (1ull << 55) - 1;

uintptr_t pageSize() {
  static const uintptr_t size = static_cast<uintptr_t>(sysconf(_SC_PAGESIZE));
  return size;
}

constexpr int kAccessAll =
    IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_REMOTE_WRITE | IBV_ACCESS_REMOTE_READ;

}  // namespace

RegCache::RegCache(ibv_pd* pd, size_t maxUnusedEntries, size_t maxUnusedBytes)
    : pd_(pd), maxUnusedEntries_(maxUnusedEntries), maxUnusedBytes_(maxUnusedBytes) {
  // Frame numbers read as 0 without CAP_SYS_ADMIN: probe one page we know is mapped.
  int fd = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
  if (fd >= 0) {
    static volatile char probe[1] = {1};
    probe[0] = 2;
    uint64_t entry = 0;
    off_t off = static_cast<off_t>(reinterpret_cast<uintptr_t>(&probe[0]) / pageSize() * 8);
    if (pread(fd, &entry, sizeof(entry), off) == static_cast<ssize_t>(sizeof(entry)) &&
        (entry & kPresent) && (entry & kPfnMask) != 0) {
      pagemapFd_ = fd;
    } else {
      close(fd);
    }
  }
  if (pagemapFd_ < 0) {
    SHOAL_INFO(IB,
               "registration cache: physical frames unreadable (no CAP_SYS_ADMIN); unused "
               "registrations are released at once");
  }
}

RegCache::~RegCache() {
  for (auto& [start, e] : byStart_) {
    if (e->mr) ibv_dereg_mr(e->mr);
    delete e;
  }
  if (pagemapFd_ >= 0) close(pagemapFd_);
}

uint64_t RegCache::fingerprint(uintptr_t start, uintptr_t end) {
  if (pagemapFd_ < 0) return 0;
  uint64_t hash = 1469598103934665603ull;
  std::vector<uint64_t> chunk(4096);
  for (uintptr_t page = start / pageSize(); page < end / pageSize();) {
    size_t n = std::min<uintptr_t>(chunk.size(), end / pageSize() - page);
    ssize_t got = pread(pagemapFd_, chunk.data(), n * 8, static_cast<off_t>(page * 8));
    if (got != static_cast<ssize_t>(n * 8)) return 0;
    for (size_t i = 0; i < n; ++i) {
      uint64_t pfn = (chunk[i] & kPresent) ? (chunk[i] & kPfnMask) : 0;
      hash = (hash ^ (pfn + 1)) * 1099511628211ull;
    }
    page += n;
  }
  return hash | 1;
}

RegEntry* RegCache::find(uintptr_t start, uintptr_t end, bool remoteWrite) {
  // Entries starting after `start` cannot cover it; walk the rest from the nearest.
  auto it = byStart_.upper_bound(start);
  while (it != byStart_.begin()) {
    --it;
    RegEntry* e = it->second;
    if (e->end >= end && (e->writable || !remoteWrite)) return e;
  }
  return nullptr;
}

ibv_mr* RegCache::registerDevice(uintptr_t start, uintptr_t end, int device) {
  void* addr = reinterpret_cast<void*>(start);
  size_t len = end - start;
  GdrMethod method = deviceMethod_ ? deviceMethod_(device) : GdrMethod::kStaging;
  if (method == GdrMethod::kStaging) {
    fail(shoalInvalidUsage,
         "verbs: GPU %d memory [%p, +%zu) cannot be registered: GPUDirect RDMA is not used "
         "between this GPU and NIC (shoal-info --gdr says why), so device buffers must be staged "
         "through host memory",
         device, addr, len);
  }
  std::string err;
  ibv_mr* mr = registerDeviceMemory(pd_, method, addr, len, kAccessAll, &err);
  if (mr == nullptr && errno == ENOMEM && !lru_.empty()) {
    while (!lru_.empty()) destroy(lru_.back());
    mr = registerDeviceMemory(pd_, method, addr, len, kAccessAll, &err);
  }
  if (mr == nullptr) {
    if (deviceFailed_) deviceFailed_(device, err);
    fail(shoalSystemError, "verbs: GPU %d (%s): %s", device, gdrMethodName(method), err.c_str());
  }
  return mr;
}

RegEntry* RegCache::registerRange(uintptr_t start, uintptr_t end, bool remoteWrite,
                                  const void* userAddr) {
  int device = -1;
  cuda::MemoryKind kind = cuda::pointerKind(userAddr, &device);
  if (kind == cuda::MemoryKind::kManaged) {
    // Neither dma-buf nor peer memory covers pages that migrate.
    fail(shoalInvalidUsage,
         "verbs: managed memory %p (GPU %d) cannot be registered with the NIC; stage it through "
         "host memory",
         userAddr, device);
  }
  if (kind == cuda::MemoryKind::kDevice) {
    ibv_mr* mr = registerDevice(start, end, device);
    auto* e = new RegEntry;
    e->start = start;
    e->end = end;
    e->mr = mr;
    e->device = device;
    e->allocation = cuda::allocationId(userAddr);
    byStart_.emplace(start, e);
    ++stats_.registrations;
    SHOAL_TRACE(IB, "registered GPU %d memory [%p, +%zu) lkey 0x%x rkey 0x%x", device,
                reinterpret_cast<void*>(start), static_cast<size_t>(end - start), mr->lkey,
                mr->rkey);
    return e;
  }
  void* addr = reinterpret_cast<void*>(start);
  size_t len = end - start;
  ibv_mr* mr = ibv_reg_mr(pd_, addr, len, kAccessAll);
  if (mr == nullptr && errno == ENOMEM && !lru_.empty()) {
    // Pinned-memory limit: give back what nobody uses and try once more.
    while (!lru_.empty()) destroy(lru_.back());
    mr = ibv_reg_mr(pd_, addr, len, kAccessAll);
  }
  bool writable = true;
  if (mr == nullptr && !remoteWrite && (errno == EFAULT || errno == EACCES || errno == EPERM)) {
    // Read-only pages (e.g. const data) can still be the source of a write.
    mr = ibv_reg_mr(pd_, addr, len, 0);
    writable = false;
  }
  if (mr == nullptr) {
    int err = errno;
    fail(
        shoalSystemError, "verbs: ibv_reg_mr(%p, %zu bytes) failed: %s%s", addr, len, strerror(err),
        err == ENOMEM ? " (locked-memory limit too low? raise it with `ulimit -l unlimited`)" : "");
  }
  auto* e = new RegEntry;
  e->start = start;
  e->end = end;
  e->mr = mr;
  e->writable = writable;
  e->frames = fingerprint(start, end);
  byStart_.emplace(start, e);
  ++stats_.registrations;
  SHOAL_TRACE(IB, "registered [%p, +%zu) lkey 0x%x rkey 0x%x", addr, len, mr->lkey, mr->rkey);
  return e;
}

bool RegCache::stillValid(const RegEntry* e, const void* addr) {
  if (e->device >= 0) return e->allocation != 0 && cuda::allocationId(addr) == e->allocation;
  return e->frames != 0 && fingerprint(e->start, e->end) == e->frames;
}

RegEntry* RegCache::acquire(const void* addr, size_t len, bool remoteWrite) {
  uintptr_t a = reinterpret_cast<uintptr_t>(addr);
  uintptr_t start = a & ~(pageSize() - 1);
  uintptr_t end = (a + (len ? len : 1) + pageSize() - 1) & ~(pageSize() - 1);
  RegEntry* e = find(start, end, remoteWrite);
  if (e != nullptr && e->inLru) {
    // Unused since its last release: its pages may have been freed and replaced.
    if (!stillValid(e, addr)) {
      ++stats_.invalidations;
      SHOAL_INFO(IB, "registration [%p, +%zu) is stale (memory freed and reused); re-registering",
                 reinterpret_cast<void*>(e->start), static_cast<size_t>(e->end - e->start));
      destroy(e);
      e = nullptr;
    } else {
      lru_.erase(e->lru);
      e->inLru = false;
      unusedBytes_ -= e->end - e->start;
    }
  }
  if (e != nullptr) {
    ++stats_.hits;
  } else {
    e = registerRange(start, end, remoteWrite, addr);
  }
  ++e->refs;
  return e;
}

RegEntry* RegCache::adopt(ibv_mr* mr) {
  auto* e = new RegEntry;
  e->start = reinterpret_cast<uintptr_t>(mr->addr);
  e->end = e->start + mr->length;
  e->mr = mr;
  e->owned = true;
  e->refs = 1;
  byStart_.emplace(e->start, e);
  return e;
}

void RegCache::release(RegEntry* e) {
  if (--e->refs > 0) return;
  if (e->owned || (e->device >= 0 ? e->allocation == 0 : e->frames == 0)) {
    // Transport memory goes with its Buffer; unverifiable registrations cannot be kept.
    destroy(e);
    return;
  }
  lru_.push_front(e);
  e->lru = lru_.begin();
  e->inLru = true;
  unusedBytes_ += e->end - e->start;
  trim();
}

void RegCache::trim() {
  while (!lru_.empty() && (lru_.size() > maxUnusedEntries_ || unusedBytes_ > maxUnusedBytes_)) {
    ++stats_.evictions;
    destroy(lru_.back());
  }
}

void RegCache::destroy(RegEntry* e) {
  if (e->inLru) {
    lru_.erase(e->lru);
    unusedBytes_ -= e->end - e->start;
  }
  auto range = byStart_.equal_range(e->start);
  for (auto it = range.first; it != range.second; ++it) {
    if (it->second == e) {
      byStart_.erase(it);
      break;
    }
  }
  if (e->mr && ibv_dereg_mr(e->mr) != 0) {
    SHOAL_WARN(IB, "ibv_dereg_mr([%p, +%zu)) failed: %s", reinterpret_cast<void*>(e->start),
               static_cast<size_t>(e->end - e->start), strerror(errno));
  }
  delete e;
}

}  // namespace shoal::transport::verbs
