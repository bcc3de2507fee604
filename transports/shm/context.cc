#include "transports/shm/context.h"

#include <linux/futex.h>
#include <linux/membarrier.h>
#include <sched.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstdio>
#include <cstring>
#include <new>

#include "core/bootstrap.h"
#include "core/config.h"
#include "core/error.h"
#include "core/log.h"
#include "transports/shm/pair.h"

namespace shoal::transport::shm {

namespace {

// Registers this process for MEMBARRIER_CMD_GLOBAL_EXPEDITED (kernel 4.16
// and later); false where the kernel or a seccomp filter refuses.
bool registerMembarrier() {
  const long cmds = syscall(SYS_membarrier, MEMBARRIER_CMD_QUERY, 0);
  const long need = MEMBARRIER_CMD_GLOBAL_EXPEDITED | MEMBARRIER_CMD_REGISTER_GLOBAL_EXPEDITED;
  if (cmds < 0 || (cmds & need) != need) return false;
  return syscall(SYS_membarrier, MEMBARRIER_CMD_REGISTER_GLOBAL_EXPEDITED, 0) == 0;
}

}  // namespace

ShmContext::ShmContext(int rank, int size)
    : Context(rank, size),
      peerMailboxes_(size, nullptr),
      peerMailboxBytes_(size, 0),
      doorbells_(size, nullptr),
      peerPids_(size, 0),
      regions_(std::make_shared<OwnRegions>()) {
  cma_ = config::getBool("SHOAL_SHM_CMA");
  demote_ = config::getBool("SHOAL_SHM_DEMOTE");
  spinPolls_ =
      static_cast<int>(std::clamp<long long>(config::getInt("SHOAL_SHM_SPIN_POLLS"), 0, 1 << 30));
  cpu_set_t cpus;
  CPU_ZERO(&cpus);
  if (sched_getaffinity(0, sizeof(cpus), &cpus) == 0) oversubscribed_ = size > CPU_COUNT(&cpus);
}

ShmContext::~ShmContext() {
  for (auto& [k, m] : mapped_) munmap(m.first, m.second);
  for (int p = 0; p < size_; ++p) {
    if (peerMailboxes_[p] && p != rank_) munmap(peerMailboxes_[p], peerMailboxBytes_[p]);
  }
}

std::unique_ptr<Buffer> ShmContext::allocate(size_t bytes) {
  return std::make_unique<SegmentBuffer>(bytes, regions_);
}

std::unique_ptr<Buffer> ShmContext::registerMemory(void* ptr, size_t bytes) {
  if (!cma_) {
    fail(shoalInvalidUsage,
         "shm: registering user memory needs cross-memory attach, disabled by SHOAL_SHM_CMA=0");
  }
  return std::make_unique<UserBuffer>(ptr, bytes, regions_);
}

bool ShmContext::landingKey(int peer, uint64_t addr, uint64_t len, uint32_t /*token*/,
                            RemoteKey* out) const {
  if (!cma_ || peer < 0 || peer >= size_ || peer == rank_) return false;
  // The process is the one this rank connected to, never one a message names.
  *out = cmaKey(peerPids_[peer], addr, len);
  return true;
}

void ShmContext::connect(Bootstrap& bootstrap, Deadline deadline) {
  const size_t queueBytes = sizeof(MailboxQueue) * static_cast<size_t>(size_);
  size_t bytes = queueBytes + sizeof(Doorbell);
  mailbox_ = std::make_unique<SegmentBuffer>(bytes);
  auto* queues = static_cast<MailboxQueue*>(mailbox_->data());
  for (int p = 0; p < size_; ++p) {
    new (&queues[p].head) std::atomic<uint64_t>(0);
    new (&queues[p].tail) std::atomic<uint64_t>(0);
    for (MailboxEntry& e : queues[p].entries) new (&e.stamp) std::atomic<uint32_t>(0);
  }
  auto* bell = reinterpret_cast<Doorbell*>(static_cast<char*>(mailbox_->data()) + queueBytes);
  new (&bell->seq) std::atomic<uint32_t>(0);
  new (&bell->sleepers) std::atomic<uint32_t>(0);
  bell->membarrier = config::getBool("SHOAL_SHM_MEMBARRIER") && registerMembarrier() ? 1 : 0;
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
      if (kd.segBytes < bytes) {
        fail(shoalInternalError, "shm: rank %d: peer %d's mailbox is %llu bytes, expected %zu",
             rank_, p, static_cast<unsigned long long>(kd.segBytes), bytes);
      }
      peerMailboxes_[p] = static_cast<MailboxQueue*>(mapPeerSegment(kd.pid, kd.fd, kd.segBytes));
      peerMailboxBytes_[p] = kd.segBytes;
    }
    doorbells_[p] =
        reinterpret_cast<Doorbell*>(reinterpret_cast<char*>(peerMailboxes_[p]) + queueBytes);
  }
  pairs_.clear();
  for (int p = 0; p < size_; ++p) pairs_.push_back(std::make_unique<ShmPair>(*this, p));
  // Nobody may write into a mailbox before its owner mapped all of them:
  // peers' segments are opened through /proc/<pid>/fd while the owner lives.
  bootstrap.barrier(deadline);
  // Each rank set its flag before the barrier; all agree on the result.
  membarrier_ = true;
  for (int p = 0; p < size_; ++p) membarrier_ = membarrier_ && doorbells_[p]->membarrier == 1;
  SHOAL_INFO(SHM, "shm: connected %d ranks through mailboxes of %zu bytes; wake-ups %s", size_,
             bytes,
             membarrier_       ? "by membarrier (no per-message fence)"
             : oversubscribed_ ? "by a fence per message"
                               : "unfenced (a missed one waits for the timed wait)");
}

