// A verbs context: one device port, one protection domain and completion queue,
// and reliable-connected queue pairs to every rank (itself included).
//
// Receives: every queue pair keeps SHOAL_IB_RECV_DEPTH receives posted. Each
// write-with-immediate and each control message consumes one, and poll() reposts it
// as soon as it reports the completion. The layer above bounds writes in flight by
// its receiver-granted slots and sends control messages per slot, so in steady state
// a peer has at most a few dozen outstanding; if a receiver stops polling and a
// sender outruns the posted receives anyway, the sender gets receiver-not-ready NAKs
// and retries without limit (rnr_retry = 7): a stall, never a lost message or error.
// The completion queue holds every queue's depth, so it cannot overflow.
//
// Polling: poll() spins on the completion queue, and after SHOAL_IB_SLEEP_AFTER_US
// without a completion it sleeps on the queue's completion channel (at most 100 us
// at a time, so the caller still sees its deadlines and dead peers promptly). On a software
// device (Soft-RoCE) the "adapter" is kernel code on the same CPUs: a rank that
// spins while it waits takes the CPU that would move its data.
//
// GPU memory: the first time a CUDA device's memory is asked about
// (writesFromDevice, or a registration of its memory), the context decides
// how this HCA reaches it (gdr.h: dmabuf, peermem or staging), proves the
// method with one real registration, falls back when the kernel refuses it,
// and logs the outcome with its reason once (INFO, NET).
#pragma once

#include <infiniband/verbs.h>

#include <chrono>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "shoal/shoal.h"
#include "transports/context.h"
#include "transports/verbs/gdr.h"
#include "transports/verbs/handles.h"
#include "transports/verbs/pair.h"

namespace shoal::transport::verbs {

// Bit of wr_id that marks a receive; the low 16 bits name the queue pair.
constexpr uint64_t kRecvFlag = 1ull << 16;
constexpr int kWrIdShift = 17;
constexpr uint32_t kCtrlSlotBytes = 64;  // receive slot per control message
static_assert(kCtrlSlotBytes >= Event::kMaxCtrl);

struct Settings {
  int qpsPerPeer;
  uint32_t sendDepth;
  uint32_t recvDepth;
  int timeout;
  int retryCount;
  int serviceLevel;
  int trafficClass;
  long sleepAfterUs;  // 0: never sleep on the completion channel
};

class VerbsContext : public Context {
 public:
  VerbsContext(int rank, int size);
  ~VerbsContext() override;

  const char* name() const override { return "verbs"; }
  std::unique_ptr<Buffer> allocate(size_t bytes) override;
  std::unique_ptr<Buffer> registerMemory(void* ptr, size_t bytes) override;
  void connect(Bootstrap& bootstrap, Deadline deadline) override;
  Pair& pair(int peer) override;
  size_t poll(Event* events, size_t max) override;
  bool writesFromDevice(int cudaDevice) const override;
  // Landings are RDMA writes into the receiver's own buffer, registered
  // through the registration cache for as long as the grant is held.
  bool landsInPlace() const override { return true; }
  bool grantLanding(void* addr, size_t len, uint32_t* token,
                    std::unique_ptr<Buffer>* hold) override;
  bool landingKey(int peer, uint64_t addr, uint64_t len, uint32_t token,
                  RemoteKey* out) const override;

  // Used by pairs.
  const Settings& settings() const { return settings_; }
  RegCache& cache() { return *domain_->cache; }
  uint32_t maxMessage() const { return maxMessage_; }
  void emit(const Event& e) { pending_.push_back(e); }
  void recordFailure(VerbsPair& pair, shoalResult_t code, const std::string& message);

 private:
  void createQueuePairs();
  void postReceive(QueuePair& q, uint32_t slot);
  void handle(const ibv_wc& wc);
  int pollCq(ibv_wc* wcs, int max);
  int sleepForCompletion(ibv_wc* wcs, int max);
  GdrMethod deviceMethod(int cudaDevice) const;
  void deviceFailed(int cudaDevice, const std::string& message);

  Settings settings_{};
  std::string deviceName_;
  int port_ = 0;
  ibv_port_attr portAttr_{};
  int gidIndex_ = -1;
  ibv_gid gid_{};
  uint32_t maxMessage_ = 0;

  // Acquired in this order, released in reverse by the members' destructors.
  std::shared_ptr<Domain> domain_;
  ChannelHandle channel_;
  CqHandle cq_;
  std::vector<uint8_t> ctrlRing_;  // receive slots for control messages, per queue pair 0
  MrHandle ctrlMr_;
  std::vector<std::unique_ptr<VerbsPair>> pairs_;
  std::vector<QueuePair*> byGlobal_;
  bool connected_ = false;
  std::deque<Event> pending_;
  bool idle_ = false;  // the last poll found nothing; since idleSince_
  std::chrono::steady_clock::time_point idleSince_;
  bool armed_ = false;  // completion channel notification requested
  // GPUDirect RDMA method per CUDA device, decided on first use.
  mutable std::mutex gdrMutex_;
  mutable std::map<int, GdrMethod> gdr_;
};

}  // namespace shoal::transport::verbs
