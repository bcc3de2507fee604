// Ordering argument for Pair::write over UCP.
//
// shoal's contract is RDMA write-with-immediate: the peer may read the data as
// soon as it sees the kWrite event. UCP has no put-with-notification, and its
// documentation does not promise that a put is visible before a later active
// message: ucp_worker_fence is described in terms of completing and ordering
// RMA/AMO operations, and the put and the AM may travel on different lanes
// (seen here with shared memory: the AM on a sysv FIFO, the put through cma;
// or over several rails). What UCP does guarantee is ucp_ep_flush_nbx: when it
// completes, every RMA operation issued earlier on the endpoint is complete
// "both at the origin and at the target". So each write is a put followed (not
// necessarily at once: one flush is in flight per peer and covers every put
// issued before it) by a flush, and only that flush's completion releases the
// active message carrying the imm. That holds for every transport UCX may pick
// (shm, tcp, rc/ud verbs, multi-rail).
//
// kSendDone for a write comes when the flush and the notification's send have
// both completed, not at the put's local completion: an RDMA write completion
// also means the peer has it, and the core relies on that when it stops
// progressing after its last completion (e.g. entering a bootstrap barrier).
// Until then the notification may still need this side's progress to leave.
//
// Where no lane of the endpoint does RMA (tcp in UCX 1.13), UCP emulates a
// put with active messages, and the target answers each with a completion
// message from inside ucp_put_handler. If the target's endpoint back to the
// origin has failed by then (a peer that died with puts still unread, or
// whose connection broke on another socket), sending that completion fails
// and UCX 1.13 aborts the target process ("Fatal: unexpected error: Endpoint
// timeout", from ucp_request_try_send). So on such endpoints no write uses a
// put: every write travels inside its notification (kWriteInline, copied into
// place by the receiver, as small writes always do), and its kSendDone waits
// for a flush issued after the message, which a put's would have needed too.
// Where a lane does RMA (shared memory's cma, verbs) puts complete in the
// transport with no handler at the target. And an endpoint that fails is
// closed at once, so whatever of the peer's still arrives finds no endpoint
// and is dropped by UCX instead of being answered.
//
// Notifications and control messages share one per-peer queue in issue order,
// so a ctrl sent after a write is seen after that write's kWrite, as on an RC
// queue pair. UCP does not document ordering among active messages either, so
// each carries a sequence number and the receiver hands them out in order.

#include "transports/ucx/pair.h"

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "core/error.h"
#include "core/log.h"
#include "transports/ucx/context.h"
#include "transports/ucx/deliver.h"