Pair& ShmContext::pair(int peer) { return *pairs_.at(static_cast<size_t>(peer)); }

void* ShmContext::peerSegment(int peer, pid_t pid, int fd, size_t bytes) {
  auto key = std::make_pair(peer, fd);
  auto it = mapped_.find(key);
  if (it != mapped_.end() && it->second.second == bytes) return it->second.first;
  if (it != mapped_.end()) {  // the fd number was reused for another segment
    munmap(it->second.first, it->second.second);
    mapped_.erase(it);
  }
  bool gone = false;
  void* p = mapPeerSegment(pid, fd, bytes, &gone);
  if (gone) {
    fail(shoalRemoteError,
         "shm: rank %d: peer rank %d (pid %d) exited or freed the memory it registered "
         "(/proc/%d/fd/%d is gone)",
         rank_, peer, static_cast<int>(pid), static_cast<int>(pid), fd);
  }
  mapped_[key] = {p, bytes};
  return p;
}

void ShmContext::ring(int peer) {
  Doorbell& d = *doorbells_[peer];
  if (membarrier_) {
    // The compiler must keep the load after the publish; the CPU may not,
    // and the sleeper's membarrier covers that (see Doorbell).
    std::atomic_signal_fence(std::memory_order_seq_cst);
  } else if (oversubscribed_) {
    // The full fence makes the wake-up exact. Without it, a consumer that
    // starts to sleep while our entry is still in the store buffer can miss
    // it until its timed wait ends (20-200 us, and it only sleeps after 50
    // us of waiting): worth it where every rank has its own core, since the
    // fence stalls each message until the peer's cache line is ours
    // (5-8% of a 4-rank 8-byte call on 2 cores). Oversubscribed ranks sleep
    // often and keep the exact protocol.
    std::atomic_thread_fence(std::memory_order_seq_cst);
  }
  if (d.sleepers.load(std::memory_order_relaxed) == 0) return;
  d.seq.fetch_add(1, std::memory_order_release);
  syscall(SYS_futex, &d.seq, FUTEX_WAKE, INT_MAX, nullptr, nullptr, 0);
}

