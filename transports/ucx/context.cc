#include "transports/ucx/context.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>

#include "core/bootstrap.h"
#include "core/config.h"
#include "core/error.h"
#include "core/log.h"
#include "transports/ucx/buffer.h"
#include "transports/ucx/wire.h"

namespace shoal::transport::ucx {

namespace {

const char* envOr(const char* name, const char* fallback) {
  const char* v = getenv(name);
  return v != nullptr ? v : fallback;
}

}  // namespace

UcxContext::UcxContext(int rank, int size)
    : Context(rank, size), lib_(std::make_shared<UcpLibrary>()), events_(1024) {
  // UCX reads its own UCX_* variables here (UCX_TLS, UCX_NET_DEVICES, ...).
  ucp_config_t* config = nullptr;
  ucs_status_t st = ucp_config_read(nullptr, nullptr, &config);
  if (st != UCS_OK) {
    fail(shoalInvalidArgument,
         "rank %d: UCX ucp_config_read failed: %s (check the UCX_* variables)", rank,
         ucs_status_string(st));
  }
  // libucs installs UCX's memory hooks (UCM) when it loads; their lock is
  // held for a moment by any thread that maps or unmaps memory. A process
  // forked while another thread held it (test runners fork ranks next to the
  // bootstrap root thread) inherits it held, and UCP's registration cache,
  // which takes it exclusively, would deadlock ucp_init. shoal maps its
  // buffers once and keeps them, so it does without that cache unless the
  // user asks for it.
  if (getenv("UCX_RCACHE_ENABLE") == nullptr) {
    st = ucp_config_modify(config, "RCACHE_ENABLE", "n");
    if (st != UCS_OK) {
      SHOAL_INFO(UCX, "rank %d: UCX cannot disable its registration cache: %s", rank,
                 ucs_status_string(st));
    }
  }
  ucp_params_t params{};
  params.field_mask = UCP_PARAM_FIELD_FEATURES | UCP_PARAM_FIELD_ESTIMATED_NUM_EPS;
  params.features = UCP_FEATURE_RMA | UCP_FEATURE_AM;
  params.estimated_num_eps = static_cast<size_t>(size);
  st = ucp_init(&params, config, &lib_->context);
  ucp_config_release(config);
  if (st != UCS_OK) {
    lib_->context = nullptr;
    fail(shoalSystemError, "rank %d: UCX ucp_init failed: %s (UCX_TLS=%s)", rank,
         ucs_status_string(st), envOr("UCX_TLS", "(unset)"));
  }

  // One thread drives a Context at a time (the communicator's progress), so
  // the worker needs no locking of its own.
  ucp_worker_params_t wparams{};
  wparams.field_mask = UCP_WORKER_PARAM_FIELD_THREAD_MODE;
  wparams.thread_mode = UCS_THREAD_MODE_SINGLE;
  st = ucp_worker_create(lib_->context, &wparams, &worker_);
  if (st != UCS_OK) {
    worker_ = nullptr;
    fail(shoalSystemError, "rank %d: UCX ucp_worker_create failed: %s", rank,
         ucs_status_string(st));
  }
  ucp_am_handler_param_t am{};
  am.field_mask = UCP_AM_HANDLER_PARAM_FIELD_ID | UCP_AM_HANDLER_PARAM_FIELD_CB |
                  UCP_AM_HANDLER_PARAM_FIELD_ARG | UCP_AM_HANDLER_PARAM_FIELD_FLAGS;
  am.id = kAmId;
  am.flags = UCP_AM_FLAG_WHOLE_MSG;
  am.cb = &UcxContext::onActiveMessage;
  am.arg = this;
  st = ucp_worker_set_am_recv_handler(worker_, &am);
  if (st != UCS_OK) {
    ucp_worker_destroy(worker_);
    worker_ = nullptr;
    fail(shoalSystemError, "rank %d: UCX ucp_worker_set_am_recv_handler failed: %s", rank,
         ucs_status_string(st));
  }

  long long depth = config::getInt("SHOAL_UCX_QUEUE_DEPTH");
  long long rkeys = config::getInt("SHOAL_UCX_RKEY_CACHE");
  long long reorder = config::getInt("SHOAL_UCX_REORDER_MAX");
  size_t inlineMax = config::getSize("SHOAL_UCX_INLINE_BYTES");
  if (depth < 1 || rkeys < 1 || reorder < 0) {
    ucp_worker_destroy(worker_);
    worker_ = nullptr;
    fail(
        shoalInvalidArgument,
        "rank %d: SHOAL_UCX_QUEUE_DEPTH (%lld) and SHOAL_UCX_RKEY_CACHE (%lld) must be at least 1, "
        "SHOAL_UCX_REORDER_MAX (%lld) at least 0",
        rank, depth, rkeys, reorder);
  }
  pairs_.reserve(static_cast<size_t>(size));
  for (int p = 0; p < size; ++p) {
    pairs_.push_back(std::make_unique<UcxPair>(*this, p, static_cast<size_t>(depth),
                                               static_cast<size_t>(rkeys), inlineMax,
                                               static_cast<size_t>(reorder)));
  }
  ready_.reserve(static_cast<size_t>(size));
  failed_.reserve(static_cast<size_t>(size));
  helloFrom_.assign(static_cast<size_t>(size), false);
  readyFrom_.assign(static_cast<size_t>(size), false);
  SHOAL_INFO(UCX, "rank %d: UCX %s context for %d ranks (UCX_TLS=%s, UCX_NET_DEVICES=%s)", rank,
             ucp_get_version_string(), size, envOr("UCX_TLS", "(unset)"),
             envOr("UCX_NET_DEVICES", "(unset)"));
}

UcxContext::~UcxContext() { shutdown(); }

std::unique_ptr<Buffer> UcxContext::allocate(size_t bytes) {
  return std::make_unique<UcxBuffer>(lib_, rank_, nullptr, bytes);
}

std::unique_ptr<Buffer> UcxContext::registerMemory(void* ptr, size_t bytes) {
  if (ptr == nullptr && bytes > 0) {
    fail(shoalInvalidArgument, "rank %d: UCX registerMemory of %zu bytes at NULL", rank_, bytes);
  }
  return std::make_unique<UcxBuffer>(lib_, rank_, ptr, bytes);
}

Pair& UcxContext::pair(int peer) {
  if (peer < 0 || peer >= size_) {
    fail(shoalInvalidArgument, "rank %d: UCX pair(%d) outside 0..%d", rank_, peer, size_ - 1);
  }
  return *pairs_[static_cast<size_t>(peer)];
}

void UcxContext::connect(Bootstrap& bootstrap, Deadline deadline) {
  if (connected_) fail(shoalInvalidUsage, "rank %d: UCX context connected twice", rank_);
  ucp_address_t* address = nullptr;
  size_t addressLen = 0;
  ucs_status_t st = ucp_worker_get_address(worker_, &address, &addressLen);
  if (st != UCS_OK) {
    fail(shoalSystemError, "rank %d: UCX ucp_worker_get_address failed: %s", rank_,
         ucs_status_string(st));
  }
  // Lengths first, so the addresses can travel in equal-sized blocks.
  uint64_t mine = addressLen;
  std::vector<uint64_t> lengths(static_cast<size_t>(size_));
  std::vector<uint8_t> all;
  size_t block = 0;
  try {
    bootstrap.allgather(&mine, lengths.data(), sizeof(mine), deadline);
    block = *std::max_element(lengths.begin(), lengths.end());
    std::vector<uint8_t> padded(block, 0);
    memcpy(padded.data(), address, addressLen);
    all.resize(block * static_cast<size_t>(size_));
    bootstrap.allgather(padded.data(), all.data(), block, deadline);
  } catch (...) {
    ucp_worker_release_address(worker_, address);
    throw;
  }
  ucp_worker_release_address(worker_, address);
  std::string mode = config::getString("SHOAL_UCX_ERROR_MODE");
  if (mode != "peer" && mode != "none") {
    fail(shoalInvalidArgument, "rank %d: SHOAL_UCX_ERROR_MODE=%s; use peer or none", rank_,
         mode.c_str());
  }
  for (int p = 0; p < size_; ++p) {
    // This process cannot outlive itself, and PEER mode would route the self
    // endpoint over a network transport instead of UCX's self transport.
    bool peerErrors = mode == "peer" && p != rank_;
    pairs_[static_cast<size_t>(p)]->createEndpoint(all.data() + block * static_cast<size_t>(p),
                                                   peerErrors);
  }
  waitConnected(bootstrap, deadline);
  connected_ = true;
  for (auto& p : pairs_) p->describe();
  SHOAL_INFO(UCX, "rank %d: UCX connected to %d peers (worker address %zu bytes)", rank_, size_ - 1,
             addressLen);
}

// The handshake runs over UCX itself, progressing all the while: endpoint
// wireup and flushes need the other side's progress, so no rank may block in
// the bootstrap while a peer still needs it. Three steps:
//  1. hello to every peer; wait for every peer's hello (endpoints work);
//  2. flush the worker, so our hellos are delivered, not just handed to UCX
//     (peers are still in step 1-3 and progressing);
//  3. ready to every peer; wait for every peer's ready. A peer sends ready
//     only after its own flush, so once all readies are in, nobody's flush
//     needs this rank any more and connect can return.
void UcxContext::waitConnected(Bootstrap& bootstrap, Deadline deadline) {
  for (auto& p : pairs_) p->sendHandshake(MsgKind::kHello);
  waitHandshake(bootstrap, deadline, MsgKind::kHello);

  ucp_request_param_t p{};
  ucs_status_ptr_t req = ucp_worker_flush_nbx(worker_, &p);
  if (UCS_PTR_IS_ERR(req)) {
    fail(shoalRemoteError, "rank %d: UCX connect: worker flush failed: %s", rank_,
         ucs_status_string(UCS_PTR_STATUS(req)));
  }
  if (req != nullptr) {
    ucs_status_t st;
    while ((st = ucp_request_check_status(req)) == UCS_INPROGRESS && !deadline.expired()) {
      progress();
    }
    ucp_request_free(req);
    if (st == UCS_INPROGRESS) {
      fail(shoalTimeout, "rank %d: UCX connect timed out flushing the handshake", rank_);
    }
    if (st != UCS_OK) {
      fail(shoalRemoteError, "rank %d: UCX connect: worker flush failed: %s", rank_,
           ucs_status_string(st));
    }
  }

  for (auto& p : pairs_) p->sendHandshake(MsgKind::kReady);
  waitHandshake(bootstrap, deadline, MsgKind::kReady);
}

void UcxContext::waitHandshake(Bootstrap& bootstrap, Deadline deadline, MsgKind kind) {
  const std::vector<bool>& from = kind == MsgKind::kHello ? helloFrom_ : readyFrom_;
  const char* step = kind == MsgKind::kHello ? "hello" : "ready";
  Clock::time_point nextAliveCheck = Clock::now();
  for (;;) {
    progress();
    bool done = true;
    for (int p = 0; p < size_; ++p) {
      UcxPair& pr = *pairs_[static_cast<size_t>(p)];
      if (pr.failed()) {
        fail(shoalRemoteError, "rank %d: UCX connect to peer %d failed: %s", rank_, p,
             pr.lastError().c_str());
      }
      done = done && from[static_cast<size_t>(p)] && pr.handshakeSent(kind);
    }
    if (done) return;
    if (Clock::now() >= nextAliveCheck) {
      nextAliveCheck = Clock::now() + std::chrono::milliseconds(100);
      for (int p = 0; p < size_; ++p) {
        if (p != rank_ && !from[static_cast<size_t>(p)] && !bootstrap.peerAlive(p)) {
          fail(shoalRemoteError,
               "rank %d: UCX connect: peer %d went away before the handshake completed", rank_, p);
        }
      }
    }
    if (deadline.expired()) {
      std::string missing;
      for (int p = 0; p < size_; ++p) {
        if (from[static_cast<size_t>(p)]) continue;
        if (!missing.empty()) missing += ",";
        missing += std::to_string(p);
      }
      fail(shoalTimeout,
           "rank %d: UCX connect timed out: no %s from peer(s) %s (hint: UCX cannot reach them "
           "over UCX_TLS=%s UCX_NET_DEVICES=%s, or they are stuck before connect)",
           rank_, step,
           missing.empty() ? "(all heard; our own sends did not complete)" : missing.c_str(),
           envOr("UCX_TLS", "(unset)"), envOr("UCX_NET_DEVICES", "(unset)"));
    }
  }
}

void UcxContext::markReady(UcxPair* pair) { ready_.push_back(pair); }

void UcxContext::progress() {
  // Bounded, so a stream of arrivals cannot keep poll() from returning.
  for (int i = 0; i < 16; ++i) {
    const unsigned progressed = ucp_worker_progress(worker_);
    for (UcxPair* p : failed_) p->closeIfFailed();
    failed_.clear();
    if (progressed == 0) break;
  }
  for (size_t i = 0; i < ready_.size(); ++i) ready_[i]->sendReady();
  ready_.clear();
}

size_t UcxContext::poll(Event* events, size_t max) {
  progress();
  return events_.drain(events, max);
}

ucs_status_t UcxContext::onActiveMessage(void* arg, const void*, size_t, void* data, size_t length,
                                         const ucp_am_recv_param_t* param) {
  auto* self = static_cast<UcxContext*>(arg);
  if ((param->recv_attr & UCP_AM_RECV_ATTR_FLAG_RNDV) != 0) {
    // Senders force eager; a rendezvous here is not ours. Returning without
    // receiving drops it.
    SHOAL_WARN(UCX, "rank %d: UCX ignored an unexpected rendezvous message of %zu bytes",
               self->rank_, length);
    return UCS_OK;
  }
  WireHeader h{};
  if (!decodeWireHeader(data, length, self->size_, &h)) {
    SHOAL_WARN(UCX, "rank %d: UCX ignored a malformed message (%zu bytes, claims rank %d)",
               self->rank_, length, h.src);
    return UCS_OK;
  }
  if (h.kind == MsgKind::kHello || h.kind == MsgKind::kReady) {
    auto& from = h.kind == MsgKind::kHello ? self->helloFrom_ : self->readyFrom_;
    from[static_cast<size_t>(h.src)] = true;
    return UCS_OK;
  }
  self->pairs_[static_cast<size_t>(h.src)]->onMessage(
      h, static_cast<const uint8_t*>(data) + sizeof(h));
  return UCS_OK;
}

void UcxContext::shutdown() {
  if (worker_ == nullptr) return;
  const double timeout = config::getDouble("SHOAL_UCX_CLOSE_TIMEOUT");
  Deadline deadline = Deadline::after(timeout);
  // Nobody polls a context being destroyed: failures from here on are logged,
  // and what was still in flight is reported below.
  for (auto& p : pairs_) p->setClosing();
  if (connected_) {
    // Tell peers we are leaving (behind everything already queued to them),
    // then let in-flight writes finish so their data is not cut off.
    for (auto& p : pairs_) {
      while (!p->queueBye() && !deadline.expired()) progress();
    }
    for (;;) {
      progress();
      bool idle = true;
      for (auto& p : pairs_) idle = idle && (p->idle() || p->failed());
      if (idle || deadline.expired()) break;
    }
    for (auto& p : pairs_) {
      if (!p->idle() && !p->failed()) {
        SHOAL_WARN(UCX,
                   "rank %d: UCX operations to peer %d still in flight after %.1fs at destroy; "
                   "abandoning them (SHOAL_UCX_CLOSE_TIMEOUT)",
                   rank_, p->peer(), timeout);
      }
    }
  }
  for (auto& p : pairs_) p->releaseRkeys();
  // An endpoint that failed must be closed with force, per UCP.
  for (auto& p : pairs_) p->startClose(p->failed() || !p->idle());
  Deadline closeBy = Deadline::after(std::max(0.1, std::min(timeout, 2.0)));
  for (;;) {
    ucp_worker_progress(worker_);
    bool closed = true;
    for (auto& p : pairs_) closed = p->pollClose() && closed;
    if (closed || closeBy.expired()) break;
  }
  for (auto& p : pairs_) p->abandonClose();
  ucp_worker_destroy(worker_);
  worker_ = nullptr;
}

}  // namespace shoal::transport::ucx
