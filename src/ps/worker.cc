#include "ps/worker.h"

#include <algorithm>
#include <cstring>

#include "core/error.h"
#include "core/log.h"
#include "core/reduce.h"
#include "ps/partition.h"

namespace shoal::ps {

const char* opName(OpKind k) {
  switch (k) {
    case OpKind::kPush:
      return "push";
    case OpKind::kPull:
      return "pull";
    case OpKind::kPushPull:
      return "push_pull";
    case OpKind::kRegister:
      return "register";
    case OpKind::kDeregister:
      return "deregister";
  }
  return "?";
}

struct Worker::Pending {
  std::shared_ptr<OpState> state;
  OpKind kind;
  uint64_t key;
  uint64_t sequence = 0;  // this worker's push/pull operations so far, this one included
  size_t remaining = 0;
  uint64_t version = UINT64_MAX;
  shoalResult_t code = shoalSuccess;
  std::string error;
  Deadline deadline;
  std::map<int, int> owing;  // server rank -> partitions not answered yet
  bool finished = false;
  // Device buffers (see PinnedStaging): pushes read pushStage, pulls land in
  // pullStage and are copied to deviceOut on pullDevice.
  PinnedStaging::Buffer* pushStage = nullptr;
  PinnedStaging::Buffer* pullStage = nullptr;
  int pushDevice = -1, pullDevice = -1;
  char* deviceOut = nullptr;
  std::vector<cuda::Event> events;

