// The UCP endpoint to one peer, the ordered queue of notifications this side
// still has to send it, and the reordering of what arrives from it.
#pragma once

#include <ucp/api/ucp.h>

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "transports/pair.h"
#include "transports/ucx/reorder.h"
#include "transports/ucx/wire.h"

namespace shoal::transport::ucx {

class UcxContext;

class UcxPair : public Pair {
 public:
  UcxPair(UcxContext& ctx, int peer, size_t depth, size_t rkeyCacheMax, size_t inlineMax,
          size_t reorderMax);
  ~UcxPair() override;
  UcxPair(const UcxPair&) = delete;
  UcxPair& operator=(const UcxPair&) = delete;

  bool write(const void* src, size_t len, const RemoteKey& dst, size_t dstOffset, uint32_t imm,
             uint64_t cookie) override;
  bool sendCtrl(const void* msg, size_t len) override;

  // Connection management, driven by UcxContext.
  // peerErrors asks UCX to report the peer's failure (UCP_ERR_HANDLING_MODE_PEER).
  void createEndpoint(const void* workerAddress, bool peerErrors);
  // Connect handshake messages (kHello, kReady); false when the send failed.
  bool sendHandshake(MsgKind kind);
  bool handshakeSent(MsgKind kind) const { return handshake_[slotOf(kind)].done; }
  bool queueBye();
  void startClose(bool force);
  bool pollClose();  // true once the endpoint is closed
  void abandonClose();
  void releaseRkeys();
  // Reads the lanes UCX picked for this endpoint (logged at TRACE) and,
  // where none does RMA, sends every write inside its notification.
  void describe();
  // Writes go inside their notification whatever their size.
  bool writesInMessages() const { return amWrites_; }
  // A failed endpoint is closed at once (see closeIfFailed in pair.cc).
  void closeIfFailed();

  // Issues every notification whose data has landed, in order, starts the
  // next flush, and retires finished entries. Called after worker progress.
  void sendReady();
  // Nothing of ours in flight towards this peer.
  bool idle() const { return head_ == tail_; }
  bool failed() const { return failed_; }

  // A message from this peer (the AM handler found it by the sender's rank).
  void onMessage(const WireHeader& h, const uint8_t* payload);

  // A failed request or endpoint: the first one becomes a kError event.
  void reportFailure(const char* op, ucs_status_t status);
  // From here on failures are the expected end of the connection (destroy).
  void setClosing() { closing_ = true; }
  const std::string& lastError() const { return lastError_; }

 private:
  // One write, control message or bye, in issue order. The ring slot stays
  // taken until every UCX request that refers to it has completed.
  struct OpRef {
    UcxPair* pair;
    uint32_t slot;
  };
  struct Notice {
    OpRef amRef;
    uint64_t cookie = 0;  // kSendDone to emit when retired (writes only)
    // The data is at the target once flush number flushEpoch has completed
    // (0: no data, or none that needs a flush).
    uint64_t flushEpoch = 0;
    bool viaPut = false;     // data sent by a put: the notification waits for its flush
    bool amPending = false;  // notification request not completed
    bool sent = false;       // notification issued (or dropped after failure)
    uint16_t msgLen = 0;
    uint8_t msg[kMaxWireBytes];
    // kWriteInline: the caller's data, sent after msg in the same message.
    const void* inlineSrc = nullptr;
    size_t inlineLen = 0;
    ucp_dt_iov_t iov[2];
  };

  static void onFlushDone(void* request, ucs_status_t status, void* user);
  static void onAmDone(void* request, ucs_status_t status, void* user);
  static void onHandshakeDone(void* request, ucs_status_t status, void* user);
  static size_t slotOf(MsgKind kind) { return kind == MsgKind::kHello ? 0 : 1; }
  static void onEndpointError(void* arg, ucp_ep_h ep, ucs_status_t status);

  void wake();
  void issueReady();
  // Starts a flush covering every put and message issued so far; true if it
  // completed on the spot.
  bool startFlush();
  bool landed(const Notice& n) const { return n.flushEpoch <= flushesDone_; }
  void failReceive(const std::string& msg);
  Notice& claim(MsgKind kind, uint32_t imm, const void* payload, size_t len);
  bool full() const { return tail_ - head_ >= ring_.size(); }
  Notice& at(uint64_t seq) { return ring_[seq % ring_.size()]; }
  ucp_rkey_h rkeyFor(const RemoteKey& key);
  void evictRkeys();
  void deliver(const WireHeader& h, const uint8_t* payload);

  UcxContext& ctx_;
  ucp_ep_h ep_ = nullptr;
  std::vector<Notice> ring_;
  uint64_t head_ = 0;  // oldest slot still taken
  uint64_t send_ = 0;  // next notification to issue
  uint64_t tail_ = 0;  // next slot to claim
  // One flush in flight at a time covers every put and message issued before
  // it; data issued meanwhile waits for the next one, so a pipeline of writes
  // costs about one flush per round trip rather than one per write. Flushes
  // are numbered from 1; a write's data issued while flushesStarted_ is k
  // has landed once flush k + 1 completes.
  uint64_t flushesStarted_ = 0;
  uint64_t flushesDone_ = 0;
  uint64_t flushWanted_ = 0;  // the highest flushEpoch of any write so far
  bool flushInFlight_ = false;
  bool amWrites_ = false;
  bool readyDirty_ = false;
  bool failed_ = false;
  bool byeSent_ = false;
  bool byeReceived_ = false;
  bool closing_ = false;
  struct Handshake {
    UcxPair* pair;
    bool done;
    uint8_t msg[sizeof(WireHeader)];
  } handshake_[2] = {};
  void* closeReq_ = nullptr;
  std::string lastError_;

  // Unpacked remote keys by their packed bytes. lastUse is the sequence of the
  // last write that used one, so eviction skips keys in-flight writes need.
  struct TransparentHash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };
  struct RkeyEntry {
    ucp_rkey_h rkey;
    uint64_t lastUse;
  };
  using RkeyMap = std::unordered_map<std::string, RkeyEntry, TransparentHash, std::equal_to<>>;
  RkeyMap rkeys_;
  RkeyMap::iterator lastRkey_;
  size_t rkeyCacheMax_;
  // Writes up to this size travel inside their notification (no put, no
  // flush): one message instead of a put, a flush round trip and a message.
  size_t inlineMax_;

  // Receive side: messages back in sequence order, at most
  // SHOAL_UCX_REORDER_MAX of them held (reorder.h).
  Reorder reorder_;
  bool receiveFailed_ = false;  // the peer overran the bound: nothing more is taken from it
};

}  // namespace shoal::transport::ucx
