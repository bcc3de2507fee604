#pragma once

#include <sys/types.h>

#include <map>
#include <memory>
#include <vector>

#include "transports/context.h"
#include "transports/shm/buffer.h"
#include "transports/shm/mailbox.h"

namespace shoal::transport::shm {

class ShmPair;

class ShmContext : public Context {
 public:
  ShmContext(int rank, int size);
  ~ShmContext() override;
  const char* name() const override { return "shm"; }

  std::unique_ptr<Buffer> allocate(size_t bytes) override;
  std::unique_ptr<Buffer> registerMemory(void* ptr, size_t bytes) override;
  void connect(Bootstrap& bootstrap, Deadline deadline) override;
  Pair& pair(int peer) override;
  size_t poll(Event* events, size_t max) override;
  void waitForEvents(double maxSeconds) override;
  // Blocking costs nothing in latency here (an arrival wakes the waiter), so
  // a rank stops competing for the CPU soon when ranks outnumber cores.
  double blockAfterSeconds() const override { return 50e-6; }
  // More ranks than usable cores: a peer being waited for may be queued on
  // this core, so yield at once instead of spinning it out of its turn.
  int idleSpins() const override { return oversubscribed_ ? 0 : spinPolls_; }
  bool ranksOutnumberCores() const override { return oversubscribed_; }
  // Every write is a copy (into the entry, the peer's segment, or by
  // cross-memory attach) done before write() returns.
  bool writesCompleteOnReturn() const override { return true; }
  // A note reaches the executor in Event::payload.
  size_t maxNoteBytes() const override { return Event::kMaxCtrl; }

  // Landings go through cross-memory attach into the peer's own pages.
  bool landsInPlace() const override { return true; }
  bool grantLanding(void* addr, size_t len, uint32_t* token,
                    std::unique_ptr<Buffer>* hold) override {
    *token = 0;
    return cma_;
  }
  bool landingKey(int peer, uint64_t addr, uint64_t len, uint32_t token,
                  RemoteKey* out) const override;

  // Used by pairs.
  // My queue inside peer's mailbox (inline: a small call uses it per message).
  MailboxQueue& outbox(int peer) { return peerMailboxes_[peer][rank_]; }
  void ring(int peer);  // after a push to outbox(peer): wake it if it sleeps
  void* peerSegment(int peer, pid_t pid, int fd, size_t bytes);
  pid_t peerPid(int peer) const { return peerPids_[peer]; }
  // A write of ours is complete as soon as it is published.
  void sendDone(int peer, uint64_t cookie) { local_.push_back({peer, cookie}); }
  bool cmaAllowed() const { return cma_; }
  bool demotes() const { return demote_; }  // SHOAL_SHM_DEMOTE
  // Whether sleepers are woken through membarrier(2) (every rank registered).
  bool wakesByMembarrier() const { return membarrier_; }

 private:
  MailboxQueue& inbox(int peer) { return peerMailboxes_[rank_][peer]; }
  // Copies an inline write into place; false when its destination is not
  // memory of ours that peers may write.
  bool landInline(const MailboxEntry& e);

  std::unique_ptr<SegmentBuffer> mailbox_;    // my n incoming queues
  std::vector<MailboxQueue*> peerMailboxes_;  // each peer's queue array, mapped
  std::vector<size_t> peerMailboxBytes_;
  std::vector<Doorbell*> doorbells_;  // each rank's doorbell, after its queues
  std::vector<pid_t> peerPids_;
  std::vector<std::unique_ptr<ShmPair>> pairs_;
  std::map<std::pair<int, int>, std::pair<void*, size_t>> mapped_;  // (peer, fd) -> mapping
  std::shared_ptr<OwnRegions> regions_;                             // what peers may write
  OwnRegions::Hint regionHint_;
  // Completions of my own writes, not yet polled: a vector that keeps its
  // storage, so a small collective allocates nothing here.
  std::vector<std::pair<int, uint64_t>> local_;
  size_t localHead_ = 0;
  int pollStart_ = 0;
  bool cma_ = true;
  bool oversubscribed_ = false;
  bool demote_ = true;
  // Every rank of the node registered for global expedited membarriers:
  // the sleeper's membarrier replaces the producers' per-message fence.
  bool membarrier_ = false;
  bool membarrierFailed_ = false;  // warned once
  int spinPolls_ = 64;
};

}  // namespace shoal::transport::shm