  Pending() = default;
  Pending(const Pending&) = delete;
  Pending& operator=(const Pending&) = delete;
  ~Pending() {
    for (cuda::Event e : events) cuda::destroyEvent(e);
  }
};

Worker::Worker(transport::Context& ctx, Links& links, std::vector<int> serverRanks,
               size_t partitionBytes, shoalPsMode_t mode, double timeoutSeconds,
               CompleteFn complete)
    : ctx_(ctx),
      links_(links),
      servers_(std::move(serverRanks)),
      partitionBytes_(partitionBytes),
      mode_(mode),
      timeout_(timeoutSeconds),
      complete_(std::move(complete)),
      hooks_(faults::load(ctx.rank())) {}

Worker::~Worker() {
  // Registrations go before the pinned buffers they cover.
  regs_.clear();
  retired_.clear();
  staging_.reset();
}

int Worker::serverIndex(int rank) const {
  for (size_t i = 0; i < servers_.size(); ++i) {
    if (servers_[i] == rank) return static_cast<int>(i);
  }
  return -1;
}

Worker::Registration& Worker::registrationFor(void* ptr, size_t bytes) {
  auto p = reinterpret_cast<uintptr_t>(ptr);
  auto it = regs_.upper_bound(p);
  if (it != regs_.begin()) {
    auto prev = std::prev(it);
    if (prev->second.base <= p && p + bytes <= prev->second.base + prev->second.bytes) {
      return prev->second;
    }
  }
  auto same = regs_.find(p);
  if (same != regs_.end()) {
    // A larger buffer at the same address: the old registration may still be
    // the target of answers in flight, so it is retired, not released.
    retired_.push_back(std::move(same->second));
    regs_.erase(same);
  }
  Registration r;
  r.base = p;
  r.bytes = bytes;
  r.id = nextBufferId_++;
  r.buf = ctx_.registerMemory(ptr, bytes);
  SHOAL_TRACE(PS, "rank %d: ps worker: registered %zu bytes at %p as buffer %u", ctx_.rank(), bytes,
              ptr, r.id);
  return regs_.emplace(p, std::move(r)).first->second;
}

void Worker::submit(const Request& r) {
  const int me = ctx_.rank();
  auto op = std::make_shared<Pending>();
  op->state = r.state;
  op->kind = r.kind;
  op->key = r.key;
  op->deadline = Deadline::after(timeout_);
  if (r.kind == OpKind::kRegister || r.kind == OpKind::kDeregister) {
    // Device memory is never registered: pulls into it land in pinned
    // buffers the worker registers itself.
    if (cuda::onDevice(r.dst)) {
      complete_(*r.state, shoalSuccess, "", 0);
      return;
    }
    if (r.kind == OpKind::kRegister) {
      registrationFor(r.dst, r.count);
      complete_(*r.state, shoalSuccess, "", 0);
      return;
    }
    auto it = regs_.find(reinterpret_cast<uintptr_t>(r.dst));
    if (it == regs_.end()) {
      complete_(*r.state, shoalInvalidArgument,
                strprintf("rank %d: ps deregister: %p is not the start of a registered buffer", me,
                          r.dst),
                0);
      return;
    }
    ForgetMsg f{};
    f.type = kForget;
    f.bufferId = it->second.id;
    for (int s : it->second.sentTo) links_.sendCtrl(s, &f, sizeof(f));
    regs_.erase(it);
    complete_(*r.state, shoalSuccess, "", 0);
    return;
  }
  op->sequence = ++operations_;
  const char* name = opName(r.kind);
  const size_t es = dtypeSize(r.dtype);
  const size_t bytes = r.count * es;
  auto k = keys_.find(r.key);
  if (k != keys_.end() && (k->second.bytes != bytes || k->second.dtype != r.dtype)) {
    complete_(
        *r.state, shoalInvalidArgument,
        strprintf("rank %d: ps %s key %llu: %zu elements of %s, but the key was first used "
                  "with %zu of %s",
                  me, name, static_cast<unsigned long long>(r.key), r.count, dtypeName(r.dtype),
                  k->second.bytes / dtypeSize(k->second.dtype), dtypeName(k->second.dtype)),
        0);
    return;
  }
  if (bytes == 0) {
    complete_(*r.state, shoalSuccess, "", 0);
    return;
  }
  if (k == keys_.end()) {
    KeyInfo info{bytes, r.dtype, {}};
    for (const Partition& p :
         partitionTensor(r.key, bytes, es, partitionBytes_, static_cast<int>(servers_.size()))) {
      auto s = std::make_unique<Slot>();
      s->id = static_cast<uint32_t>(slots_.size());
      s->key = r.key;
      s->index = p.index;
      s->offset = p.offset;
      s->bytes = p.bytes;
      s->server = servers_[static_cast<size_t>(p.server)];
      info.slots.push_back(s->id);
      slots_.push_back(std::move(s));
    }
    k = keys_.emplace(r.key, std::move(info)).first;
  }
  const bool push = r.kind != OpKind::kPull;
  const bool pull = r.kind != OpKind::kPush;
  if (!stageDevice(r, *op, bytes, k->second.slots)) return;
  const char* src = op->pushStage ? op->pushStage->data : static_cast<const char*>(r.src);
  Registration* reg = nullptr;
  char* dst = static_cast<char*>(r.dst);
  if (pull && op->pullStage) {
    dst = op->pullStage->data;
    reg = &registrationFor(dst, op->pullStage->bytes);
  } else if (pull) {
    reg = &registrationFor(dst, bytes);
  }
  for (size_t i = 0; i < k->second.slots.size(); ++i) {
    Slot& s = *slots_[k->second.slots[i]];
    if (push) {
      cuda::Event staged = op->pushStage ? op->events[i] : nullptr;
      s.queue.push_back({op, true, src + s.offset, 0, 0, staged});
      ++op->remaining;
      ++op->owing[s.server];
    }
    if (pull) {
      uint64_t off = reinterpret_cast<uintptr_t>(dst) + s.offset - reg->base;
      s.queue.push_back({op, false, nullptr, reg->id, off, nullptr});
      ++op->remaining;
      ++op->owing[s.server];
    }
  }
  pending_.insert(op);
  for (uint32_t id : k->second.slots) pump(*slots_[id]);
}

void Worker::pump(Slot& s) {
  auto dead = failedServers_.find(s.server);
  if (dead != failedServers_.end() && s.state != Slot::kFailed) {
    failSlot(s, shoalRemoteError, dead->second, true);
  }
  while (!s.queue.empty()) {
    PartOp& f = s.queue.front();
    if (f.op->finished) {  // timed out meanwhile: its buffers are no longer ours to use
      s.queue.pop_front();
      continue;
    }
    if (s.state == Slot::kFailed) {
      PartOp gone = f;
      s.queue.pop_front();
      partFailed(gone.op, s.server, s.failCode, s.failure);
      continue;
    }
    if (s.state == Slot::kNew) {
      RegisterMsg m{};
      m.type = kRegister;
      m.dtype = static_cast<uint8_t>(keys_[s.key].dtype);
      m.workerSlot = s.id;
      m.key = s.key;
      m.partition = s.index;
      m.offset = s.offset;
      m.bytes = s.bytes;
      m.tensorBytes = keys_[s.key].bytes;
      links_.sendCtrl(s.server, &m, sizeof(m));
      s.state = Slot::kRegistering;
      return;
    }
    if (s.state == Slot::kRegistering) return;
    if (f.push) {
      // One push in flight per slot: the server's slot holds one.
      if (s.awaitingAck) return;
      if (f.staged) {
        bool copied = false;
        try {
          copied = cuda::eventDone(f.staged);
        } catch (const Error& e) {
          PartOp gone = f;
          s.queue.pop_front();
          partFailed(gone.op, s.server, e.code(),
                     strprintf("copying partition %u out of device memory: %s", s.index, e.what()));
          continue;
        }
        if (!copied) {
          stalled_.insert(s.id);
          return;
        }
      }
      faults::reached(hooks_, faults::Phase::kPsPush, f.op->sequence);
      links_.write(s.server, f.src, s.bytes, s.serverKey, 0, s.serverSlot, 0);
      ++s.pushesSent;
      s.awaitingAck = f.op;
      s.queue.pop_front();
      continue;
    }
    auto reg = std::find_if(regs_.begin(), regs_.end(),
                            [&](const auto& kv) { return kv.second.id == f.bufferId; });
    if (reg == regs_.end()) {
      PartOp gone = f;
      s.queue.pop_front();
      partFailed(gone.op, s.server, shoalInvalidUsage,
                 "its destination buffer was deregistered before the pull was sent");
      continue;
    }
    if (!reg->second.sentTo.count(s.server)) {
      KeyFragMsg frags[4];
      int n = keyFragments(reg->second.buf->key(), kKeyToServer, reg->second.id, frags);
      for (int i = 0; i < n; ++i) links_.sendCtrl(s.server, &frags[i], sizeof(frags[i]));
      reg->second.sentTo.insert(s.server);
    }
    faults::reached(hooks_, faults::Phase::kPsPull, f.op->sequence);
    uint32_t request = nextRequest_;
    nextRequest_ = nextRequest_ >= kMaxSlotId ? 1 : nextRequest_ + 1;
    PullRequestMsg m{};
    m.type = kPullRequest;
    m.serverSlot = s.serverSlot;
    m.request = request;
    m.bufferId = f.bufferId;
    m.offset = f.offset;
    // Sync: the round of this worker's last push (pushes are counted per
    // slot, and every worker pushes every round).
    m.minVersion = mode_ == shoalPsSync ? s.pushesSent : 0;
    links_.sendCtrl(s.server, &m, sizeof(m));
    pulls_[request] = PullWait{f.op, s.id, 0, 0};
    s.queue.pop_front();
  }
}

void Worker::finish(Pending& op) {
  op.finished = true;
  // After a success every copy and transfer on the staging buffers is over;
  // after a failure some may still run, so those buffers are not reused.
  if (op.pushStage) staging_->release(op.pushStage, op.code == shoalSuccess);
  if (op.pullStage) staging_->release(op.pullStage, op.code == shoalSuccess);
  op.pushStage = op.pullStage = nullptr;
  uint64_t v = op.version == UINT64_MAX ? 0 : op.version;
  complete_(*op.state, op.code, op.error, v);
}

void Worker::partDone(const std::shared_ptr<Pending>& op, int server, uint64_t version) {
  if (op->finished) return;
  --op->owing[server];
  op->version = std::min(op->version, version);
  if (--op->remaining == 0) {
    finish(*op);
    pending_.erase(op);
  }
}

void Worker::partFailed(const std::shared_ptr<Pending>& op, int server, shoalResult_t code,
                        const std::string& why) {
  if (op->finished) return;
  --op->owing[server];
  if (op->code == shoalSuccess) {
    op->code = code;
    op->error = strprintf("rank %d: ps %s key %llu: %s", ctx_.rank(), opName(op->kind),
                          static_cast<unsigned long long>(op->key), why.c_str());
    SHOAL_WARN(PS, "%s", op->error.c_str());
  }
  if (--op->remaining == 0) {
    finish(*op);
    pending_.erase(op);
  }
}

void Worker::failSlot(Slot& s, shoalResult_t code, const std::string& why, bool permanent) {
  if (permanent) {
    s.state = Slot::kFailed;
    s.failCode = code;
    s.failure = why;
  }
  if (s.awaitingAck) {
    auto op = s.awaitingAck;
    s.awaitingAck.reset();
    partFailed(op, s.server, code, why);
  }
  for (auto it = pulls_.begin(); it != pulls_.end();) {
    if (it->second.slot == s.id) {
      auto op = it->second.op;
      it = pulls_.erase(it);
      partFailed(op, s.server, code, why);
    } else {
      ++it;
    }
  }
  while (!s.queue.empty()) {
    PartOp f = s.queue.front();
    s.queue.pop_front();
    partFailed(f.op, s.server, code, why);
  }
}

Worker::Slot& Worker::slotFrom(int peer, uint32_t id, const char* what) {
  if (id >= slots_.size() || slots_[id]->server != peer) {
    fail(shoalRemoteError, "rank %d: ps worker: %s from server rank %d names unknown slot %u",
         ctx_.rank(), what, peer, id);
  }
  return *slots_[id];
}

void Worker::onCtrl(int peer, const uint8_t* msg, size_t len) {
  const int me = ctx_.rank();
  if (serverIndex(peer) < 0) {
    fail(shoalRemoteError, "rank %d: ps worker: rank %d sent a server message but is no server", me,
         peer);
  }
  Limits lim;
  lim.me = me;
  lim.nranks = ctx_.size();
  lim.slots = slots_.size();
  // Slot ids are within slots_ from here on; slotFrom adds whose they are.
  Msg m = decodeMsg(Receiver::kWorker, peer, msg, len, lim);
  switch (m.type) {
    case kKeyToWorker: {
      transport::RemoteKey key;
      if (!keyParts_.add(peer, m.frag, &key)) return;
      Slot& s = slotFrom(peer, m.frag.keyId, "remote key");
      if (key.size < s.bytes) {
        fail(shoalRemoteError,
             "rank %d: ps worker: server rank %d offered a %llu-byte slot for a %llu-byte "
             "partition",
             me, peer, static_cast<unsigned long long>(key.size),
             static_cast<unsigned long long>(s.bytes));
      }
      s.serverKey = key;
      s.haveKey = true;
      return;
    }
    case kRegisterReply: {
      Slot& s = slotFrom(peer, m.regReply.workerSlot, "registration reply");
      if (s.state != Slot::kRegistering || !s.haveKey) {
        fail(shoalRemoteError,
             "rank %d: ps worker: unexpected registration reply from server rank %d for key %llu "
             "partition %u",
             me, peer, static_cast<unsigned long long>(s.key), s.index);
      }
      s.serverSlot = m.regReply.serverSlot;
      s.state = Slot::kReady;
      pump(s);
      return;
    }
    case kPushAck: {
      Slot& s = slotFrom(peer, m.ack.workerSlot, "push acknowledgement");
      if (!s.awaitingAck) {
        fail(shoalRemoteError, "rank %d: ps worker: server rank %d acknowledged a push never sent",
             me, peer);
      }
      auto op = s.awaitingAck;
      s.awaitingAck.reset();
      partDone(op, peer, m.ack.version);
      pump(s);
      return;
    }
    case kPullReply: {
      auto it = pulls_.find(m.pullReply.request);
      if (it == pulls_.end() || slots_[it->second.slot]->server != peer) {
        fail(shoalRemoteError, "rank %d: ps worker: server rank %d answered unknown pull %u", me,
             peer, m.pullReply.request);
      }
      it->second.version = m.pullReply.version;
      if (++it->second.events == 2) {
        auto op = it->second.op;
        uint32_t slot = it->second.slot;
        pulls_.erase(it);
        pullArrived(op, slot, peer, m.pullReply.version);
      }
      return;
    }
    case kError: {
      // validateError terminated the text and made the code a failure code.
      auto code = static_cast<shoalResult_t>(m.error.code);
      std::string why = strprintf("server rank %d reports: %s", peer, m.error.text);
      if (m.error.workerSlot == ErrorMsg::kAllSlots) {
        failedServers_[peer] = why;
        for (auto& s : slots_) {
          if (s->server == peer) failSlot(*s, code, why, true);
        }
        return;
      }
      failSlot(slotFrom(peer, m.error.workerSlot, "error"), code, why, true);
      return;
    }
    default:
      // decodeMsg lets through only the types a worker handles.
      fail(shoalInternalError, "rank %d: ps worker: message type %u from rank %d slipped through",
           me, m.type, peer);
  }
}

void Worker::onWrite(int peer, uint32_t imm) {
  uint32_t request = imm & ~kPullImmBit;
  auto it = pulls_.find(request);
  if (!(imm & kPullImmBit) || it == pulls_.end() || slots_[it->second.slot]->server != peer) {
    fail(shoalRemoteError, "rank %d: ps worker: unexpected write (immediate %08x) from rank %d",
         ctx_.rank(), imm, peer);
  }
  if (++it->second.events == 2) {
    auto op = it->second.op;
    uint64_t v = it->second.version;
    uint32_t slot = it->second.slot;
    pulls_.erase(it);
    pullArrived(op, slot, peer, v);
  }
}

void Worker::onServerFailed(int peer, const std::string& why) {
  if (serverIndex(peer) < 0 || deadServers_.count(peer)) return;
  std::string text = strprintf("server rank %d failed: %s", peer, why.c_str());
  deadServers_[peer] = text;
  failedServers_[peer] = text;
  links_.markDead(peer);
  for (auto& s : slots_) {
    if (s->server == peer) failSlot(*s, shoalRemoteError, text, true);
  }
}

std::set<int> Worker::busyServers() const {
  std::set<int> out;
  for (const auto& op : pending_) {
    for (const auto& [server, n] : op->owing) {
      if (n > 0) out.insert(server);
    }
  }
  return out;
}

void Worker::checkDeadlines() {
  std::vector<std::shared_ptr<Pending>> expired;
  for (const auto& op : pending_) {
    if (op->deadline.expired()) expired.push_back(op);
  }
  for (const auto& op : expired) {
    std::string who;
    for (const auto& [server, n] : op->owing) {
      if (n > 0) who += strprintf("%s%d", who.empty() ? "" : ",", server);
    }
    op->code = shoalTimeout;
    op->error = strprintf(
        "rank %d: ps %s key %llu: deadline of %.1f s passed waiting for server ranks {%s}",
        ctx_.rank(), opName(op->kind), static_cast<unsigned long long>(op->key), timeout_,
        who.c_str());
    SHOAL_WARN(PS, "%s", op->error.c_str());
    finish(*op);
    pending_.erase(op);
  }
}

void Worker::sayBye() {
  if (bye_) return;
  bye_ = true;
  ByeMsg m{};
  m.type = kBye;
  for (int s : servers_) {
    if (!deadServers_.count(s)) links_.sendCtrl(s, &m, sizeof(m));
  }
}

// ---- device memory

bool Worker::stageDevice(const Request& r, Pending& op, size_t bytes,
                         const std::vector<uint32_t>& slots) {
  int srcDevice = -1, dstDevice = -1;
  const bool push = r.kind != OpKind::kPull;
  const bool pull = r.kind != OpKind::kPush;
  bool srcOnGpu = push && cuda::pointerKind(r.src, &srcDevice) != cuda::MemoryKind::kHost;
  bool dstOnGpu = pull && cuda::pointerKind(r.dst, &dstDevice) != cuda::MemoryKind::kHost;
  // A transport that reads GPU memory (GPUDirect RDMA) sends pushes straight
  // from it. Pulls stay staged even then: data a NIC wrote into GPU memory
  // needs a flush before kernels may read it, which no transport offers yet.
  if (srcOnGpu && srcDevice >= 0 && ctx_.writesFromDevice(srcDevice)) srcOnGpu = false;
  if (!srcOnGpu && !dstOnGpu) return true;
  try {
    if (!staging_) {
      staging_ = std::make_unique<PinnedStaging>([this](void* p) { dropRegistration(p); });
    }
    // Managed memory may report no device; its copies run on the current one.
    if (srcOnGpu) {
      op.pushDevice = srcDevice >= 0 ? srcDevice : cuda::currentDevice();
      op.pushStage = staging_->acquire(bytes);
    }
    if (dstOnGpu) {
      op.pullDevice = dstDevice >= 0 ? dstDevice : cuda::currentDevice();
      op.pullStage = staging_->acquire(bytes);
      op.deviceOut = static_cast<char*>(r.dst);
    }
    if (srcOnGpu) {
      // Partition by partition (slot order is tensor order), so the first is
      // sent while the next ones still copy; op.events[i] marks slot i's.
      cuda::Stream st = staging_->stream(op.pushDevice);
      for (uint32_t id : slots) {
        const Slot& s = *slots_[id];
        cuda::copyAsync(op.pushStage->data + s.offset, static_cast<const char*>(r.src) + s.offset,
                        s.bytes, st);
        op.events.push_back(cuda::createEvent());
        cuda::recordEvent(op.events.back(), st);
      }
    }
  } catch (const Error& e) {
    // Copies already enqueued may still run into the push buffer.
    if (op.pushStage) staging_->release(op.pushStage, op.events.empty());
    if (op.pullStage) staging_->release(op.pullStage, true);
    op.pushStage = op.pullStage = nullptr;
    complete_(*r.state, e.code(),
              strprintf("rank %d: ps %s key %llu: staging device memory: %s", ctx_.rank(),
                        opName(r.kind), static_cast<unsigned long long>(r.key), e.what()),
              0);
    SHOAL_WARN(PS, "rank %d: ps %s key %llu: staging device memory: %s", ctx_.rank(),
               opName(r.kind), static_cast<unsigned long long>(r.key), e.what());
    return false;
  }
  return true;
}

void Worker::dropRegistration(void* base) {
  auto it = regs_.find(reinterpret_cast<uintptr_t>(base));
  if (it == regs_.end()) return;
  ForgetMsg f{};
  f.type = kForget;
  f.bufferId = it->second.id;
  for (int s : it->second.sentTo) {
    if (!deadServers_.count(s)) links_.sendCtrl(s, &f, sizeof(f));
  }
  regs_.erase(it);
}

void Worker::pullArrived(const std::shared_ptr<Pending>& op, uint32_t slot, int server,
                         uint64_t version) {
  if (!op->deviceOut || op->finished) {
    partDone(op, server, version);
    return;
  }
  const Slot& s = *slots_[slot];
  try {
    cuda::Stream st = staging_->stream(op->pullDevice);
    cuda::copyAsync(op->deviceOut + s.offset, op->pullStage->data + s.offset, s.bytes, st);
    cuda::Event done = cuda::createEvent();
    op->events.push_back(done);
    cuda::recordEvent(done, st);
    copiesUp_.push_back({op, server, version, done});
  } catch (const Error& e) {
    partFailed(
        op, server, e.code(),
        strprintf("copying the pulled partition %u into device memory: %s", s.index, e.what()));
  }
}

bool Worker::progressDevice() {
  if (!staging_) return false;
  bool moved = false;
  for (auto it = copiesUp_.begin(); it != copiesUp_.end();) {
    bool done = false;
    try {
      done = cuda::eventDone(it->done);
    } catch (const Error& e) {
      CopyUp c = *it;
      it = copiesUp_.erase(it);
      partFailed(c.op, c.server, e.code(),
                 strprintf("copying a pulled partition into device memory: %s", e.what()));
      moved = true;
      continue;
    }
    if (!done) {
      ++it;
      continue;
    }
    CopyUp c = *it;
    it = copiesUp_.erase(it);
    partDone(c.op, c.server, c.version);
    moved = true;
  }
  if (!stalled_.empty()) {
    std::set<uint32_t> again;
    again.swap(stalled_);
    for (uint32_t id : again) {
      Slot& s = *slots_[id];
      size_t before = s.queue.size();
      pump(s);
      moved = moved || s.queue.size() != before;
    }
  }
  return moved;
}

}  // namespace shoal::ps
