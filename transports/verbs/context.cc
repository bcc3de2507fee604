#include "transports/verbs/context.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <poll.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <random>

#include "core/bootstrap.h"
#include "core/config.h"
#include "core/error.h"
#include "core/log.h"
#include "topo/nic_choice.h"
#include "transports/verbs/buffer.h"
#include "transports/verbs/completion_error.h"
#include "transports/verbs/device_mr.h"
#include "transports/verbs/hca_select.h"
#include "transports/verbs/wire.h"

namespace shoal::transport::verbs {

namespace {

// How long a freshly created Soft-RoCE link may take to show its IPv4 GID.
constexpr double kGidWaitSeconds = 10;

int clampInt(long long v, long long lo, long long hi) {
  return static_cast<int>(std::min(std::max(v, lo), hi));
}

// Devices whose "hardware" is kernel code on the host CPUs: Soft-RoCE (rdma_rxe)
// and soft-iWARP (siw), known by their drivers' vendor ids or their names.
bool softwareDevice(const std::string& name, const ibv_device_attr& attr) {
  return attr.vendor_id == 0xffffff || attr.vendor_id == 0x626d74 || name.rfind("rxe", 0) == 0 ||
         name.rfind("siw", 0) == 0;
}

// Longest single sleep on the completion channel: the caller checks its deadline,
// abort flag and peers every so many empty polls, so each must stay short.
constexpr long kSleepSliceNs = 100 * 1000;
constexpr long kSoftwareSleepAfterUs = 20;

}  // namespace

VerbsContext::VerbsContext(int rank, int size) : Context(rank, size) {
  settings_.qpsPerPeer = clampInt(config::getInt("SHOAL_IB_QPS_PER_CONNECTION"), 1, 16);
  settings_.sendDepth =
      static_cast<uint32_t>(clampInt(config::getInt("SHOAL_IB_SEND_DEPTH"), 8, 1 << 15));
  settings_.recvDepth =
      static_cast<uint32_t>(clampInt(config::getInt("SHOAL_IB_RECV_DEPTH"), 8, 1 << 15));
  settings_.timeout = clampInt(config::getInt("SHOAL_IB_TIMEOUT"), 1, 31);
  settings_.retryCount = clampInt(config::getInt("SHOAL_IB_RETRY_CNT"), 0, 7);
  settings_.serviceLevel = clampInt(config::getInt("SHOAL_IB_SL"), 0, 15);
  settings_.trafficClass = clampInt(config::getInt("SHOAL_IB_TC"), 0, 255);

  // 1. the port
  PortChoice choice;
  std::string why;
  std::string hca = config::getString("SHOAL_IB_HCA");
  bool chosen = false;
  // Without SHOAL_IB_HCA, the NICs nearest this rank's GPU (or CPUs) go first.
  for (const auto& nic :
       hca.empty() ? topo::preferredNicsForThisProcess() : std::vector<std::string>{})
    if ((chosen = choosePort(HcaFilter::parse("=" + nic), &choice, &why))) break;
  if (!chosen && !choosePort(HcaFilter::parse(hca), &choice, &why)) {
    fail(shoalSystemError, "verbs: rank %d: no usable RDMA port: %s", rank, why.c_str());
  }
  deviceName_ = choice.device;
  port_ = choice.port;

  // 2. the device
  domain_ = std::make_shared<Domain>();
  {
    int n = 0;
    ibv_device** list = ibv_get_device_list(&n);
    for (int i = 0; list && i < n && !domain_->device; ++i) {
      if (deviceName_ == ibv_get_device_name(list[i]))
        domain_->device.reset(ibv_open_device(list[i]));
    }
    int err = errno;
    if (list) ibv_free_device_list(list);
    if (!domain_->device) {
      fail(shoalSystemError, "verbs: rank %d: ibv_open_device(%s) failed: %s", rank,
           deviceName_.c_str(), strerror(err));
    }
  }
  ibv_context* dev = domain_->device.get();
  ibv_device_attr devAttr{};
  if (int rc = ibv_query_device(dev, &devAttr)) {
    fail(shoalSystemError, "verbs: rank %d: ibv_query_device(%s): %s", rank, deviceName_.c_str(),
         strerror(rc));
  }
  if (int rc = ibv_query_port(dev, port_, &portAttr_)) {
    fail(shoalSystemError, "verbs: rank %d: ibv_query_port(%s:%d): %s", rank, deviceName_.c_str(),
         port_, strerror(rc));
  }
  maxMessage_ = portAttr_.max_msg_sz;
  gidIndex_ = chooseGidIndex(dev, port_, portAttr_, Deadline::after(kGidWaitSeconds), &why);
  if (gidIndex_ < 0) fail(shoalSystemError, "verbs: rank %d: %s", rank, why.c_str());
  if (int rc = ibv_query_gid(dev, port_, gidIndex_, &gid_)) {
    fail(shoalSystemError, "verbs: rank %d: ibv_query_gid(%s:%d, %d): %s", rank,
         deviceName_.c_str(), port_, gidIndex_, strerror(rc));
  }

  // 3. protection domain and its registrations
  domain_->pd.reset(ibv_alloc_pd(dev));
  if (!domain_->pd) failErrno("verbs: rank %d: ibv_alloc_pd(%s)", rank, deviceName_.c_str());
  domain_->cache =
      std::make_unique<RegCache>(domain_->pd.get(), config::getSize("SHOAL_IB_REG_CACHE_ENTRIES"),
                                 config::getSize("SHOAL_IB_REG_CACHE_BYTES"));
  domain_->cache->setDeviceMethod([this](int dev) { return deviceMethod(dev); },
                                  [this](int dev, const std::string& m) { deviceFailed(dev, m); });

  // 4. one completion queue for everything; it can never overflow because it holds
  // at most every queue's depth (send completions are bounded by the send depth).
  settings_.sendDepth = std::min<uint32_t>(settings_.sendDepth, devAttr.max_qp_wr);
  settings_.recvDepth = std::min<uint32_t>(settings_.recvDepth, devAttr.max_qp_wr);
  uint64_t queues = static_cast<uint64_t>(size) * settings_.qpsPerPeer;
  uint64_t cqe = queues * (settings_.sendDepth + settings_.recvDepth);
  if (cqe > static_cast<uint64_t>(devAttr.max_cqe)) {
    uint32_t fit = static_cast<uint32_t>(devAttr.max_cqe / queues);
    if (fit < 16 + 8) {
      fail(shoalSystemError,
           "verbs: rank %d: %llu queue pairs do not fit one completion queue of "
           "%d entries on %s; lower SHOAL_IB_QPS_PER_CONNECTION",
           rank, static_cast<unsigned long long>(queues), devAttr.max_cqe, deviceName_.c_str());
    }
    settings_.sendDepth = std::min(settings_.sendDepth, fit / 4);
    settings_.recvDepth = fit - settings_.sendDepth;
    SHOAL_WARN(IB,
               "rank %d: %s completion queue limit %d: queue depths lowered to %u send, %u "
               "receive",
               rank, deviceName_.c_str(), devAttr.max_cqe, settings_.sendDepth,
               settings_.recvDepth);
    cqe = queues * (settings_.sendDepth + settings_.recvDepth);
  }
  long sleepAfter = config::getInt("SHOAL_IB_SLEEP_AFTER_US");
  settings_.sleepAfterUs = sleepAfter >= 0                        ? sleepAfter
                           : softwareDevice(deviceName_, devAttr) ? kSoftwareSleepAfterUs
                                                                  : 0;
  if (settings_.sleepAfterUs > 0) {
    channel_.reset(ibv_create_comp_channel(dev));
    if (!channel_)
      failErrno("verbs: rank %d: ibv_create_comp_channel(%s)", rank, deviceName_.c_str());
    int flags = fcntl(channel_->fd, F_GETFL);
    if (flags < 0 || fcntl(channel_->fd, F_SETFL, flags | O_NONBLOCK) < 0)
      failErrno("verbs: rank %d: completion channel of %s: fcntl(O_NONBLOCK)", rank,
                deviceName_.c_str());
  }
  cq_.reset(ibv_create_cq(dev, static_cast<int>(cqe), nullptr, channel_.get(), 0));
  if (!cq_)
    failErrno("verbs: rank %d: ibv_create_cq(%s, %llu entries)", rank, deviceName_.c_str(),
              static_cast<unsigned long long>(cqe));

  // 5. receive slots for control messages (queue pair 0 of every peer)
  ctrlRing_.assign(static_cast<size_t>(size) * settings_.recvDepth * kCtrlSlotBytes, 0);
  ctrlMr_.reset(
      ibv_reg_mr(domain_->pd.get(), ctrlRing_.data(), ctrlRing_.size(), IBV_ACCESS_LOCAL_WRITE));
  if (!ctrlMr_) failErrno("verbs: rank %d: ibv_reg_mr(control receive slots)", rank);

  // 6. queue pairs, taken to INIT with their receives posted
  createQueuePairs();
  SHOAL_INFO(
      IB,
      "rank %d: verbs on %s:%d (%s, MTU %d, GID index %d), %d queue pair(s) per peer, "
      "depth %u send / %u receive, %s",
      rank, deviceName_.c_str(), port_,
      portAttr_.link_layer == IBV_LINK_LAYER_ETHERNET ? "RoCE" : "InfiniBand",
      128 << portAttr_.active_mtu, gidIndex_, settings_.qpsPerPeer, settings_.sendDepth,
      settings_.recvDepth,
      settings_.sleepAfterUs > 0
          ? strprintf("sleeps on completions after %ld us idle", settings_.sleepAfterUs).c_str()
          : "busy polling");
}

VerbsContext::~VerbsContext() {
  // Buffers may outlive the context and share the cache; they only release.
  domain_->cache->setDeviceMethod(nullptr, nullptr);
  // Destroying a queue pair discards its outstanding work; then drop the
  // registrations that work still referenced.
  for (auto& p : pairs_) {
    for (auto& q : p->queuePairs()) {
      q.qp.reset();
      for (uint64_t s = q.completed; s < q.posted; ++s) {
        SendSlot& slot = q.slots[s % q.depth];
        if (slot.source) domain_->cache->release(slot.source);
        slot = {};
      }
    }
  }
  pairs_.clear();
  ctrlMr_.reset();
  cq_.reset();
  domain_.reset();
}

void VerbsContext::createQueuePairs() {
  std::mt19937 rng(std::random_device{}());
  pairs_.reserve(size_);
  for (int peer = 0; peer < size_; ++peer) {
    auto pair = std::make_unique<VerbsPair>(*this, peer);
    auto& qps = pair->queuePairs();
    qps.resize(settings_.qpsPerPeer);
    for (int i = 0; i < settings_.qpsPerPeer; ++i) {
      QueuePair& q = qps[i];
      ibv_qp_init_attr init{};
      init.send_cq = cq_.get();
      init.recv_cq = cq_.get();
      init.qp_type = IBV_QPT_RC;
      init.sq_sig_all = 0;
      init.cap.max_send_wr = settings_.sendDepth;
      init.cap.max_recv_wr = settings_.recvDepth;
      init.cap.max_send_sge = 1;
      init.cap.max_recv_sge = 1;
      init.cap.max_inline_data = Event::kMaxCtrl;
      q.qp.reset(ibv_create_qp(domain_->pd.get(), &init));
      if (!q.qp) {
        failErrno("verbs: rank %d: ibv_create_qp(%s, peer %d, %u/%u deep, %zu bytes inline)", rank_,
                  deviceName_.c_str(), peer, settings_.sendDepth, settings_.recvDepth,
                  Event::kMaxCtrl);
      }
      q.peer = peer;
      q.index = i;
      q.global = static_cast<uint32_t>(byGlobal_.size());
      if (q.global >= kRecvFlag) {
        fail(shoalInvalidUsage, "verbs: rank %d: more than 65536 queue pairs", rank_);
      }
      q.psn = rng() & 0xffffff;
      q.depth = settings_.sendDepth;
      q.slots.assign(q.depth, SendSlot{});
      byGlobal_.push_back(&q);

      ibv_qp_attr attr{};
      attr.qp_state = IBV_QPS_INIT;
      attr.pkey_index = 0;
      attr.port_num = static_cast<uint8_t>(port_);
      attr.qp_access_flags =
          IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_REMOTE_WRITE | IBV_ACCESS_REMOTE_READ;
      if (int rc =
              ibv_modify_qp(q.qp.get(), &attr,
                            IBV_QP_STATE | IBV_QP_PKEY_INDEX | IBV_QP_PORT | IBV_QP_ACCESS_FLAGS)) {
        fail(shoalSystemError, "verbs: rank %d: queue pair to peer %d: RESET->INIT failed: %s",
             rank_, peer, strerror(rc));
      }
      for (uint32_t slot = 0; slot < settings_.recvDepth; ++slot) postReceive(q, slot);
    }
    pairs_.push_back(std::move(pair));
  }
}

void VerbsContext::postReceive(QueuePair& q, uint32_t slot) {
  // A write with immediate consumes a receive too, but lands no bytes in it; only
  // queue pair 0 carries control messages and needs a buffer.
  ibv_sge sge{};
  ibv_recv_wr wr{};
  wr.wr_id = q.global | kRecvFlag | (static_cast<uint64_t>(slot) << kWrIdShift);
  if (q.index == 0) {
    size_t off = (static_cast<size_t>(q.peer) * settings_.recvDepth + slot) * kCtrlSlotBytes;
    sge.addr = reinterpret_cast<uintptr_t>(ctrlRing_.data() + off);
    sge.length = kCtrlSlotBytes;
    sge.lkey = ctrlMr_->lkey;
    wr.sg_list = &sge;
    wr.num_sge = 1;
  }
  ibv_recv_wr* bad = nullptr;
  if (int rc = ibv_post_recv(q.qp.get(), &wr, &bad)) {
    fail(shoalSystemError, "verbs: rank %d: ibv_post_recv for peer %d failed: %s", rank_, q.peer,
         strerror(rc));
  }
}

void VerbsContext::connect(Bootstrap& bootstrap, Deadline deadline) {
  if (connected_) fail(shoalInvalidUsage, "verbs: rank %d: connect() called twice", rank_);
  if (bootstrap.size() != size_ || bootstrap.rank() != rank_) {
    fail(shoalInvalidUsage, "verbs: context is rank %d of %d but the bootstrap is rank %d of %d",
         rank_, size_, bootstrap.rank(), bootstrap.size());
  }
  const int nq = settings_.qpsPerPeer;
  const size_t block = addrBlockBytes(size_, nq);
  std::vector<uint8_t> mine(block, 0), all(block * size_, 0);
  RankAddr self{};
  self.magic = kAddrMagic;
  self.qpsPerPeer = static_cast<uint32_t>(nq);
  self.lid = portAttr_.lid;
  self.mtu = static_cast<uint8_t>(portAttr_.active_mtu);
  self.linkLayer = portAttr_.link_layer;
  memcpy(self.gid, gid_.raw, sizeof(self.gid));
  memcpy(mine.data(), &self, sizeof(self));
  auto* qpAddrs = reinterpret_cast<QpAddr*>(mine.data() + sizeof(RankAddr));
  for (int p = 0; p < size_; ++p) {
    for (int i = 0; i < nq; ++i) {
      const QueuePair& q = pairs_[p]->queuePairs()[i];
      qpAddrs[p * nq + i] = QpAddr{q.qp->qp_num, q.psn};
    }
  }
  bootstrap.allgather(mine.data(), all.data(), block, deadline);

  std::vector<QpAddr> toMe;
  for (int p = 0; p < size_; ++p) {
    // Rejects a record of the wrong size, magic, queue-pair count, MTU code
    // or queue-pair numbers before any of it reaches ibv_modify_qp.
    RankAddr peer = decodeRankAddr(all.data() + p * block, block, rank_, p, size_, nq, &toMe);
    if (peer.linkLayer != portAttr_.link_layer) {
      fail(shoalInvalidUsage, "verbs: rank %d is on %s but rank %d on %s; the ports cannot talk",
           rank_, portAttr_.link_layer == IBV_LINK_LAYER_ETHERNET ? "RoCE" : "InfiniBand", p,
           peer.linkLayer == IBV_LINK_LAYER_ETHERNET ? "RoCE" : "InfiniBand");
    }
    for (int i = 0; i < nq; ++i) {
      QueuePair& q = pairs_[p]->queuePairs()[i];
      const QpAddr& to = toMe[static_cast<size_t>(i)];
      ibv_qp_attr attr{};
      attr.qp_state = IBV_QPS_RTR;
      attr.path_mtu = std::min(portAttr_.active_mtu, static_cast<ibv_mtu>(peer.mtu));
      attr.dest_qp_num = to.qpn;
      attr.rq_psn = to.psn;
      attr.max_dest_rd_atomic = 1;
      attr.min_rnr_timer = 12;  // 0.64 ms before a sender retries into a full receive queue
      attr.ah_attr.dlid = peer.lid;
      attr.ah_attr.sl = static_cast<uint8_t>(settings_.serviceLevel);
      attr.ah_attr.port_num = static_cast<uint8_t>(port_);
      // RoCE routes by GID; InfiniBand by LID unless a GID index was forced.
      if (portAttr_.link_layer == IBV_LINK_LAYER_ETHERNET ||
          config::getInt("SHOAL_IB_GID_INDEX") >= 0) {
        attr.ah_attr.is_global = 1;
        memcpy(attr.ah_attr.grh.dgid.raw, peer.gid, sizeof(peer.gid));
        attr.ah_attr.grh.sgid_index = static_cast<uint8_t>(gidIndex_);
        attr.ah_attr.grh.hop_limit = 255;
        attr.ah_attr.grh.traffic_class = static_cast<uint8_t>(settings_.trafficClass);
      }
      if (int rc =
              ibv_modify_qp(q.qp.get(), &attr,
                            IBV_QP_STATE | IBV_QP_AV | IBV_QP_PATH_MTU | IBV_QP_DEST_QPN |
                                IBV_QP_RQ_PSN | IBV_QP_MAX_DEST_RD_ATOMIC | IBV_QP_MIN_RNR_TIMER)) {
        fail(shoalSystemError, "verbs: rank %d: queue pair %d to peer %d: INIT->RTR failed: %s",
             rank_, i, p, strerror(rc));
      }
      attr = {};
      attr.qp_state = IBV_QPS_RTS;
      attr.timeout = static_cast<uint8_t>(settings_.timeout);
      attr.retry_cnt = static_cast<uint8_t>(settings_.retryCount);
      attr.rnr_retry = 7;  // unlimited: a busy receiver delays, it does not fail
      attr.sq_psn = q.psn;
      attr.max_rd_atomic = 1;
      if (int rc = ibv_modify_qp(q.qp.get(), &attr,
                                 IBV_QP_STATE | IBV_QP_TIMEOUT | IBV_QP_RETRY_CNT |
                                     IBV_QP_RNR_RETRY | IBV_QP_SQ_PSN | IBV_QP_MAX_QP_RD_ATOMIC)) {
        fail(shoalSystemError, "verbs: rank %d: queue pair %d to peer %d: RTR->RTS failed: %s",
             rank_, i, p, strerror(rc));
      }
    }
  }
  // Nobody sends before every queue pair can receive.
  bootstrap.barrier(deadline);
  connected_ = true;
}

Pair& VerbsContext::pair(int peer) {
  if (!connected_)
    fail(shoalInvalidUsage, "verbs: rank %d: pair(%d) before connect()", rank_, peer);
  if (peer < 0 || peer >= size_) {
    fail(shoalInvalidArgument, "verbs: rank %d: no peer %d among %d ranks", rank_, peer, size_);
  }
  return *pairs_[peer];
}

std::unique_ptr<Buffer> VerbsContext::allocate(size_t bytes) {
  size_t page = static_cast<size_t>(sysconf(_SC_PAGESIZE));
  size_t len = (std::max<size_t>(bytes, 1) + page - 1) / page * page;
  void* mem = mmap(nullptr, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (mem == MAP_FAILED)
    failErrno("verbs: rank %d: mmap(%zu bytes) for a registered buffer", rank_, len);
  ibv_mr* mr =
      ibv_reg_mr(domain_->pd.get(), mem, len,
                 IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_REMOTE_WRITE | IBV_ACCESS_REMOTE_READ);
  if (mr == nullptr) {
    int err = errno;
    munmap(mem, len);
    fail(shoalSystemError, "verbs: rank %d: ibv_reg_mr(%zu bytes) failed: %s%s", rank_, len,
         strerror(err),
         err == ENOMEM ? " (raise the locked-memory limit: ulimit -l unlimited)" : "");
  }
  RegEntry* entry = domain_->cache->adopt(mr);
  return std::make_unique<VerbsBuffer>(domain_, entry, mem, bytes, true);
}

std::unique_ptr<Buffer> VerbsContext::registerMemory(void* ptr, size_t bytes) {
  if (ptr == nullptr || bytes == 0) {
    fail(shoalInvalidArgument, "verbs: rank %d: registerMemory(%p, %zu)", rank_, ptr, bytes);
  }
  RegEntry* entry = nullptr;
  try {
    entry = domain_->cache->acquire(ptr, bytes, true);
  } catch (const Error& e) {
    fail(e.code(), "verbs: rank %d: registerMemory(%p, %zu bytes) on %s: %s", rank_, ptr, bytes,
         deviceName_.c_str(), e.what());
  }
  return std::make_unique<VerbsBuffer>(domain_, entry, ptr, bytes, false);
}

bool VerbsContext::grantLanding(void* addr, size_t len, uint32_t* token,
                                std::unique_ptr<Buffer>* hold) {
  try {
    std::unique_ptr<Buffer> b = registerMemory(addr, len);
    *token = decodeKey(b->key()).rkey;
    *hold = std::move(b);
    return true;
  } catch (const Error& e) {
    // Memory the HCA cannot register still arrives, through the staging slot.
    SHOAL_INFO(NET, "rank %d: no landing at %p (%zu bytes), the slot instead: %s", rank_, addr, len,
               e.what());
    return false;
  }
}

bool VerbsContext::landingKey(int peer, uint64_t addr, uint64_t len, uint32_t token,
                              RemoteKey* out) const {
  *out = encodeKey(addr, token, len);
  return true;
}

bool VerbsContext::writesFromDevice(int cudaDevice) const {
  return deviceMethod(cudaDevice) != GdrMethod::kStaging;
}

GdrMethod VerbsContext::deviceMethod(int cudaDevice) const {
  std::lock_guard<std::mutex> lock(gdrMutex_);
  auto it = gdr_.find(cudaDevice);
  if (it != gdr_.end()) return it->second;
  GdrFacts facts = gdrFactsForDevice(topo::systemTopology(), cudaDevice, deviceName_);
  GdrDecision d = decideGdr(facts);
  // The kernel has the last word: a provider without dma-buf support (or a
  // peer-memory module that cannot pin this GPU) refuses the registration.
  for (int tries = 0; tries < 2 && d.method != GdrMethod::kStaging; ++tries) {
    std::string err;
    if (probeDeviceRegistration(domain_->pd.get(), d.method, cudaDevice, &err)) break;
    SHOAL_WARN(NET, "rank %d: GPU %d on %s: %s registration refused: %s", rank_, cudaDevice,
               deviceName_.c_str(), gdrMethodName(d.method), err.c_str());
    if (d.method == GdrMethod::kDmabuf) {
      facts.dmabufRefused = err;
      d = decideGdr(facts);
    } else {
      d.why = std::string("staging: ") + gdrMethodName(d.method) + " registration refused: " + err;
      d.method = GdrMethod::kStaging;
    }
  }
  SHOAL_INFO(NET, "rank %d: GPU %d with %s:%d: %s", rank_, cudaDevice, deviceName_.c_str(), port_,
             d.why.c_str());
  gdr_[cudaDevice] = d.method;
  return d.method;
}

void VerbsContext::deviceFailed(int cudaDevice, const std::string& message) {
  std::lock_guard<std::mutex> lock(gdrMutex_);
  auto it = gdr_.find(cudaDevice);
  if (it == gdr_.end() || it->second == GdrMethod::kStaging) return;
  SHOAL_WARN(NET,
             "rank %d: GPU %d with %s: %s registration failed (%s); staging its memory through "
             "host buffers from now on",
             rank_, cudaDevice, deviceName_.c_str(), gdrMethodName(it->second), message.c_str());
  it->second = GdrMethod::kStaging;
}

void VerbsContext::recordFailure(VerbsPair& pair, shoalResult_t code, const std::string& message) {
  pair.setFailed(message);
  SHOAL_WARN(IB, "%s", message.c_str());
  Event e{};
  e.kind = Event::kError;
  e.peer = pair.peer();
  e.code = code;
  snprintf(e.message, sizeof(e.message), "%s", message.c_str());
  pending_.push_back(e);
}

void VerbsContext::handle(const ibv_wc& wc) {
  QueuePair& q = *byGlobal_[wc.wr_id & (kRecvFlag - 1)];
  VerbsPair& pair = *pairs_[q.peer];
  const bool recv = (wc.wr_id & kRecvFlag) != 0;
  const uint64_t tag = wc.wr_id >> kWrIdShift;
  if (wc.status != IBV_WC_SUCCESS) {
    const char* what = "receive from";
    if (!recv) {
      what = q.slots[tag % q.depth].ctrl ? "control send to" : "RDMA write to";
      if (tag >= q.completed) pair.sendCompleted(q, tag, false);
    }
    // Later completions on a broken connection are flushes of the same failure.
    if (!pair.failed()) {
      recordFailure(pair, completionErrorCode(wc.status),
                    strprintf("verbs: rank %d: %s peer %d failed: %s (status %d, vendor "
                              "error 0x%x): %s",
                              rank_, what, q.peer, ibv_wc_status_str(wc.status), wc.status,
                              wc.vendor_err, completionErrorHint(wc.status)));
    }
    return;
  }
  if (recv) {
    uint32_t slot = static_cast<uint32_t>(tag);
    if (wc.opcode == IBV_WC_RECV_RDMA_WITH_IMM) {
      pair.received(q, false, ntohl(wc.imm_data), nullptr, 0);
    } else {
      size_t off = (static_cast<size_t>(q.peer) * settings_.recvDepth + slot) * kCtrlSlotBytes;
      pair.received(q, true, 0, ctrlRing_.data() + off, wc.byte_len);
    }
    postReceive(q, slot);
  } else if (tag >= q.completed) {
    pair.sendCompleted(q, tag, true);
  }
}

size_t VerbsContext::poll(Event* events, size_t max) {
  size_t n = 0;
  while (n < max && !pending_.empty()) {
    events[n++] = pending_.front();
    pending_.pop_front();
  }
  if (n == max) return n;
  ibv_wc wcs[32];
  const int want = static_cast<int>(std::min<size_t>(32, max - n));
  int got = pollCq(wcs, want);
  if (got == 0 && n == 0 && settings_.sleepAfterUs > 0) {
    auto now = std::chrono::steady_clock::now();
    if (!idle_) {
      idle_ = true;
      idleSince_ = now;
    } else if (now - idleSince_ >= std::chrono::microseconds(settings_.sleepAfterUs)) {
      got = sleepForCompletion(wcs, want);
    }
  }
  if (got > 0) idle_ = false;
  for (int i = 0; i < got; ++i) handle(wcs[i]);
  while (n < max && !pending_.empty()) {
    events[n++] = pending_.front();
    pending_.pop_front();
  }
  return n;
}

int VerbsContext::pollCq(ibv_wc* wcs, int max) {
  int got = ibv_poll_cq(cq_.get(), max, wcs);
  if (got < 0) fail(shoalSystemError, "verbs: rank %d: ibv_poll_cq failed (%d)", rank_, got);
  return got;
}

// Arms the completion queue, rechecks it (a completion may have arrived before the
// arming), then sleeps until the channel reports one or the slice ends.
int VerbsContext::sleepForCompletion(ibv_wc* wcs, int max) {
  if (!armed_) {
    if (int rc = ibv_req_notify_cq(cq_.get(), 0)) {
      fail(shoalSystemError, "verbs: rank %d: ibv_req_notify_cq(%s) failed: %s", rank_,
           deviceName_.c_str(), strerror(rc));
    }
    armed_ = true;
    if (int got = pollCq(wcs, max)) return got;
  }
  pollfd pfd{channel_->fd, POLLIN, 0};
  const timespec slice{0, kSleepSliceNs};
  int ready = ::ppoll(&pfd, 1, &slice, nullptr);
  if (ready < 0 && errno != EINTR) failErrno("verbs: rank %d: poll(completion channel)", rank_);
  if (ready > 0) {
    ibv_cq* cq = nullptr;
    void* user = nullptr;
    // Non-blocking fd: EAGAIN when another wakeup consumed the event first.
    if (ibv_get_cq_event(channel_.get(), &cq, &user) == 0) {
      ibv_ack_cq_events(cq, 1);
      armed_ = false;
    }
  }
  return pollCq(wcs, max);
}

}  // namespace shoal::transport::verbs
