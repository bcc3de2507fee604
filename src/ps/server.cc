#include "ps/server.h"

#include <algorithm>
#include <cstring>

#include "core/error.h"
#include "core/log.h"
#include "core/reduce.h"

namespace shoal::ps {

namespace {
// Pieces a server thread takes at a time, in elements of 8 bytes or fewer.
constexpr size_t kMinPieceBytes = 256 * 1024;
}  // namespace

Server::Server(transport::Context& ctx, Links& links, std::vector<int> workerRanks,
               const ServerConfig& config)
    : ctx_(ctx),
      links_(links),
      cfg_(config),
      pool_(std::max(1, config.threads)),
      hooks_(faults::load(ctx.rank())) {
  if (cfg_.cudaDevice >= 0) {
    gpu_ = std::make_unique<GpuStore>(ctx_.rank(), cfg_.cudaDevice, cfg_.timeoutSeconds);
    answersFromDevice_ = ctx_.writesFromDevice(cfg_.cudaDevice);
  }
  for (int r : workerRanks) {
    WorkerPeer w;
    w.rank = r;
    workers_.push_back(std::move(w));
  }
}

Server::~Server() = default;

int Server::workerIndex(int rank) const {
  for (size_t i = 0; i < workers_.size(); ++i) {
    if (workers_[i].rank == rank) return static_cast<int>(i);
  }
  return -1;
}

Server::WorkerPeer& Server::peerOf(int rank) {
  int i = workerIndex(rank);
  if (i < 0) {
    fail(shoalRemoteError, "rank %d: ps server: rank %d sent a worker message but is no worker",
         ctx_.rank(), rank);
  }
  return workers_[static_cast<size_t>(i)];
}

bool Server::finished() const {
  for (const auto& w : workers_) {
    if (live(w)) return false;
  }
  return true;
}

shoalPsServerStats Server::stats() const {
  shoalPsServerStats s{};
  s.pushesAccepted = pushesAccepted_.load();
  s.pullsServed = pullsServed_.load();
  s.roundsCompleted = rounds_.load();
  s.maxLead = maxLead_.load();
  s.deadWorkers = deadWorkers_.load();
  return s;
}

void Server::parallel(size_t count, const std::function<void(size_t, size_t)>& fn) {
  pool_.parallelFor(count, kMinPieceBytes / 8, fn);
}

void Server::sendError(int rank, uint32_t workerSlot, shoalResult_t code, int culprit,
                       const std::string& text) {
  ErrorMsg m{};
  m.type = kError;
  m.code = static_cast<uint8_t>(code);
  m.workerSlot = workerSlot;
  m.culprit = culprit;
  snprintf(m.text, sizeof(m.text), "%s", text.c_str());
  links_.sendCtrl(rank, &m, sizeof(m));
}

void Server::onCtrl(int peer, const uint8_t* msg, size_t len) {
  WorkerPeer& w = peerOf(peer);
  if (w.dead) return;  // already written off; its last messages are ignored
  Limits lim;
  lim.me = ctx_.rank();
  lim.nranks = ctx_.size();
  lim.slots = w.slots.size();
  Msg m = decodeMsg(Receiver::kServer, peer, msg, len, lim);
  switch (m.type) {
    case kRegister:
      handleRegister(w, m.reg);
      return;
    case kKeyToServer: {
      transport::RemoteKey key;
      if (w.keys.add(peer, m.frag, &key)) w.buffers[m.frag.keyId] = key;
      return;
    }
    case kPullRequest:
      handlePull(w, m.pull);
      return;
    case kForget:
      if (w.buffers.erase(m.forget.bufferId) == 0) {
        fail(shoalRemoteError, "rank %d: ps server: worker rank %d forgot unknown buffer %u",
             ctx_.rank(), peer, m.forget.bufferId);
      }
      return;
    case kBye:
      w.bye = true;
      SHOAL_INFO(PS, "rank %d: ps server: worker rank %d finished", ctx_.rank(), peer);
      // The set of workers a round waits for (sync) or the slowest clock
      // (ssp) may have changed.
      for (Part* p : partById_) {
        if (cfg_.mode == shoalPsSync) {
          maybeCompleteRound(*p);
        } else {
          retryPending(*p);
        }
      }
      return;
    default:
      // decodeMsg lets through only the types a server handles.
      fail(shoalInternalError, "rank %d: ps server: message type %u from rank %d slipped through",
           ctx_.rank(), m.type, peer);
  }
}

void Server::handleRegister(WorkerPeer& w, const RegisterMsg& m) {
  // decodeMsg checked m (validateRegister): dtype, sizes and slot id.
  const int me = ctx_.rank();
  auto dtype = static_cast<shoalDataType_t>(m.dtype);
  if (!syncBroken_.empty()) {
    sendError(w.rank, m.workerSlot, shoalRemoteError, syncCulprit_, syncBroken_);
    return;
  }
  const char* refuse = updateRefuses(cfg_.rule.kind, dtype);
  if (*refuse) {
    sendError(w.rank, m.workerSlot, shoalInvalidUsage, -1, std::string(refuse).substr(0, 51));
    return;
  }
  auto& slot = parts_[{m.key, m.partition}];
  if (!slot) {
    auto p = std::make_unique<Part>();
    p->id = static_cast<uint32_t>(partById_.size());
    p->key = m.key;
    p->index = m.partition;
    p->offset = m.offset;
    p->bytes = m.bytes;
    p->tensorBytes = m.tensorBytes;
    p->dtype = dtype;
    p->count = m.bytes / dtypeSize(dtype);
    if (gpu_) {
      p->gpu = gpu_->createPart(m.bytes, cfg_.mode == shoalPsSync, updateHasState(cfg_.rule.kind));
    } else {
      p->value = ctx_.allocate(m.bytes);
      memset(p->value->data(), 0, m.bytes);
      if (cfg_.mode == shoalPsSync) p->accum = ctx_.allocate(m.bytes);
      if (updateHasState(cfg_.rule.kind)) p->state.assign((m.bytes + 7) / 8, 0);
    }
    p->byWorker.assign(workers_.size(), nullptr);
    partById_.push_back(p.get());
    slot = std::move(p);
    SHOAL_INFO(PS, "rank %d: ps server: key %llu partition %u (%llu bytes, %s) created", me,
               static_cast<unsigned long long>(m.key), m.partition,
               static_cast<unsigned long long>(m.bytes), dtypeName(dtype));
  }
  Part& p = *slot;
  if (p.bytes != m.bytes || p.offset != m.offset || p.tensorBytes != m.tensorBytes ||
      p.dtype != dtype) {
    sendError(w.rank, m.workerSlot, shoalInvalidUsage, -1,
              strprintf("key used with %llu bytes of %s elsewhere",
                        static_cast<unsigned long long>(p.tensorBytes), dtypeName(p.dtype)));
    return;
  }
  int wi = workerIndex(w.rank);
  if (p.byWorker[static_cast<size_t>(wi)] != nullptr) {
    fail(shoalRemoteError,
         "rank %d: ps server: worker rank %d registered key %llu partition %u twice", me, w.rank,
         static_cast<unsigned long long>(m.key), m.partition);
  }
  if (w.slots.size() > kMaxSlotId) {
    fail(shoalRemoteError, "rank %d: ps server: worker rank %d opened too many slots", me, w.rank);
  }
  auto s = std::make_unique<Slot>();
  s->part = &p;
  s->worker = wi;
  s->id = static_cast<uint32_t>(w.slots.size());
  s->workerSlot = m.workerSlot;
  s->buf = ctx_.allocate(m.bytes);
  if (gpu_) s->mapped = gpu_->map(s->buf->data(), m.bytes);
  p.byWorker[static_cast<size_t>(wi)] = s.get();
  KeyFragMsg frags[4];
  int n = keyFragments(s->buf->key(), kKeyToWorker, m.workerSlot, frags);
  for (int i = 0; i < n; ++i) links_.sendCtrl(w.rank, &frags[i], sizeof(frags[i]));
  RegisterReplyMsg r{};
  r.type = kRegisterReply;
  r.workerSlot = m.workerSlot;
  r.serverSlot = s->id;
  r.version = p.version;
  links_.sendCtrl(w.rank, &r, sizeof(r));
  w.slots.push_back(std::move(s));
}

void Server::onWrite(int peer, uint32_t imm) {
  WorkerPeer& w = peerOf(peer);
  if (w.dead) return;
  if (imm >= w.slots.size()) {
    fail(shoalRemoteError, "rank %d: ps server: push from worker rank %d into unknown slot %u",
         ctx_.rank(), peer, imm);
  }
  Slot& s = *w.slots[imm];
  if (s.pending) {
    fail(shoalRemoteError,
         "rank %d: ps server: worker rank %d pushed key %llu partition %u again before its last "
         "push was acknowledged",
         ctx_.rank(), peer, static_cast<unsigned long long>(s.part->key), s.part->index);
  }
  if (!syncBroken_.empty()) {
    sendError(peer, s.workerSlot, shoalRemoteError, syncCulprit_, syncBroken_);
    return;
  }
  faults::reached(hooks_, faults::Phase::kPsPush, s.clock + 1);
  s.pending = true;
  tryAccept(s);
}

void Server::tryAccept(Slot& s) {
  if (!s.pending) return;
  if (cfg_.mode == shoalPsSync) {
    if (!s.contributed) acceptSync(s);
    return;
  }
  if (acceptAsync(s)) retryPending(*s.part);
}

void Server::acceptSync(Slot& s) {
  Part& p = *s.part;
  bool first = true;
  for (Slot* o : p.byWorker) first = first && !(o && o->contributed);
  if (p.gpu) {
    // The first push of a round is copied into the sum, the others added.
    gpu_->update(UpdateRule{shoalPsUpdateSum, 0, 0}, first, p.gpu->accum, s.buf->data(), nullptr,
                 p.count, p.dtype, "summing a push");
  } else {
    char* acc = static_cast<char*>(p.accum->data());
    const char* in = static_cast<const char*>(s.buf->data());
    const size_t es = dtypeSize(p.dtype);
    if (first) {
      parallel(p.count,
               [&](size_t b, size_t e) { memcpy(acc + b * es, in + b * es, (e - b) * es); });
    } else {
      parallel(p.count, [&](size_t b, size_t e) {
        reduce(acc + b * es, acc + b * es, in + b * es, e - b, p.dtype, shoalSum);
      });
    }
  }
  s.pending = false;
  s.contributed = true;
  ++s.clock;
  ++pushesAccepted_;
  PushAckMsg a{};
  a.type = kPushAck;
  a.workerSlot = s.workerSlot;
  a.version = p.version + 1;
  links_.sendCtrl(workers_[static_cast<size_t>(s.worker)].rank, &a, sizeof(a));
  maybeCompleteRound(p);
}

void Server::maybeCompleteRound(Part& p) {
  if (cfg_.mode != shoalPsSync || !syncBroken_.empty()) return;
  bool any = false;
  for (size_t i = 0; i < workers_.size(); ++i) {
    const Slot* s = p.byWorker[i];
    if (s && s->contributed) {
      any = true;
    } else if (live(workers_[i])) {
      return;  // still waiting for this worker's push
    }
  }
  // The value is the source of pull answers still in flight; it changes only
  // once they are done (onSendDone calls back here).
  if (!any || p.inflight > 0) return;
  if (p.gpu) {
    if (cfg_.rule.kind == shoalPsUpdateSum) {
      std::swap(p.gpu->value, p.gpu->accum);
    } else {
      gpu_->update(cfg_.rule, true, p.gpu->value, p.gpu->accum, p.gpu->state, p.count, p.dtype,
                   "applying a round");
    }
  } else if (cfg_.rule.kind == shoalPsUpdateSum) {
    std::swap(p.value, p.accum);  // the round's sum is the new value
  } else {
    char* value = static_cast<char*>(p.value->data());
    const char* g = static_cast<const char*>(p.accum->data());
    void* state = p.state.empty() ? nullptr : p.state.data();
    parallel(p.count, [&](size_t b, size_t e) {
      applyUpdate(cfg_.rule, true, value, g, state, b, e, p.dtype);
    });
  }
  ++p.version;
  ++rounds_;
  for (Slot* s : p.byWorker) {
    if (s) s->contributed = false;
  }
  answerParked(p);
  // Pushes of the next round that arrived early join it now.
  for (Slot* s : p.byWorker) {
    if (s && s->pending) acceptSync(*s);
  }
}

bool Server::acceptAsync(Slot& s) {
  Part& p = *s.part;
  if (p.inflight > 0) return false;  // pull answers still read the value
  uint64_t slowest = UINT64_MAX;
  for (size_t i = 0; i < workers_.size(); ++i) {
    if (!live(workers_[i]) && static_cast<int>(i) != s.worker) continue;
    const Slot* o = p.byWorker[i];
    uint64_t c = o ? o->clock : 0;
    if (static_cast<int>(i) == s.worker) c += 1;
    slowest = std::min(slowest, c);
  }
  uint64_t lead = s.clock + 1 - slowest;
  if (cfg_.mode == shoalPsBoundedStaleness && lead > static_cast<uint64_t>(cfg_.staleness)) {
    return false;  // held until the slowest catches up (retryPending)
  }
  if (p.gpu) {
    gpu_->update(cfg_.rule, false, p.gpu->value, s.buf->data(), p.gpu->state, p.count, p.dtype,
                 "applying a push");
  } else {
    char* value = static_cast<char*>(p.value->data());
    const char* g = static_cast<const char*>(s.buf->data());
    void* state = p.state.empty() ? nullptr : p.state.data();
    parallel(p.count, [&](size_t b, size_t e) {
      applyUpdate(cfg_.rule, false, value, g, state, b, e, p.dtype);
    });
  }
  s.pending = false;
  ++s.clock;
  ++p.version;
  ++rounds_;
  ++pushesAccepted_;
  int l = static_cast<int>(std::min<uint64_t>(lead, 1 << 30));
  if (l > maxLead_.load()) maxLead_.store(l);
  PushAckMsg a{};
  a.type = kPushAck;
  a.workerSlot = s.workerSlot;
  a.version = p.version;
  links_.sendCtrl(workers_[static_cast<size_t>(s.worker)].rank, &a, sizeof(a));
  answerParked(p);
  return true;
}

// Held pushes of a partition, accepted in worker order until none moves.
void Server::retryPending(Part& p) {
  if (cfg_.mode == shoalPsSync) return;
  bool moved = true;
  while (moved) {
    moved = false;
    for (Slot* s : p.byWorker) {
      if (s && s->pending && live(workers_[static_cast<size_t>(s->worker)]) && acceptAsync(*s)) {
        moved = true;
      }
    }
  }
}

void Server::handlePull(WorkerPeer& w, const PullRequestMsg& m) {
  // decodeMsg checked the slot id against w.slots and the request number.
  const int me = ctx_.rank();
  Slot& s = *w.slots[m.serverSlot];
  faults::reached(hooks_, faults::Phase::kPsPull, ++s.pulls);
  Part& p = *s.part;
  auto it = w.buffers.find(m.bufferId);
  if (it == w.buffers.end()) {
    fail(shoalRemoteError, "rank %d: ps server: pull from worker rank %d names unknown buffer %u",
         me, w.rank, m.bufferId);
  }
  checkPullFits(me, w.rank, m.offset, p.bytes, it->second.size);
  if (!syncBroken_.empty()) {
    sendError(w.rank, s.workerSlot, shoalRemoteError, syncCulprit_, syncBroken_);
    return;
  }
  ParkedPull q{s.worker, m.request, m.bufferId, m.offset, m.minVersion};
  if (pullReady(p, q)) {
    answerPull(p, q);
  } else {
    p.parked.push_back(q);
  }
}

// A pull waits for the version the worker asked for (sync: the round of its
// last push) and for that worker's own held push, so it reads its writes.
bool Server::pullReady(const Part& p, const ParkedPull& q) const {
  const Slot* s = p.byWorker[static_cast<size_t>(q.worker)];
  return p.version >= q.minVersion && !(s && s->pending);
}

void Server::answerPull(Part& p, const ParkedPull& q) {
  WorkerPeer& w = workers_[static_cast<size_t>(q.worker)];
  auto it = w.buffers.find(q.bufferId);
  if (it == w.buffers.end()) return;  // forgotten meanwhile: nothing to write into
  const void* src = !p.gpu               ? p.value->data()
                    : answersFromDevice_ ? p.gpu->value
                                         : gpu_->forPull(*p.gpu, p.version);
  links_.write(w.rank, src, p.bytes, it->second, q.offset, kPullImmBit | q.request,
               uint64_t{p.id} + 1);
  ++p.inflight;
  PullReplyMsg r{};
  r.type = kPullReply;
  r.request = q.request;
  r.version = p.version;
  links_.sendCtrl(w.rank, &r, sizeof(r));
  ++pullsServed_;
}

void Server::answerParked(Part& p) {
  for (auto it = p.parked.begin(); it != p.parked.end();) {
    if (pullReady(p, *it)) {
      ParkedPull q = *it;
      it = p.parked.erase(it);
      answerPull(p, q);
    } else {
      ++it;
    }
  }
}

void Server::onSendDone(uint64_t cookie) {
  if (cookie == 0 || cookie > partById_.size()) return;  // not a pull answer
  Part& p = *partById_[cookie - 1];
  if (p.inflight > 0) --p.inflight;
  if (p.inflight > 0) return;
  if (cfg_.mode == shoalPsSync) {
    maybeCompleteRound(p);
  } else {
    retryPending(p);
  }
}

void Server::breakSync(const std::string& why, int culprit) {
  if (!syncBroken_.empty()) return;
  syncBroken_ = why;
  syncCulprit_ = culprit;
  for (auto& w : workers_) {
    if (live(w)) sendError(w.rank, ErrorMsg::kAllSlots, shoalRemoteError, culprit, why);
  }
  for (Part* p : partById_) p->parked.clear();
}

void Server::onWorkerFailed(int peer, const std::string& why) {
  int wi = workerIndex(peer);
  if (wi < 0) return;
  WorkerPeer& w = workers_[static_cast<size_t>(wi)];
  if (w.dead || w.bye) return;
  w.dead = true;
  ++deadWorkers_;
  links_.markDead(peer);
  SHOAL_WARN(PS, "rank %d: ps server: worker rank %d failed: %s", ctx_.rank(), peer, why.c_str());
  for (auto& s : w.slots) s->pending = false;
  for (Part* p : partById_) {
    for (auto it = p->parked.begin(); it != p->parked.end();) {
      it = it->worker == wi ? p->parked.erase(it) : it + 1;
    }
  }
  if (cfg_.mode == shoalPsSync) {
    breakSync(strprintf("worker rank %d died", peer), peer);
    return;
  }
  // Asynchronous modes go on without it; the slowest clock may have moved.
  for (Part* p : partById_) retryPending(*p);
}

}  // namespace shoal::ps
