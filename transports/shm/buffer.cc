#include "transports/shm/buffer.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cstdio>

#include "core/error.h"

namespace shoal::transport::shm {

void OwnRegions::add(const void* p, size_t bytes) {
  const auto begin = reinterpret_cast<uint64_t>(p);
  std::lock_guard<std::mutex> lock(mu_);
  list_.emplace_back(begin, begin + bytes);
  generation_.fetch_add(1, std::memory_order_release);
}

void OwnRegions::remove(const void* p) {
  const auto begin = reinterpret_cast<uint64_t>(p);
  std::lock_guard<std::mutex> lock(mu_);
  generation_.fetch_add(1, std::memory_order_release);
  for (size_t i = 0; i < list_.size(); ++i) {
    if (list_[i].first == begin) {
      list_[i] = list_.back();
      list_.pop_back();
      return;
    }
  }
}

bool OwnRegions::contains(uint64_t addr, size_t bytes, Hint& hint) {
  auto inside = [&](uint64_t begin, uint64_t end) {
    return addr >= begin && addr <= end && bytes <= end - addr;
  };
  if (hint.generation == generation_.load(std::memory_order_acquire) &&
      inside(hint.begin, hint.end)) {
    return true;
  }
  std::lock_guard<std::mutex> lock(mu_);
  for (auto [begin, end] : list_) {
    if (inside(begin, end)) {
      hint = {generation_.load(std::memory_order_relaxed), begin, end};
      return true;
    }
  }
  return false;
}

SegmentBuffer::SegmentBuffer(size_t bytes, std::shared_ptr<OwnRegions> regions)
    : regions_(std::move(regions)) {
  mapped_ = (bytes + 4095) & ~size_t{4095};
  if (mapped_ == 0) mapped_ = 4096;
  // memfd rather than a named segment: nothing is left in /dev/shm when a
  // rank dies, the memory goes away with the last mapping.
  fd_ = memfd_create("shoal-shm", MFD_CLOEXEC);
  if (fd_ < 0) failErrno("shm: memfd_create(%zu bytes)", mapped_);
  if (ftruncate(fd_, static_cast<off_t>(mapped_)) != 0) {
    int saved = errno;
    close(fd_);
    errno = saved;
    failErrno("shm: ftruncate(%zu bytes)", mapped_);
  }
  void* p = mmap(nullptr, mapped_, PROT_READ | PROT_WRITE, MAP_SHARED, fd_, 0);
  if (p == MAP_FAILED) {
    int saved = errno;
    close(fd_);
    errno = saved;
    failErrno("shm: mmap(%zu bytes)", mapped_);
  }
  data_ = p;
  size_ = bytes;
  if (regions_) regions_->add(data_, size_);
}

SegmentBuffer::~SegmentBuffer() {
  if (regions_ && data_) regions_->remove(data_);
  if (data_) munmap(data_, mapped_);
  if (fd_ >= 0) close(fd_);
}

RemoteKey SegmentBuffer::key() const {
  RemoteKey k;
  KeyData d{KeyKind::kSegment, static_cast<int32_t>(getpid()), fd_, 0, mapped_};
  memcpy(k.bytes, &d, sizeof(d));
  k.len = sizeof(d);
  k.addr = reinterpret_cast<uint64_t>(data_);
  k.size = size_;
  return k;
}

UserBuffer::UserBuffer(void* ptr, size_t bytes, std::shared_ptr<OwnRegions> regions)
    : regions_(std::move(regions)) {
  data_ = ptr;
  size_ = bytes;
  if (regions_) regions_->add(data_, size_);
}

UserBuffer::~UserBuffer() {
  if (regions_) regions_->remove(data_);
}

RemoteKey cmaKey(pid_t pid, uint64_t addr, uint64_t bytes) {
  RemoteKey k;
  KeyData d{KeyKind::kCma, static_cast<int32_t>(pid), -1, 0, 0};
  memcpy(k.bytes, &d, sizeof(d));
  k.len = sizeof(d);
  k.addr = addr;
  k.size = bytes;
  return k;
}

RemoteKey UserBuffer::key() const {
  return cmaKey(getpid(), reinterpret_cast<uint64_t>(data_), size_);
}

void* mapPeerSegment(pid_t pid, int fd, size_t bytes, bool* gone) {
  char path[64];
  snprintf(path, sizeof(path), "/proc/%d/fd/%d", static_cast<int>(pid), fd);
  int local = open(path, O_RDWR | O_CLOEXEC);
  if (local < 0 && gone && (errno == ENOENT || errno == ESRCH)) {
    *gone = true;
    return nullptr;
  }
  if (local < 0)
    failErrno("shm: cannot open peer segment %s (same user and ptrace access needed)", path);
  void* p = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_SHARED, local, 0);
  int saved = errno;
  close(local);
  if (p == MAP_FAILED) {
    errno = saved;
    failErrno("shm: mmap of peer segment %s", path);
  }
  return p;
}

}  // namespace shoal::transport::shm