void ShmContext::waitForEvents(double maxSeconds) {
  if (localHead_ < local_.size()) return;
  Doorbell& d = *doorbells_[rank_];
  const uint32_t seen = d.seq.load(std::memory_order_acquire);
  d.sleepers.fetch_add(1, std::memory_order_relaxed);
  bool barrier = false;
  if (membarrier_) {
    barrier = syscall(SYS_membarrier, MEMBARRIER_CMD_GLOBAL_EXPEDITED, 0) == 0;
    if (!barrier && !membarrierFailed_) {
      membarrierFailed_ = true;
      SHOAL_WARN(SHM, "shm: rank %d: membarrier(GLOBAL_EXPEDITED) failed after registering: %s",
                 rank_, strerror(errno));
    }
  }
  if (!barrier) {
    // Only this side's fence is certain then; the timed wait bounds what a
    // missed wake-up costs.
    std::atomic_thread_fence(std::memory_order_seq_cst);
  }
  bool empty = true;
  for (int p = 0; p < size_ && empty; ++p) empty = inbox(p).front() == nullptr;
  if (empty) {
    struct timespec ts = {0, static_cast<long>(maxSeconds * 1e9)};
    // EINTR, EAGAIN (seq moved) and ETIMEDOUT all mean: go and poll.
    syscall(SYS_futex, &d.seq, FUTEX_WAIT, seen, &ts, nullptr, 0);
  }
  d.sleepers.fetch_sub(1, std::memory_order_relaxed);
}

static_assert(Event::kMaxCtrl <= kEntryBody, "a note must fit in a mailbox entry");

bool ShmContext::landInline(const MailboxEntry& e) {
  if (e.len > kEntryBody - e.noteLen || !regions_->contains(e.addr, e.len, regionHint_))
    return false;
  memcpy(reinterpret_cast<void*>(e.addr), e.body + e.noteLen, e.len);
  return true;
}

size_t ShmContext::poll(Event* events, size_t max) {
  size_t n = 0;
  while (n < max && localHead_ < local_.size()) {
    Event& ev = events[n++];
    ev.kind = Event::kSendDone;
    ev.peer = local_[localHead_].first;
    ev.cookie = local_[localHead_].second;
    ++localHead_;
  }
  if (localHead_ == local_.size()) {
    local_.clear();
    localHead_ = 0;
  }
  // Rotate the starting peer so no sender starves the others.
  for (int i = 0; i < size_ && n < max; ++i) {
    int p = pollStart_ + i;
    if (p >= size_) p -= size_;
    MailboxQueue& q = inbox(p);
    while (n < max) {
      const MailboxEntry* e = q.front();
      if (!e) break;
      Event& ev = events[n++];
      ev.peer = p;
      ev.kind = static_cast<Event::Kind>(e->kind);
      ev.len = 0;
      // A peer writes only writes and control messages; anything else (a
      // send completion, an error, an unknown kind) would reach the executor
      // with fields left over from an earlier event.
      if ((e->kind != Event::kWrite && e->kind != Event::kCtrl) ||
          (e->kind == Event::kCtrl && e->len > Event::kMaxCtrl)) {
        ev.kind = Event::kError;
        ev.code = shoalRemoteError;
        snprintf(ev.message, sizeof(ev.message),
                 "shm: rank %d sent a mailbox entry of kind %u with %u bytes (only writes and "
                 "control messages of at most %zu bytes are valid)",
                 p, e->kind, e->len, Event::kMaxCtrl);
      } else if (e->kind == Event::kWrite) {
        ev.imm = e->imm;
        // The note is checked first: landInline trusts its length.
        if (e->noteLen > Event::kMaxCtrl) {
          ev.kind = Event::kError;
          ev.code = shoalRemoteError;
          snprintf(ev.message, sizeof(ev.message),
                   "shm: rank %d sent a write with a %u-byte note (at most %zu)", p, e->noteLen,
                   Event::kMaxCtrl);
        } else if ((e->flags & MailboxEntry::kInline) && !landInline(*e)) {
          ev.kind = Event::kError;
          ev.code = shoalRemoteError;
          snprintf(ev.message, sizeof(ev.message),
                   "shm: rank %d: a %u-byte write to 0x%llx from peer %d is outside every buffer "
                   "this rank registered (a key used after its memory was freed?)",
                   rank_, e->len, static_cast<unsigned long long>(e->addr), p);
        } else {
          ev.len = e->noteLen;
          memcpy(ev.payload, e->body, ev.len);
        }
      } else {
        ev.len = e->len;
        memcpy(ev.payload, e->body, ev.len);
      }
      q.pop();
    }
  }
  if (++pollStart_ >= size_) pollStart_ = 0;
  return n;
}

}  // namespace shoal::transport::shm
