#include "transports/shm/context.h"

#include <sys/mman.h>
#include <unistd.h>

#include <new>

#include "core/bootstrap.h"
#include "core/config.h"
#include "core/error.h"
#include "core/log.h"
#include "transports/shm/pair.h"

namespace shoal::transport::shm {

ShmContext::ShmContext(int rank, int size)
    : Context(rank, size),
      peerMailboxes_(size, nullptr),
      peerMailboxBytes_(size, 0),
      peerPids_(size, 0) {
  cma_ = config::getBool("SHOAL_SHM_CMA");
}

ShmContext::~ShmContext() {
  for (auto& [k, m] : mapped_) munmap(m.first, m.second);
  for (int p = 0; p < size_; ++p) {
    if (peerMailboxes_[p] && p != rank_) munmap(peerMailboxes_[p], peerMailboxBytes_[p]);
  }
}

std::unique_ptr<Buffer> ShmContext::allocate(size_t bytes) {
  return std::make_unique<SegmentBuffer>(bytes);
}

std::unique_ptr<Buffer> ShmContext::registerMemory(void* ptr, size_t bytes) {
  if (!cma_) {
    fail(shoalInvalidUsage,
         "shm: registering user memory needs cross-memory attach, disabled by SHOAL_SHM_CMA=0");
  }
  return std::make_unique<UserBuffer>(ptr, bytes);
}

void ShmContext::connect(Bootstrap& bootstrap, Deadline deadline) {
  size_t bytes = sizeof(MailboxQueue) * static_cast<size_t>(size_);
  mailbox_ = std::make_unique<SegmentBuffer>(bytes);
  auto* queues = static_cast<MailboxQueue*>(mailbox_->data());
  for (int p = 0; p < size_; ++p) {
    new (&queues[p].head) std::atomic<uint64_t>(0);
    new (&queues[p].tail) std::atomic<uint64_t>(0);
  }
  RemoteKey mine = mailbox_->key();
  std::vector<RemoteKey> all(size_);
  bootstrap.allgather(&mine, all.data(), sizeof(RemoteKey), deadline);
  for (int p = 0; p < size_; ++p) {
    KeyData kd;
    memcpy(&kd, all[p].bytes, sizeof(kd));
    peerPids_[p] = kd.pid;
    if (p == rank_) {
      peerMailboxes_[p] = queues;
    } else {
      peerMailboxes_[p] = static_cast<MailboxQueue*>(mapPeerSegment(kd.pid, kd.fd, kd.segBytes));
      peerMailboxBytes_[p] = kd.segBytes;
    }
  }
  pairs_.clear();
  for (int p = 0; p < size_; ++p) pairs_.push_back(std::make_unique<ShmPair>(*this, p));
  // Nobody may write into a mailbox before its owner mapped all of them:
  // peers' segments are opened through /proc/<pid>/fd while the owner lives.
  bootstrap.barrier(deadline);
  SHOAL_INFO(SHM, "shm: connected %d ranks through mailboxes of %zu bytes", size_, bytes);
}

Pair& ShmContext::pair(int peer) { return *pairs_.at(static_cast<size_t>(peer)); }

MailboxQueue& ShmContext::outbox(int peer) { return peerMailboxes_[peer][rank_]; }
MailboxQueue& ShmContext::inbox(int peer) { return peerMailboxes_[rank_][peer]; }

void* ShmContext::peerSegment(int peer, pid_t pid, int fd, size_t bytes) {
  auto key = std::make_pair(peer, fd);
  auto it = mapped_.find(key);
  if (it != mapped_.end() && it->second.second == bytes) return it->second.first;
  if (it != mapped_.end()) {  // the fd number was reused for another segment
    munmap(it->second.first, it->second.second);
    mapped_.erase(it);
  }
  void* p = mapPeerSegment(pid, fd, bytes);
  mapped_[key] = {p, bytes};
  return p;
}

size_t ShmContext::poll(Event* events, size_t max) {
  size_t n = 0;
  while (n < max && !local_.empty()) {
    events[n++] = local_.front();
    local_.pop_front();
  }
  // Rotate the starting peer so no sender starves the others.
  for (int i = 0; i < size_ && n < max; ++i) {
    int p = (pollStart_ + i) % size_;
    MailboxQueue& q = inbox(p);
    while (n < max) {
      const MailboxEntry* e = q.front();
      if (!e) break;
      Event& ev = events[n++];
      ev.kind = static_cast<Event::Kind>(e->kind);
      ev.peer = p;
      ev.imm = e->imm;
      ev.len = e->len <= Event::kMaxCtrl ? e->len : 0;
      if (ev.len) memcpy(ev.payload, e->payload, ev.len);
      q.pop();
    }
  }
  pollStart_ = (pollStart_ + 1) % (size_ ? size_ : 1);
  return n;
}

}  // namespace shoal::transport::shm