namespace shoal::transport::ucx {

namespace {

const char* envOr(const char* name, const char* fallback) {
  const char* v = getenv(name);
  return v != nullptr ? v : fallback;
}

}  // namespace

UcxPair::UcxPair(UcxContext& ctx, int peer, size_t depth, size_t rkeyCacheMax, size_t inlineMax,
                 size_t reorderMax)
    : Pair(peer),
      ctx_(ctx),
      ring_(depth),
      rkeyCacheMax_(rkeyCacheMax),
      inlineMax_(inlineMax),
      reorder_(reorderMax) {
  for (size_t i = 0; i < ring_.size(); ++i) {
    ring_[i].amRef = OpRef{this, static_cast<uint32_t>(i)};
  }
  lastRkey_ = rkeys_.end();
}

// UCX objects are released by UcxContext (rkeys before endpoints before the
// worker), so nothing is left to do here.
UcxPair::~UcxPair() = default;

void UcxPair::createEndpoint(const void* workerAddress, bool peerErrors) {
  ucp_ep_params_t params{};
  params.field_mask = UCP_EP_PARAM_FIELD_REMOTE_ADDRESS | UCP_EP_PARAM_FIELD_ERR_HANDLING_MODE |
                      UCP_EP_PARAM_FIELD_ERR_HANDLER;
  params.address = static_cast<const ucp_address_t*>(workerAddress);
  // PEER mode makes requests to a dead peer complete with an error instead of
  // hanging, and reports the endpoint's failure through the handler.
  params.err_mode = peerErrors ? UCP_ERR_HANDLING_MODE_PEER : UCP_ERR_HANDLING_MODE_NONE;
  params.err_handler.cb = &UcxPair::onEndpointError;
  params.err_handler.arg = this;
  ucs_status_t st = ucp_ep_create(ctx_.worker(), &params, &ep_);
  if (st == UCS_ERR_UNREACHABLE && peerErrors) {
    // Transports without peer-failure support (shared memory, self in UCX
    // 1.13) are left out in PEER mode; when nothing else reaches the peer,
    // connect anyway and let the bootstrap notice a dead peer.
    SHOAL_INFO(UCX,
               "rank %d: no UCX transport reaches peer %d with peer-failure handling (UCX_TLS=%s); "
               "connecting without it",
               ctx_.rank(), peer_, envOr("UCX_TLS", "(unset)"));
    params.err_mode = UCP_ERR_HANDLING_MODE_NONE;
    st = ucp_ep_create(ctx_.worker(), &params, &ep_);
  }
  if (st != UCS_OK) {
    ep_ = nullptr;
    fail(shoalSystemError,
         "rank %d: UCX ucp_ep_create to peer %d failed: %s (hint: no UCX transport reaches that "
         "peer; UCX_TLS=%s UCX_NET_DEVICES=%s)",
         ctx_.rank(), peer_, ucs_status_string(st), envOr("UCX_TLS", "(unset)"),
         envOr("UCX_NET_DEVICES", "(unset)"));
  }
}

UcxPair::Notice& UcxPair::claim(MsgKind kind, uint32_t imm, const void* payload, size_t len) {
  uint64_t seq = tail_++;
  Notice& n = at(seq);
  n.cookie = 0;
  n.flushEpoch = 0;
  n.viaPut = n.amPending = n.sent = false;
  n.inlineSrc = nullptr;
  n.inlineLen = 0;
  WireHeader h{};
  h.magic = kWireMagic;
  h.src = ctx_.rank();
  h.seq = static_cast<uint32_t>(seq);
  h.imm = imm;
  h.len = static_cast<uint32_t>(len);
  h.kind = kind;
  memcpy(n.msg, &h, sizeof(h));
  if (len > 0) memcpy(n.msg + sizeof(h), payload, len);
  n.msgLen = static_cast<uint16_t>(sizeof(h) + len);
  return n;
}

bool UcxPair::write(const void* src, size_t len, const RemoteKey& dst, size_t dstOffset,
                    uint32_t imm, uint64_t cookie) {
  if (dstOffset > dst.size || len > dst.size - dstOffset) {
    fail(shoalInvalidArgument,
         "rank %d: UCX write of %zu bytes at offset %zu to peer %d overruns the peer's %llu-byte "
         "buffer",
         ctx_.rank(), len, dstOffset, peer_, static_cast<unsigned long long>(dst.size));
  }
  if (failed_) {
    // The kError for this peer is already queued; what follows cannot arrive
    // (and its endpoint may be closed already).
    SHOAL_TRACE(UCX, "rank %d: dropping write to failed peer %d", ctx_.rank(), peer_);
    return true;
  }
  if (ep_ == nullptr) {
    fail(shoalInvalidUsage, "rank %d: UCX write to peer %d before connect", ctx_.rank(), peer_);
  }
  if (full()) return false;
  if (len > 0 && (len <= inlineMax_ || amWrites_)) {
    // The data rides in the notification itself, so it lands with it.
    Notice& n = claim(MsgKind::kWriteInline, imm, nullptr, 0);
    n.cookie = cookie;
    n.inlineSrc = src;
    n.inlineLen = len;
    WireHeader h;
    memcpy(&h, n.msg, sizeof(h));
    h.len = static_cast<uint32_t>(len);
    h.addr = dst.addr + dstOffset;
    memcpy(n.msg, &h, sizeof(h));
    sendReady();
    return true;
  }
  ucp_rkey_h rkey = len > 0 ? rkeyFor(dst) : nullptr;

  Notice& n = claim(MsgKind::kWrite, imm, nullptr, 0);
  n.cookie = cookie;
  if (len > 0) {
    // No callback: the flush that follows completes only after the put has,
    // at the origin and the target, and reports its errors too.
    ucp_request_param_t put{};
    ucs_status_ptr_t req = ucp_put_nbx(ep_, src, len, dst.addr + dstOffset, rkey, &put);
    if (UCS_PTR_IS_ERR(req)) {
      n.sent = true;
      reportFailure("put", UCS_PTR_STATUS(req));
      sendReady();
      return true;
    }
    if (req != nullptr) ucp_request_free(req);
    n.viaPut = true;
    n.flushEpoch = flushWanted_ = flushesStarted_ + 1;
  }
  sendReady();
  return true;
}

bool UcxPair::sendCtrl(const void* msg, size_t len) {
  if (len > Event::kMaxCtrl) {
    fail(shoalInvalidArgument, "rank %d: UCX control message of %zu bytes to peer %d exceeds %zu",
         ctx_.rank(), len, peer_, Event::kMaxCtrl);
  }
  if (failed_) {
    SHOAL_TRACE(UCX, "rank %d: dropping control message to failed peer %d", ctx_.rank(), peer_);
    return true;
  }
  if (ep_ == nullptr) {
    fail(shoalInvalidUsage, "rank %d: UCX sendCtrl to peer %d before connect", ctx_.rank(), peer_);
  }
  if (full()) return false;
  claim(MsgKind::kCtrl, 0, msg, len);
  sendReady();
  return true;
}

bool UcxPair::queueBye() {
  if (ep_ == nullptr || failed_ || byeSent_) return true;
  if (full()) return false;
  claim(MsgKind::kBye, 0, nullptr, 0);
  byeSent_ = true;
  sendReady();
  return true;
}

bool UcxPair::startFlush() {
  ucp_request_param_t p{};
  p.op_attr_mask = UCP_OP_ATTR_FIELD_CALLBACK | UCP_OP_ATTR_FIELD_USER_DATA;
  p.cb.send = &UcxPair::onFlushDone;
  p.user_data = this;
  const uint64_t epoch = ++flushesStarted_;
  ucs_status_ptr_t req = ucp_ep_flush_nbx(ep_, &p);
  if (UCS_PTR_IS_ERR(req)) {
    reportFailure("flush after write", UCS_PTR_STATUS(req));
    flushesDone_ = epoch;  // nothing will land now; let the slots retire
    return false;
  }
  if (req == nullptr) {
    flushesDone_ = epoch;
    return true;
  }
  flushInFlight_ = true;
  return false;
}

void UcxPair::sendReady() {
  readyDirty_ = false;
  for (;;) {
    issueReady();
    if (failed_ || flushInFlight_ || flushWanted_ <= flushesStarted_ || !startFlush()) break;
  }
  // Retire finished entries in order. A write is done when its data is at
  // the target and its notification has left: only then is kSendDone sent,
  // so a rank that has all its completions owes its peers no more progress
  // (as with an RDMA write completion), and its source may be reused.
  while (head_ < send_) {
    const Notice& n = at(head_);
    if (n.amPending || (!landed(n) && !failed_)) break;
    if (n.cookie != 0 && !failed_) ctx_.events().pushSendDone(peer_, n.cookie);
    ++head_;
  }
}

void UcxPair::issueReady() {
  while (send_ < tail_) {
    Notice& n = at(send_);
    if (!failed_ && n.viaPut && !landed(n)) break;  // its data is not known to be there yet
    if (!n.sent) {
      n.sent = true;
      if (!failed_) {
        ucp_request_param_t p{};
        p.op_attr_mask =
            UCP_OP_ATTR_FIELD_CALLBACK | UCP_OP_ATTR_FIELD_USER_DATA | UCP_OP_ATTR_FIELD_FLAGS;
        // Eager keeps the whole message in the receive callback: no
        // rendezvous round trip for a few bytes, no receive-side request.
        p.flags = UCP_AM_SEND_FLAG_EAGER;
        p.cb.send = &UcxPair::onAmDone;
        p.user_data = &n.amRef;
        const void* buffer = n.msg;
        size_t count = n.msgLen;
        if (n.inlineLen > 0) {
          n.iov[0] = {n.msg, n.msgLen};
          n.iov[1] = {const_cast<void*>(n.inlineSrc), n.inlineLen};
          p.op_attr_mask |= UCP_OP_ATTR_FIELD_DATATYPE;
          p.datatype = ucp_dt_make_iov();
          buffer = n.iov;
          count = 2;
          // Beyond the small-write size the data may still wait in a send
          // buffer of this side's when the message completes: its
          // completion waits for the next flush, as a put's does.
          if (n.inlineLen > inlineMax_) n.flushEpoch = flushWanted_ = flushesStarted_ + 1;
        }
        ucs_status_ptr_t req = ucp_am_send_nbx(ep_, kAmId, nullptr, 0, buffer, count, &p);
        if (UCS_PTR_IS_ERR(req)) {
          reportFailure("notification send", UCS_PTR_STATUS(req));
        } else if (req != nullptr) {
          n.amPending = true;
        }
      }
    }
    ++send_;
  }
}

void UcxPair::wake() {
  if (readyDirty_) return;
  readyDirty_ = true;
  ctx_.markReady(this);
}

void UcxPair::onFlushDone(void* request, ucs_status_t status, void* user) {
  auto* self = static_cast<UcxPair*>(user);
  self->flushInFlight_ = false;
  if (status != UCS_OK) self->reportFailure("flush after write", status);
  self->flushesDone_ = self->flushesStarted_;  // one flush in flight: this is the latest
  ucp_request_free(request);
  self->wake();
}

void UcxPair::onAmDone(void* request, ucs_status_t status, void* user) {
  auto* ref = static_cast<OpRef*>(user);
  UcxPair* self = ref->pair;
  self->ring_[ref->slot].amPending = false;
  if (status != UCS_OK) self->reportFailure("notification send", status);
  ucp_request_free(request);
  self->wake();
}

bool UcxPair::sendHandshake(MsgKind kind) {
  if (ep_ == nullptr) return false;  // failed and closed; connect reports it
  Handshake& hs = handshake_[slotOf(kind)];
  hs.pair = this;
  WireHeader h{};
  h.magic = kWireMagic;
  h.src = ctx_.rank();
  h.kind = kind;
  memcpy(hs.msg, &h, sizeof(h));
  ucp_request_param_t p{};
  p.op_attr_mask =
      UCP_OP_ATTR_FIELD_CALLBACK | UCP_OP_ATTR_FIELD_USER_DATA | UCP_OP_ATTR_FIELD_FLAGS;
  p.flags = UCP_AM_SEND_FLAG_EAGER;
  p.cb.send = &UcxPair::onHandshakeDone;
  p.user_data = &hs;
  ucs_status_ptr_t req = ucp_am_send_nbx(ep_, kAmId, nullptr, 0, hs.msg, sizeof(h), &p);
  if (UCS_PTR_IS_ERR(req)) {
    reportFailure("connect handshake", UCS_PTR_STATUS(req));
    return false;
  }
  hs.done = req == nullptr;
  return true;
}

void UcxPair::onHandshakeDone(void* request, ucs_status_t status, void* user) {
  auto* hs = static_cast<Handshake*>(user);
  if (status != UCS_OK) hs->pair->reportFailure("connect handshake", status);
  hs->done = true;
  ucp_request_free(request);
}

void UcxPair::onEndpointError(void* arg, ucp_ep_h, ucs_status_t status) {
  static_cast<UcxPair*>(arg)->reportFailure("endpoint", status);
}

void UcxPair::reportFailure(const char* op, ucs_status_t status) {
  const bool first = !failed_;
  failed_ = true;
  wake();  // so queued notifications are dropped and their slots freed
  if (!first) {
    SHOAL_INFO(UCX, "rank %d: UCX %s to peer %d also failed: %s", ctx_.rank(), op, peer_,
               ucs_status_string(status));
    return;
  }
  if (closing_) {
    SHOAL_INFO(UCX, "rank %d: UCX %s to peer %d ended at destroy: %s", ctx_.rank(), op, peer_,
               ucs_status_string(status));
    return;
  }
  if (byeReceived_ && idle() && strcmp(op, "endpoint") == 0) {
    // The peer said goodbye and we owe it nothing: its endpoint going away is
    // the expected end of the connection.
    SHOAL_INFO(UCX, "rank %d: UCX endpoint to peer %d closed after its goodbye (%s)", ctx_.rank(),
               peer_, ucs_status_string(status));
    return;
  }
  const char* hint;
  switch (status) {
    case UCS_ERR_ENDPOINT_TIMEOUT:
    case UCS_ERR_CONNECTION_RESET:
    case UCS_ERR_UNREACHABLE:
    case UCS_ERR_CANCELED:
      hint =
          "the peer process probably exited or was killed, or the network between the two "
          "hosts failed; check that rank's log";
      break;
    default:
      hint = "rerun with UCX_LOG_LEVEL=info (and UCX_TLS/UCX_NET_DEVICES) to see what UCX chose";
  }
  std::string msg = strprintf("rank %d: UCX %s to peer %d failed: %s (hint: %s)", ctx_.rank(), op,
                              peer_, ucs_status_string(status), hint);
  SHOAL_WARN(UCX, "%s", msg.c_str());
  lastError_ = msg;
  ctx_.events().pushError(peer_, shoalRemoteError, msg.c_str());
  ctx_.markFailed(this);
}

// Called by the context right after the worker progress that reported the
// failure, before any further progress: until the endpoint is gone, UCX could
// still answer a late emulated put from the peer through it and abort (see
// the top of this file). Force is what UCP requires for a failed endpoint.
void UcxPair::closeIfFailed() {
  if (!failed_ || closing_ || ep_ == nullptr) return;
  SHOAL_INFO(UCX, "rank %d: closing the failed UCX endpoint to peer %d", ctx_.rank(), peer_);
  startClose(true);
}

void UcxPair::failReceive(const std::string& msg) {
  receiveFailed_ = true;
  reorder_.clear();
  SHOAL_WARN(UCX, "%s", msg.c_str());
  if (failed_) return;  // its first error is already queued
  failed_ = true;
  wake();
  lastError_ = msg;
  ctx_.events().pushError(peer_, shoalRemoteError, msg.c_str());
}

void UcxPair::onMessage(const WireHeader& h, const uint8_t* payload) {
  if (receiveFailed_) return;
  const uint32_t expected = reorder_.expected();
  switch (reorder_.offer(h, payload,
                         [this](const WireHeader& m, const uint8_t* p) { deliver(m, p); })) {
    case Reorder::Verdict::kDuplicate:
      SHOAL_WARN(UCX, "rank %d: UCX dropped a duplicate message %u from peer %d (expected %u)",
                 ctx_.rank(), h.seq, peer_, expected);
      return;
    case Reorder::Verdict::kOverrun:
      failReceive(strprintf(
          "rank %d: UCX peer %d sent message %u while message %u is still missing and %zu later "
          "ones wait (SHOAL_UCX_REORDER_MAX=%zu; hint: a faulty or hostile peer, or a transport "
          "that reorders more than that)",
          ctx_.rank(), peer_, h.seq, expected, reorder_.held(), reorder_.max()));
      return;
    case Reorder::Verdict::kDelivered:
    case Reorder::Verdict::kHeld:
      return;
  }
}

void UcxPair::deliver(const WireHeader& h, const uint8_t* payload) {
  if (deliverMessage(h, payload, ctx_.rank(), peer_, ctx_.events(), ctx_.library().regionSet())) {
    byeReceived_ = true;
  }
}

ucp_rkey_h UcxPair::rkeyFor(const RemoteKey& key) {
  std::string_view bytes(reinterpret_cast<const char*>(key.bytes), key.len);
  if (lastRkey_ != rkeys_.end() && lastRkey_->first == bytes) {
    lastRkey_->second.lastUse = tail_;
    return lastRkey_->second.rkey;
  }
  auto it = rkeys_.find(bytes);
  if (it == rkeys_.end()) {
    if (key.len == 0 || key.len > RemoteKey::kMaxBytes) {
      fail(shoalInvalidArgument, "rank %d: UCX write to peer %d with an empty or invalid key",
           ctx_.rank(), peer_);
    }
    if (rkeys_.size() >= rkeyCacheMax_) evictRkeys();
    ucp_rkey_h rkey = nullptr;
    ucs_status_t st = ucp_ep_rkey_unpack(ep_, key.bytes, &rkey);
    if (st != UCS_OK) {
      fail(shoalInvalidArgument,
           "rank %d: UCX could not unpack the remote key of peer %d's %llu-byte buffer: %s (a "
           "key from another transport, or UCX configured differently on the two ranks?)",
           ctx_.rank(), peer_, static_cast<unsigned long long>(key.size), ucs_status_string(st));
    }
    it = rkeys_.emplace(std::string(bytes), RkeyEntry{rkey, 0}).first;
  }
  it->second.lastUse = tail_;
  lastRkey_ = it;
  return it->second.rkey;
}

void UcxPair::evictRkeys() {
  // A key is safe to drop once every write that used it has left the ring.
  lastRkey_ = rkeys_.end();
  for (auto it = rkeys_.begin(); it != rkeys_.end();) {
    if (it->second.lastUse < head_) {
      ucp_rkey_destroy(it->second.rkey);
      it = rkeys_.erase(it);
    } else {
      ++it;
    }
  }
}

void UcxPair::releaseRkeys() {
  for (auto& [bytes, entry] : rkeys_) ucp_rkey_destroy(entry.rkey);
  rkeys_.clear();
  lastRkey_ = rkeys_.end();
}

void UcxPair::describe() {
  if (ep_ == nullptr) return;
  char* text = nullptr;
  size_t len = 0;
  FILE* f = open_memstream(&text, &len);
  if (f == nullptr) {
    // Without the lane list, puts are assumed emulated: messages are safe
    // everywhere, puts are only faster.
    amWrites_ = true;
    SHOAL_WARN(UCX, "rank %d: cannot read the UCX endpoint to peer %d (open_memstream: %s)",
               ctx_.rank(), peer_, strerror(errno));
    return;
  }
  ucp_ep_print_info(ep_, f);
  fclose(f);
  // A lane that does RMA is listed with "rma#k" or "rma_bw#k" among its uses.
  const std::string_view info(text, len);
  amWrites_ = info.find(" rma#") == std::string_view::npos &&
              info.find(" rma_bw#") == std::string_view::npos;
  SHOAL_TRACE(UCX, "rank %d: endpoint to peer %d:\n%s", ctx_.rank(), peer_, text);
  free(text);
  if (amWrites_) {
    SHOAL_INFO(UCX,
               "rank %d: no UCX lane to peer %d does RMA (UCX_TLS=%s); writes travel inside "
               "messages",
               ctx_.rank(), peer_, envOr("UCX_TLS", "(unset)"));
  }
}

void UcxPair::startClose(bool force) {
  if (ep_ == nullptr) return;
  ucp_request_param_t p{};
  p.op_attr_mask = UCP_OP_ATTR_FIELD_FLAGS;
  p.flags = force ? UCP_EP_CLOSE_FLAG_FORCE : 0;
  ucs_status_ptr_t req = ucp_ep_close_nbx(ep_, &p);
  ep_ = nullptr;
  if (UCS_PTR_IS_ERR(req)) {
    SHOAL_INFO(UCX, "rank %d: UCX closing the endpoint to peer %d: %s", ctx_.rank(), peer_,
               ucs_status_string(UCS_PTR_STATUS(req)));
  } else {
    closeReq_ = req;
  }
}

bool UcxPair::pollClose() {
  if (closeReq_ == nullptr) return true;
  if (ucp_request_check_status(closeReq_) == UCS_INPROGRESS) return false;
  ucp_request_free(closeReq_);
  closeReq_ = nullptr;
  return true;
}

void UcxPair::abandonClose() {
  if (closeReq_ == nullptr) return;
  SHOAL_WARN(UCX,
             "rank %d: UCX endpoint to peer %d did not close in time; leaving it to worker "
             "teardown",
             ctx_.rank(), peer_);
  ucp_request_free(closeReq_);
  closeReq_ = nullptr;
}

}  // namespace shoal::transport::ucx
