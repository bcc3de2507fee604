#include "core/executor.h"

#include <sched.h>
#include <time.h>

#include <algorithm>
#include <cstddef>
#include <cstring>
#include <deque>
#include <set>

#include "core/bootstrap.h"
#include "core/config.h"
#include "core/device_staging.h"
#include "core/error.h"
#include "core/exec_wire.h"
#include "core/executor_state.h"
#include "core/ipc_slots.h"
#include "core/log.h"
#include "core/reduce.h"
#include "core/watchdog.h"
#include "cuda/reduce_kernels.h"

namespace shoal {

using execwire::kSeqMask;
using execwire::SignatureMsg;

Executor::Executor(transport::Context& ctx, Bootstrap& bootstrap, size_t slotBytes, int slots)
    : ctx_(ctx), bootstrap_(bootstrap), slotBytes_(slotBytes), slots_(slots), events_(64) {
  if (slots_ < 1 || (slots_ & (slots_ - 1)) != 0 || slots_ > 1024) {
    fail(shoalInvalidArgument, "SHOAL_SLOTS=%d: must be a power of two between 1 and 1024", slots_);
  }
  if (slotBytes_ < 64)
    fail(shoalInvalidArgument, "SHOAL_CHUNK_SIZE=%zu: must be at least 64 bytes", slotBytes_);
  slotBytes_ &= ~size_t{63};  // keep every slot cache-line and element aligned
  slotMask_ = static_cast<uint64_t>(slots_) - 1;
  creditBatch_ = std::max(1, slots_ / 2);
  landing_ = config::getBool("SHOAL_LANDING");
  inOrder_ = config::getBool("SHOAL_INORDER");
  ipcMinBytes_ = config::getSize("SHOAL_CUDA_IPC_MIN_BYTES");
  vectors_ = std::make_unique<RunVectors>();
}

Executor::~Executor() {
  // The receive slots are unpinned before the transport frees them.
  device_.reset();
  ipc_.reset();
}

bool Executor::deviceReady(int device) const { return device_ && device_->device() == device; }

void* Executor::deviceScratch(int device, size_t bytes) {
  return deviceStaging(device).scratch(bytes);
}

DeviceStaging& Executor::deviceStaging(int device) {
  if (deviceReady(device)) return *device_;
  device_.reset();
  std::vector<void*> recv(channels_.size(), nullptr);
  for (size_t p = 0; p < channels_.size(); ++p) {
    if (channels_[p]->staging) recv[p] = channels_[p]->staging->data();
  }
  device_ = std::make_unique<DeviceStaging>(device, slotBytes_, slots_, recv,
                                            slotBytes_ * static_cast<size_t>(slots_));
  if (!ipcTried_ && config::getBool("SHOAL_CUDA_IPC")) {
    std::vector<bool> local(channels_.size(), false);
    for (size_t p = 0; p < channels_.size(); ++p) local[p] = channels_[p]->sameHost;
    if (std::find(local.begin(), local.end(), true) != local.end()) {
      ipcTried_ = true;
      try {
        ipc_ = std::make_unique<IpcSlots>(device, local, slots_, slotBytes_);
        SHOAL_INFO(COLL,
                   "rank %d: GPU %d receive slots exported over CUDA IPC (%zu bytes per peer)",
                   ctx_.rank(), device, ipc_->ringBytes());
      } catch (const Error& e) {
        SHOAL_INFO(COLL,
                   "rank %d: no CUDA IPC receive slots on GPU %d (chunks from peers' GPUs go "
                   "through host memory): %s",
                   ctx_.rank(), device, e.what());
      }
    }
  }
  return *device_;
}

int Executor::peersOverIpc() const {
  int mapped = 0;
  for (const auto& ch : channels_) mapped += ch->peerSlots == Channel::PeerSlots::kMapped;
  return mapped;
}

void Executor::mapPeerSlots() {
  slotsToMap_.store(false, std::memory_order_relaxed);
  if (!ipc_) return;  // this rank does not run on GPU buffers yet: later
  for (size_t p = 0; p < channels_.size(); ++p) {
    Channel& ch = *channels_[p];
    if (ch.peerSlots != Channel::PeerSlots::kAnnounced) continue;
    std::string why;
    if (ipc_->open(static_cast<int>(p), ch.peerHandle, ch.peerOffset, &why)) {
      ch.peerSlots = Channel::PeerSlots::kMapped;
      SHOAL_INFO(COLL, "rank %d: chunks to rank %zu go GPU to GPU (CUDA IPC)", ctx_.rank(), p);
    } else {
      ch.peerSlots = Channel::PeerSlots::kRefused;
      SHOAL_INFO(COLL,
                 "rank %d: rank %zu's GPU slots cannot be mapped here (%s); chunks to it go "
                 "through host memory",
                 ctx_.rank(), p, why.c_str());
    }
  }
}

void Executor::connect(Deadline deadline) {
  const int n = ctx_.size();
  const int me = ctx_.rank();
  channels_.clear();
  for (int p = 0; p < n; ++p) {
    auto ch = std::make_unique<Channel>();
    if (p != me) {
      ch->staging = ctx_.allocate(slotBytes_ * static_cast<size_t>(slots_));
      ch->credits = slots_;
      ch->arrived.assign(static_cast<size_t>(slots_), 0);
      ch->sameHost = bootstrap_.hostId(p) == bootstrap_.hostId(me);
    }
    channels_.push_back(std::move(ch));
  }
  // Each rank tells every peer where that peer's slots are. Pairwise through
  // the bootstrap mesh: sends first (they only fill socket buffers), then
  // receives.
  constexpr uint32_t kTagSlots = 0x51075;
  for (int p = 0; p < n; ++p) {
    if (p == me) continue;
    transport::RemoteKey k = channels_[p]->staging->key();
    bootstrap_.send(p, kTagSlots, &k, sizeof(k), deadline);
  }
  for (int p = 0; p < n; ++p) {
    if (p == me) continue;
    bootstrap_.recv(p, kTagSlots, &channels_[p]->remote, sizeof(transport::RemoteKey), deadline);
  }
}

// The reducing half of a collective ends where its first plain receive is
// (ring, rhd, a tree's inner ranks and leaves) or, with none, after its last
// reducing receive (a tree's root).
void Executor::faultPoint(RunState& st, int32_t idx) {
  if (idx < 0) {
    // The collective finished: phases this rank had no step in fire now.
    if (!st.firedReduce) faults::reached(hooks_, faults::Phase::kReduce, st.label.sequence);
    if (!st.firedGather) faults::reached(hooks_, faults::Phase::kGather, st.label.sequence);
    return;
  }
  if (st.sch.steps[idx].peer < 0) return;
  bool gather = static_cast<size_t>(idx) >= st.firstGather;
  bool& fired = gather ? st.firedGather : st.firedReduce;
  if (fired) return;
  fired = true;
  faults::reached(hooks_, gather ? faults::Phase::kGather : faults::Phase::kReduce,
                  st.label.sequence);
}

bool Executor::signatureReceived(Channel& ch, const execwire::Ctrl& c) {
  if (c.kind == execwire::Ctrl::kSameSignature && ch.noteReceivedValid) {
    ch.noteReceived.sequence = execwire::widenSequence(c.sequenceLow, ch.noteReceived.sequence);
  } else if (c.kind == execwire::Ctrl::kSignature) {
    ch.noteReceived = c.sig;
    ch.noteReceivedValid = true;
  } else {
    return false;
  }
  return ch.signatures.push_back(ch.noteReceived);
}

void Executor::takeCredits(RunState& st, Channel& ch, int peer, uint32_t count) {
  if (count == 0) return;
  if (!execwire::creditsValid(count, ch.credits, slots_)) {
    fail(shoalRemoteError, "rank %d: %s: invalid credit message (count %u) from rank %d",
         ctx_.rank(), st.label.operation, count, peer);
  }
  ch.credits += static_cast<int>(count);
}

void Executor::handleEvents(RunState& st) {
  for (;;) {
    size_t n = ctx_.poll(events_.data(), events_.size());
    if (n == 0) return;
    for (size_t i = 0; i < n; ++i) {
      const transport::Event& e = events_[i];
      if (e.peer < 0 || e.peer >= ctx_.size()) {
        fail(shoalInternalError, "rank %d: %s: %s transport reported an event from invalid rank %d",
             ctx_.rank(), st.label.operation, ctx_.name(), e.peer);
      }
      Channel& ch = *channels_[e.peer];
      switch (e.kind) {
        case transport::Event::kWrite: {
          int64_t ahead = execwire::writeAhead(e.imm, ch.recvSeq, slots_);
          const bool landed = (e.imm & execwire::kLandedBit) != 0;
          const bool onGpu = (e.imm & execwire::kDeviceSlotBit) != 0;
          // Only from a peer this rank told where its GPU slots are.
          if (onGpu && (landed || !ipc_ || ch.slotsAnnounced < 2)) {
            fail(shoalRemoteError,
                 "rank %d: %s #%llu: protocol error: message with imm 0x%x from rank %d claims to "
                 "be in a GPU slot this rank %s",
                 ctx_.rank(), st.label.operation,
                 static_cast<unsigned long long>(st.label.sequence), e.imm, e.peer,
                 landed ? "cannot combine with landing in place" : "never offered it");
          }
          if (ahead < 0) {
            uint32_t expectLow = static_cast<uint32_t>(ch.recvSeq) & kSeqMask;
            fail(shoalRemoteError,
                 "rank %d: %s #%llu: protocol error: message %u from rank %d is outside the credit "
                 "window "
                 "(expected %u..%u)",
                 ctx_.rank(), st.label.operation,
                 static_cast<unsigned long long>(st.label.sequence), e.imm, e.peer, expectLow,
                 expectLow + static_cast<uint32_t>(slots_) - 1);
          }
          if (e.len != 0) {
            // A note with the write: a call signature, in full or as "the
            // same call as before" with its sequence, or credits alone.
            execwire::Ctrl c = execwire::decodeCtrl(e.payload, e.len);
            if (c.kind != execwire::Ctrl::kCredit && !signatureReceived(ch, c)) {
              fail(shoalRemoteError,
                   "rank %d: %s: malformed note (type %u, %u bytes) with a write from rank %d%s",
                   ctx_.rank(), st.label.operation, c.type, e.len, e.peer,
                   c.kind == execwire::Ctrl::kSameSignature ? " (no earlier signature)" : "");
            }
            takeCredits(st, ch, e.peer, c.credits);
          }
          const uint64_t seq = ch.recvSeq + static_cast<uint64_t>(ahead);
          if (landed) {
            // Only where this rank said it may land: its answers are in order.
            while (!ch.granted.empty() && ch.granted.front().seq < seq) ch.granted.pop_front();
            if (ch.granted.empty() || ch.granted.front().seq != seq) {
              fail(shoalRemoteError,
                   "rank %d: %s #%llu: protocol error: message %llu from rank %d landed in place "
                   "without this rank's leave",
                   ctx_.rank(), st.label.operation,
                   static_cast<unsigned long long>(st.label.sequence),
                   static_cast<unsigned long long>(seq), e.peer);
            }
            ch.granted.pop_front();
          }
          ch.arrived[seq & slotMask_] = landed ? 3 : onGpu ? 4 : 1;
          break;
        }
        case transport::Event::kCtrl: {
          execwire::Ctrl c = execwire::decodeCtrl(e.payload, e.len);
          if (c.kind == execwire::Ctrl::kLanding) {
            if (!ctx_.landsInPlace() || ch.landings.size() >= kMaxLandingsHeld ||
                !execwire::landingValid(c.landing, ch.sendSeq, ch.anyLanding, ch.lastLanding,
                                        slotBytes_)) {
              fail(shoalRemoteError,
                   "rank %d: %s: invalid landing (message %llu, %llu bytes) from rank %d",
                   ctx_.rank(), st.label.operation,
                   static_cast<unsigned long long>(c.landing.sequence),
                   static_cast<unsigned long long>(c.landing.bytes), e.peer);
            }
            ch.landings.push_back(c.landing);
            ch.lastLanding = c.landing.sequence;
            ch.anyLanding = true;
            break;
          }
          if (c.kind == execwire::Ctrl::kDeviceSlots) {
            // A peer's GPU slots, in two halves; mapped by the caller's
            // thread before a later call on GPU buffers (mapPeerSlots).
            const execwire::DeviceSlotsMsg& m = c.slots;
            if (!ch.sameHost || ch.peerSlots != Channel::PeerSlots::kNone ||
                (ch.peerParts & (1u << m.part)) || (m.part == 1 && ch.peerOffset != m.offset)) {
              fail(shoalRemoteError,
                   "rank %d: %s: unexpected GPU slot announcement (part %u) from rank %d",
                   ctx_.rank(), st.label.operation, m.part, e.peer);
            }
            memcpy(ch.peerHandle + 32 * m.part, m.half, sizeof(m.half));
            ch.peerOffset = m.offset;
            ch.peerParts |= static_cast<uint8_t>(1u << m.part);
            if (ch.peerParts == 3) {
              ch.peerSlots = Channel::PeerSlots::kAnnounced;
              slotsToMap_.store(true, std::memory_order_release);
            }
            break;
          }
          if (c.kind != execwire::Ctrl::kCredit && !signatureReceived(ch, c)) {
            fail(shoalRemoteError,
                 "rank %d: %s: malformed control message (type %u, %u bytes) from rank %d%s",
                 ctx_.rank(), st.label.operation, c.type, e.len, e.peer,
                 c.kind == execwire::Ctrl::kSameSignature ? " (no earlier signature)" : "");
          }
          takeCredits(st, ch, e.peer, c.credits);
          break;
        }
        case transport::Event::kSendDone: {
          if (e.cookie == 0 || e.cookie > st.sch.steps.size()) break;  // transport-internal
          completeStep(st, static_cast<int32_t>(e.cookie - 1));
          break;
        }
        case transport::Event::kError:
          failFromTransport(st, e);
      }
    }
    if (n < events_.size()) return;
  }
}

std::string Executor::waitingFor(RunState& st, std::string* detail) const {
  std::set<int> waitingOn;
  for (int p : st.peers) {
    if (st.sendHead[p] < st.sendQ[p].size()) {
      waitingOn.insert(p);
      const Channel& ch = *channels_[p];
      const bool landing = ctx_.landsInPlace() && st.sch.steps[st.sendQ[p][st.sendHead[p]]].land &&
                           (ch.landings.empty() || ch.landings.front().sequence != ch.sendSeq);
      *detail += strprintf(" send %zu/%zu to rank %d%s;", st.sendHead[p], st.sendQ[p].size(), p,
                           ch.credits == 0 ? " (no credit)"
                           : landing       ? " (awaiting its landing answer)"
                                           : "");
    }
    if (st.recvHead[p] < st.recvQ[p].size()) {
      waitingOn.insert(p);
      *detail += strprintf(" receive %zu/%zu from rank %d;", st.recvHead[p], st.recvQ[p].size(), p);
    }
  }
  std::string ranks;
  for (int p : waitingOn) {
    if (!ranks.empty()) ranks += ",";
    ranks += std::to_string(p);
  }
  return ranks;
}

void Executor::failStuck(RunState& st, bool timedOut, int deadPeer) {
  std::string detail;
  std::string ranks = waitingFor(st, &detail);
  if (!timedOut) {
    AbortNotice notice;
    if (bootstrap_.tryRecv(deadPeer, kTagAbort, &notice, sizeof(notice)))
      failFromNotice(st, notice);
    origin_ = deadPeer;
    fail(shoalRemoteError,
         "rank %d: %s #%llu (%s over %s): peer rank %d exited or closed its connection; still "
         "waiting for ranks "
         "{%s}:%s",
         ctx_.rank(), st.label.operation, static_cast<unsigned long long>(st.label.sequence),
         st.label.algorithm, ctx_.name(), deadPeer, ranks.c_str(), detail.c_str());
  }
  fail(shoalTimeout,
       "rank %d: %s #%llu (%s over %s): deadline passed (SHOAL_TIMEOUT or shoalCommSetTimeout) "
       "while waiting for ranks {%s}:%s",
       ctx_.rank(), st.label.operation, static_cast<unsigned long long>(st.label.sequence),
       st.label.algorithm, ctx_.name(), ranks.c_str(), detail.c_str());
}

std::string describe(const CallSignature& sig) {
  // The fields may come from a peer: only values that name an enumerator
  // are converted to one.
  const bool kindOk = sig.kind <= static_cast<uint8_t>(CollKind::kBarrier);
  return strprintf(
      "%s #%llu (count %llu, %s, %s, root %d, %s)",
      kindOk ? collName(static_cast<CollKind>(sig.kind)) : "invalid operation",
      static_cast<unsigned long long>(sig.sequence), static_cast<unsigned long long>(sig.count),
      validDtype(sig.dtype) ? dtypeName(static_cast<shoalDataType_t>(sig.dtype)) : "invalid type",
      validOp(sig.op) ? opName(static_cast<shoalRedOp_t>(sig.op)) : "invalid op", sig.root,
      sig.algorithm);
}

void Executor::checkSignature(RunState& st, int peer) {
  SignatureQueue& queue = channels_[peer]->signatures;
  const CallSignature theirs = queue.front();
  queue.pop_front();
  const CallSignature& mine = st.label.signature;
  if (theirs.kind == mine.kind && theirs.dtype == mine.dtype && theirs.op == mine.op &&
      theirs.root == mine.root && theirs.count == mine.count && theirs.sequence == mine.sequence &&
      memcmp(theirs.algorithm, mine.algorithm, sizeof(mine.algorithm)) == 0) {
    st.sigChecked[peer] = 1;
    ++st.sigsChecked;
    return;
  }
  origin_ = ctx_.rank();
  fail(shoalInvalidUsage,
       "rank %d: mismatched collective calls: rank %d called %s while rank %d called %s",
       ctx_.rank(), peer, describe(theirs).c_str(), ctx_.rank(), describe(mine).c_str());
}

void Executor::failFromNotice(RunState& st, const AbortNotice& notice) {
  origin_ = notice.origin;
  std::string msg = execwire::noticeText(notice);
  // What this rank itself still waited for: when a peer is alive but
  // silent, a neighbour's timeout may arrive here first, and this rank may
  // be the only one that waits on the silent one.
  std::string detail;
  std::string ranks = waitingFor(st, &detail);
  fail(execwire::noticeResult(notice),
       "rank %d: %s #%llu (%s over %s): peer rank %d failed (reported by rank %d: %s); this rank "
       "was still waiting for ranks {%s}:%s",
       ctx_.rank(), st.label.operation, static_cast<unsigned long long>(st.label.sequence),
       st.label.algorithm, ctx_.name(), notice.origin, notice.reporter, msg.c_str(), ranks.c_str(),
       detail.c_str());
}

// A transport error on a connection may be the echo of a failure elsewhere:
// a peer that failed first sends its notice, then releases its memory, and
// a write landing after that fails here. The notice names the rank really at
// fault, so wait briefly for one before blaming this connection's peer.
void Executor::failFromTransport(RunState& st, const transport::Event& e) {
  const Deadline grace = Deadline::after(0.25);
  for (;;) {
    failOnNotice(st);
    if (grace.expired()) break;
    struct timespec ts = {0, 2000000};
    nanosleep(&ts, nullptr);
  }
  if (e.code == shoalRemoteError) origin_ = e.peer;
  fail(static_cast<shoalResult_t>(e.code), "rank %d: %s #%llu (%s): peer rank %d: %s", ctx_.rank(),
       st.label.operation, static_cast<unsigned long long>(st.label.sequence), st.label.algorithm,
       e.peer, e.message);
}

void Executor::failFromWrite(RunState& st, int peer, const Error& e) {
  if (e.code() != shoalRemoteError) throw;  // called from the handler: the same object
  transport::Event ev{};
  ev.kind = transport::Event::kError;
  ev.peer = peer;
  ev.code = shoalRemoteError;
  snprintf(ev.message, sizeof(ev.message), "%s", e.what());
  failFromTransport(st, ev);
}

void Executor::failOnNotice(RunState& st) {
  AbortNotice notice;
  for (int p = 0; p < ctx_.size(); ++p) {
    if (p != ctx_.rank() && bootstrap_.tryRecv(p, kTagAbort, &notice, sizeof(notice)))
      failFromNotice(st, notice);
  }
}

void Executor::checkPeers(RunState& st) {
  const int n = ctx_.size();
  failOnNotice(st);
  // Every peer, not only the ones this rank waits on: in a ring the dead rank
  // may be several hops away.
  for (int p = 0; p < n; ++p) {
    if (p != ctx_.rank() && !bootstrap_.peerAlive(p)) failStuck(st, false, p);
  }
}

void Executor::broadcastAbort(uint64_t sequence, shoalResult_t code, const char* what) {
  AbortNotice notice{};
  notice.origin = origin_ >= 0 ? origin_ : ctx_.rank();
  notice.reporter = ctx_.rank();
  notice.sequence = sequence;
  notice.code = code;
  snprintf(notice.message, sizeof(notice.message), "%s", what);
  for (int p = 0; p < ctx_.size(); ++p) {
    if (p == ctx_.rank() || p == notice.origin || !bootstrap_.peerAlive(p)) continue;
    try {
      bootstrap_.send(p, kTagAbort, &notice, sizeof(notice), Deadline::after(1.0));
    } catch (const Error&) {
      // Best effort: that peer is failing too.
    }
  }
}

void Executor::run(const Schedule& sch, const ExecBuffers& bufs, shoalDataType_t dtype,
                   shoalRedOp_t op, const ExecLabel& label, double timeoutSeconds,
                   const std::atomic<bool>* abortFlag) {
  origin_ = -1;
  try {
    runSchedule(sch, bufs, dtype, op, label, timeoutSeconds, abortFlag);
  } catch (const Error& e) {
    if (!(abortFlag && abortFlag->load())) broadcastAbort(label.sequence, e.code(), e.what());
    throw;
  }
}

const Executor::Prepared& Executor::prepare(const Schedule& sch) {
  if (sch.id != 0) {
    for (size_t i = 0; i < prepared_.size(); ++i) {
      if (prepared_[i]->id != sch.id) continue;
      // Most recent first, so the calls of a loop are found at once.
      std::rotate(prepared_.begin(), prepared_.begin() + static_cast<std::ptrdiff_t>(i),
                  prepared_.begin() + static_cast<std::ptrdiff_t>(i) + 1);
      return *prepared_.front();
    }
  }
  std::unique_ptr<Prepared> made;
  constexpr size_t kCached = 32;
  if (sch.id == 0) {
    made = std::move(uncached_);
  } else if (prepared_.size() >= kCached) {
    made = std::move(prepared_.back());
    prepared_.pop_back();
  }
  if (!made) made = std::make_unique<Prepared>();
  Prepared& p = *made;
  const size_t total = sch.steps.size();
  const int n = ctx_.size();
  p.id = sch.id;
  p.waiting.assign(total, 0);
  p.depStart.assign(total + 1, 0);
  p.sendQ.resize(n);
  p.recvQ.resize(n);
  for (int q = 0; q < n; ++q) {
    p.sendQ[q].clear();
    p.recvQ[q].clear();
  }
  p.peers.clear();
  p.localReady.clear();
  for (size_t i = 0; i < total; ++i) {
    const Step& s = sch.steps[i];
    for (int32_t d : s.dep) {
      if (d < 0) continue;
      if (static_cast<size_t>(d) >= i)
        fail(shoalInternalError, "schedule step %zu depends on later step %d", i, d);
      ++p.waiting[i];
      ++p.depStart[d + 1];
    }
    if (s.kind == StepKind::kSend || s.kind == StepKind::kRecv || s.kind == StepKind::kRecvReduce) {
      if (s.peer < 0 || s.peer >= n || s.peer == ctx_.rank() || s.bytes > slotBytes_) {
        fail(shoalInternalError, "%s schedule step %zu: bad peer %d or size %zu",
             sch.algorithm.c_str(), i, s.peer, s.bytes);
      }
      (s.kind == StepKind::kSend ? p.sendQ : p.recvQ)[s.peer].push_back(static_cast<int32_t>(i));
    }
  }
  for (size_t i = 0; i < total; ++i) p.depStart[i + 1] += p.depStart[i];
  p.depList.resize(p.depStart[total]);
  std::vector<int32_t> fill(p.depStart.begin(), p.depStart.end() - 1);
  for (size_t i = 0; i < total; ++i) {
    for (int32_t d : sch.steps[i].dep) {
      if (d >= 0) p.depList[fill[d]++] = static_cast<int32_t>(i);
    }
  }
  for (int q = 0; q < n; ++q) {
    if (!p.sendQ[q].empty() || !p.recvQ[q].empty()) p.peers.push_back(q);
  }
  // Step by step needs every send to a peer to find a slot without that
  // peer draining any of this call's messages first (it may be sending too),
  // and no send to wait for a landing answer.
  p.inOrder = sch.inOrder;
  for (int q : p.peers) p.inOrder = p.inOrder && p.sendQ[q].size() <= static_cast<size_t>(slots_);
  for (size_t i = 0; i < total && p.inOrder; ++i) p.inOrder = !sch.steps[i].land;
  for (size_t i = 0; i < total; ++i) {
    if (p.waiting[i] == 0 && sch.steps[i].peer < 0) p.localReady.push_back(static_cast<int32_t>(i));
  }
  // Where faultPoint's distributing half starts (see there).
  size_t firstRecv = total, lastReduce = total, firstSendAfter = total;
  for (size_t i = 0; i < total; ++i) {
    StepKind k = sch.steps[i].kind;
    if (k == StepKind::kRecv && firstRecv == total) firstRecv = i;
    if (k == StepKind::kRecvReduce) lastReduce = i;
  }
  for (size_t i = lastReduce == total ? total : lastReduce + 1; i < total; ++i) {
    if (sch.steps[i].kind == StepKind::kSend) {
      firstSendAfter = i;
      break;
    }
  }
  p.firstGather = firstRecv != total ? firstRecv : firstSendAfter;
  if (sch.id == 0) {
    uncached_ = std::move(made);
    return *uncached_;
  }
  prepared_.insert(prepared_.begin(), std::move(made));
  return *prepared_.front();
}

void Executor::runSchedule(const Schedule& sch, const ExecBuffers& bufs, shoalDataType_t dtype,
                           shoalRedOp_t op, const ExecLabel& label, double timeoutSeconds,
                           const std::atomic<bool>* abortFlag) {
  const size_t total = sch.steps.size();
  if (total == 0) return;
  const int n = ctx_.size();
  const size_t es = dtypeSize(dtype);
  const Prepared& prep = prepare(sch);
  const bool inOrder = prep.inOrder && inOrder_ && bufs.device < 0 && !ipc_ && !hooks_.any();
  // Step by step over a transport whose writes complete on return, every
  // earlier step is done when a step starts: no dependency counts to keep.
  const bool trackDeps = !(inOrder && ctx_.writesCompleteOnReturn());
  RunVectors& v = *vectors_;
  if (trackDeps) {
    v.waiting.assign(prep.waiting.begin(), prep.waiting.end());
    v.localReady.assign(prep.localReady.begin(), prep.localReady.end());
  }
  // Only the peers this schedule talks to are read, so only they are reset:
  // a ring at 1000 ranks touches 2 entries per call, not 4000.
  if (v.sendHead.size() != static_cast<size_t>(n)) {
    v.sendHead.assign(n, 0);
    v.recvHead.assign(n, 0);
    v.grantHead.assign(n, 0);
    v.stagedHead.assign(n, 0);
    v.sigSent.assign(n, 0);
    v.sigChecked.assign(n, 0);
  }
  for (int p : prep.peers) {
    v.sendHead[p] = 0;
    v.recvHead[p] = 0;
    v.grantHead[p] = 0;
    v.stagedHead[p] = 0;
    v.sigSent[p] = 0;
    v.sigChecked[p] = 0;
  }
  RunState st(sch, prep, v, bufs, dtype, op, label);
  st.trackDeps = trackDeps;
  Waiter w(timeoutSeconds, abortFlag, ctx_.idleSpins());
  if (watchdog_.enabled()) watchdog_.arm(Clock::now());
  if (inOrder) {
    runInOrder(st, w, ctx_.maxNoteBytes() >= sizeof(SignatureMsg));
    return;
  }

  auto complete = [&](int32_t idx) { completeStep(st, idx); };
  DeviceStaging* gpu = bufs.device >= 0 ? &deviceStaging(bufs.device) : nullptr;
  const bool gpuDirect = gpu && ctx_.writesFromDevice(bufs.device);
  // GPU to GPU over CUDA IPC only from SHOAL_CUDA_IPC_MIN_BYTES: below it the
  // copy into another process's GPU memory cost more than staging did (see
  // perf/RESULTS.md). The receiver takes either; the flag is per message.
  // The slots' GPU must be the call's: peers' slots were mapped there.
  const bool ipcCall =
      gpu && ipc_ && ipc_->device() == bufs.device && label.signature.count * es >= ipcMinBytes_;
  // Receive slots whose chunk a queued GPU copy or kernel still reads: freed
  // (and their credits returned) once the stream has passed them, i.e. once
  // the event recorded behind that work has.
  std::vector<std::pair<int, size_t>> slotsInUse;
  struct SlotBatch {
    cuda::Event passed;
    std::vector<std::pair<int, size_t>> slots;
  };
  // A vector and its head rather than a deque: an empty deque allocates, and
  // host calls must not.
  std::vector<SlotBatch> slotBatches;
  size_t batchHead = 0;
  auto freeSlots = [&](const SlotBatch& b) {
    for (auto [peer, slot] : b.slots) {
      channels_[peer]->arrived[slot] = 0;
      ++channels_[peer]->creditsOwed;
    }
    for (auto [peer, slot] : b.slots) returnCredit(peer, false);
  };

  // The test hooks that send control messages ahead of the signature need it
  // sent on its own.
  const bool noteSignature = ctx_.maxNoteBytes() >= sizeof(SignatureMsg) && !hooks_.corruptCtrl &&
                             hooks_.fakeSlots != faults::Hooks::FakeSlots::kAnnounce;
  const bool lands = ctx_.landsInPlace();
  const bool doneOnReturn = ctx_.writesCompleteOnReturn();
  transport::RemoteKey landingKey;  // 224 bytes to clear: not for the calls above
  for (;;) {
    bool progress = false;
    bool gpuWait = false;  // a staged chunk waits for its event
    while (!st.localReady.empty()) {
      int32_t idx = st.localReady.back();
      st.localReady.pop_back();
      const Step& s = sch.steps[idx];
      char* dst = resolve(bufs, s.dst);
      if (s.kind == StepKind::kCopy) {
        // Zero-byte copies come with the NULL buffers a zero count allows.
        if (s.bytes == 0) {
        } else if (gpu) {
          cuda::copyAsync(dst, resolve(bufs, s.src), s.bytes, gpu->stream());
        } else {
          memmove(dst, resolve(bufs, s.src), s.bytes);
        }
      } else if (s.kind == StepKind::kAvg) {
        if (gpu) {
          cuda::divideAsync(dst, s.bytes / es, dtype, n, gpu->stream());
        } else {
          finalizeAvg(dst, s.bytes / es, dtype, n);
        }
      }
      complete(idx);
      progress = true;
    }
    for (int p : st.peers) {
      // A peer that went away can make the write itself fail (shm cannot
      // map memory its process no longer has): handled like an error
      // event, so the rank really at fault is named if its notice comes.
      try {
        Channel& ch = *channels_[p];
        auto& q = st.sendQ[p];
        size_t& h = st.sendHead[p];
        // This rank's GPU slots, told once to every peer it meets in a call
        // on GPU buffers (the peer may be running a host call: it keeps them).
        while (gpu && ipc_ && ch.sameHost && ch.slotsAnnounced < 2) {
          execwire::DeviceSlotsMsg m{};
          m.type = execwire::kCtrlDeviceSlots;
          m.part = static_cast<uint8_t>(ch.slotsAnnounced);
          m.offset = ipc_->offsetFor(p);  // where p's messages land
          memcpy(m.half, ipc_->handle() + 32 * m.part, sizeof(m.half));
          if (!ctx_.pair(p).sendCtrl(&m, sizeof(m))) break;
          ++ch.slotsAnnounced;
        }
        // Where the transport carries notes with writes the signature rides
        // with the first chunk to this peer (one message instead of two).
        // Otherwise it goes as a control message: always where the transport
        // has no notes, and to a peer this rank sends no data to in this call
        // (a broadcast's child to its parent, a reduce's parent to its
        // children), so that both sides of every connection the schedule uses
        // compare their calls: two ranks that disagree on the root would
        // otherwise both only send (and return) or both only receive.
        // A marked first chunk waits for the receiver's landing answer, which
        // waits for the signature: then the signature goes on its own too.
        if (!st.sigSent[p] && (q.empty() || !noteSignature || (lands && sch.steps[q[0]].land))) {
          if (hooks_.fakeSlots == faults::Hooks::FakeSlots::kAnnounce) {
            execwire::DeviceSlotsMsg m{};
            m.type = execwire::kCtrlDeviceSlots;
            if (!ctx_.pair(p).sendCtrl(&m, sizeof(m)) || !ctx_.pair(p).sendCtrl(&m, sizeof(m)))
              continue;
          }
          if (hooks_.corruptCtrl && label.sequence >= hooks_.fromSequence) {
            const uint8_t junk[5] = {0x77, 0xde, 0xad, 0xbe, 0xef};
            if (!ctx_.pair(p).sendCtrl(junk, sizeof(junk))) continue;
          }
          SignatureBytes m = signatureFor(ch, label.signature, noteSignature);
          if (!ctx_.pair(p).sendCtrl(m.bytes, m.len)) continue;
          noteSent(ch, label.signature, m);
          st.sigSent[p] = 1;
        }
        while (h < q.size() && ch.credits > 0 && st.waiting[q[h]] == 0) {
          const Step& s = sch.steps[q[h]];
          size_t slot = ch.sendSeq & slotMask_;
          uint32_t imm = static_cast<uint32_t>(ch.sendSeq) & kSeqMask;
          const transport::RemoteKey* dstKey = &ch.remote;
          size_t dstOffset = slot * slotBytes_;
          bool usedLanding = false;
          // Chunks to a peer whose GPU slots are mapped were copied there;
          // the write only says so (and declines any landing).
          const bool viaIpc = ipcCall && ch.peerSlots == Channel::PeerSlots::kMapped;
          if (lands && s.land) {
            // The receiver's answer comes first: where to put the chunk, or
            // its slot. Older answers belong to calls that failed midway.
            while (!ch.landings.empty() && ch.landings.front().sequence < ch.sendSeq)
              ch.landings.pop_front();
            if (ch.landings.empty() || ch.landings.front().sequence != ch.sendSeq) break;
            const execwire::LandingMsg& l = ch.landings.front();
            usedLanding = true;
            // A size other than this chunk's means the peer runs another call;
            // the slot then takes it, and its signature check says so.
            if (!viaIpc && l.ok && l.bytes == s.bytes &&
                ctx_.landingKey(p, l.addr, l.bytes, l.token, &landingKey)) {
              dstKey = &landingKey;
              dstOffset = 0;
              imm |= execwire::kLandedBit;
            }
          }
          const void* src = resolve(bufs, s.src);
          if (gpu) {
            // Chunks may still be in the making on the stream (a reduction or
            // copy queued by an earlier step). Every chunk whose steps are
            // queued is staged ahead, as far as credits go (to host memory
            // unless the transport reads the GPU), each followed by its
            // event; one goes out once its event has passed. Meanwhile the
            // loop serves other peers and receives, and the GPU copies the
            // next chunk while this one is written.
            size_t& staged = st.stagedHead[p];
            if (staged < h) staged = h;
            for (; staged < q.size() && staged - h < static_cast<size_t>(ch.credits) &&
                   st.waiting[q[staged]] == 0;
                 ++staged) {
              const Step& t = sch.steps[q[staged]];
              const uint64_t seq = ch.sendSeq + (staged - h);
              // Into the peer's GPU slot, or a pinned one; nothing to copy
              // where the transport reads the GPU.
              char* to = viaIpc      ? ipc_->peerSlot(p, seq)
                         : gpuDirect ? nullptr
                                     : gpu->sendSlot(p, seq);
              if (to) cuda::copyAsync(to, resolve(bufs, t.src), t.bytes, gpu->stream());
              cuda::recordEvent(gpu->sendEvent(p, seq), gpu->stream());
            }
            if (!cuda::eventDone(gpu->sendEvent(p, ch.sendSeq))) {
              gpuWait = true;
              break;
            }
            if (viaIpc) {
              imm |= execwire::kDeviceSlotBit;
            } else if (!gpuDirect) {
              src = gpu->sendSlot(p, ch.sendSeq);
            }
          }
          size_t wireBytes = viaIpc ? 0 : s.bytes;
          if (hooks_.fakeSlots == faults::Hooks::FakeSlots::kWrite) {
            imm |= execwire::kDeviceSlotBit;
            wireBytes = 0;
          }
          const uint64_t cookie = doneOnReturn ? 0 : static_cast<uint64_t>(q[h]) + 1;
          const bool withSig = noteSignature && !st.sigSent[p];
          const SignatureBytes m = noteFor(ch, label.signature, withSig, noteSignature);
          if (!writeChunk(p, src, wireBytes, *dstKey, dstOffset, imm, cookie, m)) break;
          noteSent(ch, label.signature, m);
          if (withSig) st.sigSent[p] = 1;
          if (usedLanding) ch.landings.pop_front();
          --ch.credits;
          ++ch.sendSeq;
          if (doneOnReturn) complete(q[h]);
          ++h;
          progress = true;
        }
      } catch (const Error& e) {
        failFromWrite(st, p, e);
      }
    }
    size_t before = st.completed;
    handleEvents(st);
    progress = progress || st.completed != before;
    for (int p : st.peers) {
      Channel& ch = *channels_[p];
      auto& q = st.recvQ[p];
      size_t& h = st.recvHead[p];
      if (!st.sigChecked[p]) {
        // Nothing from this peer is consumed before its call is known to
        // match; a peer this rank receives nothing from sends its signature
        // alone, and the call does not end before it is checked.
        if (ch.signatures.empty()) continue;
        checkSignature(st, p);
        progress = true;
      }
      if (lands) {
        // Answer each marked receive once its dependencies are met (its
        // destination is free to be written): the sender waits for it.
        size_t& g = st.grantHead[p];
        if (g < h) g = h;
        while (g < q.size()) {
          const Step& s = sch.steps[q[g]];
          if (!s.land) {
            ++g;
            continue;
          }
          if (st.waiting[q[g]] != 0) break;
          execwire::LandingMsg m{};
          m.type = execwire::kCtrlLanding;
          m.sequence = ch.recvSeq + (g - h);
          // GPU memory, or a step that reduces (a schedule marking one is
          // wrong, but the slot still works): through the slot.
          std::unique_ptr<transport::Buffer> hold;
          char* place = resolve(bufs, s.dst);
          m.ok = landing_ && !gpu && s.kind == StepKind::kRecv && s.bytes > 0 &&
                 ctx_.grantLanding(place, s.bytes, &m.token, &hold);
          if (m.ok) {
            m.addr = reinterpret_cast<uint64_t>(place);
            m.bytes = s.bytes;
          }
          if (!ctx_.pair(p).sendCtrl(&m, sizeof(m))) break;
          if (m.ok) ch.granted.push_back({m.sequence, std::move(hold)});
          ++g;
          progress = true;
        }
      }
      while (h < q.size() && st.waiting[q[h]] == 0) {
        size_t slot = ch.recvSeq & slotMask_;
        // 1: data waiting; 2: read by GPU work not yet finished (a slot the
        // sequence wraps around to before its credit went back); 3: the data
        // landed in place.
        // 4: the data is in this rank's GPU slot for the peer (CUDA IPC).
        const uint8_t how = ch.arrived[slot];
        if (how != 1 && how != 3 && how != 4) break;
        if (how == 3 && (gpu || sch.steps[q[h]].kind != StepKind::kRecv)) {
          fail(shoalInternalError,
               "rank %d: %s: message %llu from rank %d landed in place for a step that cannot take "
               "it",
               ctx_.rank(), label.operation, static_cast<unsigned long long>(ch.recvSeq), p);
        }
        const Step& s = sch.steps[q[h]];
        const char* data = how == 4
                               ? ipc_->ownSlot(p, ch.recvSeq)
                               : static_cast<const char*>(ch.staging->data()) + slot * slotBytes_;
        char* dst = resolve(bufs, s.dst);
        if (gpu) {
          const void* in = how == 4 ? gpu->onThisDevice(data, s.bytes, ipc_->device())
                                    : gpu->readable(data, s.bytes);
          if (s.kind == StepKind::kRecv) {
            cuda::copyAsync(dst, in, s.bytes, gpu->stream());
          } else {
            cuda::reduceAsync(dst, resolve(bufs, s.src), in, s.bytes / es, dtype, op,
                              gpu->stream());
          }
          ch.arrived[slot] = 2;
          slotsInUse.emplace_back(p, slot);
        } else {
          if (how == 4 && s.bytes != 0) {
            // A chunk a peer put in this rank's GPU slot while this call runs
            // on host buffers (the peer cannot tell): fetched first.
            if (hostBounce_.size() < slotBytes_) hostBounce_.resize(slotBytes_);
            ipc_->fetch(hostBounce_.data(), data, s.bytes, w.deadlineFrom(Clock::now()));
            data = hostBounce_.data();
          }
          if (s.kind == StepKind::kRecv) {
            // A zero-byte step (a barrier's) may have no buffer, and memcpy's
            // pointers must not be null even then.
            if (s.bytes != 0 && how != 3) memcpy(dst, data, s.bytes);
          } else {
            reduce(dst, resolve(bufs, s.src), data, s.bytes / es, dtype, op);
          }
          ch.arrived[slot] = 0;
          ++ch.creditsOwed;
        }
        receiveDone(st, p, q[h]);
        progress = true;
      }
      returnCredit(p, false);
    }
    if (!slotsInUse.empty()) {
      cuda::Event passed = gpu->nextSlotEvent();
      cuda::recordEvent(passed, gpu->stream());
      slotBatches.push_back({passed, {}});
      slotBatches.back().slots.swap(slotsInUse);
      slotsInUse.reserve(slotBatches.back().slots.capacity());
    }
    while (batchHead < slotBatches.size() && cuda::eventDone(slotBatches[batchHead].passed)) {
      freeSlots(slotBatches[batchHead++]);
      progress = true;
    }
    if (st.completed == total && st.sigsChecked == st.peers.size() &&
        batchHead < slotBatches.size()) {
      // Every step is queued: what is left is the GPU's, so wait for it here.
      cuda::streamSync(gpu->stream(), w.deadlineFrom(Clock::now()), label.operation);
      while (batchHead < slotBatches.size()) freeSlots(slotBatches[batchHead++]);
    }
    if (batchHead == slotBatches.size() && batchHead > 0) {
      slotBatches.clear();
      batchHead = 0;
    }
    if (st.completed == total && st.sigsChecked == st.peers.size()) {
      // Credits short of a batch stay owed: the next call's first wait, or a
      // later receive, hands them back.
      bool owed = false;
      for (int p : st.peers) owed = owed || channels_[p]->creditsOwed >= creditBatch_;
      if (!owed) {
        if (gpu) cuda::streamSync(gpu->stream(), w.deadlineFrom(Clock::now()), label.operation);
        if (hooks_.any()) faultPoint(st, -1);
        return;
      }
    }
    if (progress) {
      w.idle = 0;
      continue;
    }
    idleStep(st, w, gpuWait || batchHead < slotBatches.size());
  }
}

void Executor::idleStep(RunState& st, Waiter& w, bool gpuBusy) {
  // Nothing moved: back off (ranks may outnumber cores) and watch for the
  // deadline, an abort, or a peer that went away.
  if (++w.idle <= w.quietSpins) return;
  if (w.idle == w.quietSpins + 1) {
    w.idleSince = Clock::now();
    w.deadlineFrom(w.idleSince);
    // Peers are first checked once the collective has waited 20 ms: the
    // check costs system calls per peer, which short waits should not pay.
    if (w.nextPeerCheck == Clock::time_point{})
      w.nextPeerCheck = w.idleSince + std::chrono::milliseconds(20);
  }
  // Owed credits go back once this rank has waited past its spin phase:
  // a peer out of credits then waits a few microseconds at most, while in
  // a steady stream of small calls (where every call waits a little) no
  // credit message crosses per call.
  if (w.idle > w.spins) {
    for (int p : st.peers) returnCredit(p, true);
  }
  // The checks below run every 256 idle passes and, once passes sleep or
  // yield, at least every 10 ms by the clock (peers every 20 ms): on an
  // emulated or overloaded CPU a single pass can take milliseconds, and a
  // dead peer must still be noticed within a fraction of a second.
  bool check = (w.idle & 255) == 0;
  if (w.idle > w.spins) {
    // Spin, then yield, then block longer the longer nothing happens
    // (woken by an arrival where the transport can), so waiting ranks
    // leave the cores to ranks that compute when ranks outnumber cores,
    // without adding latency to short waits.
    const auto now = Clock::now();
    auto waited = now - w.idleSince;
    // A transport cannot wake this rank for a GPU event, so while one is
    // awaited (gpuBusy) the rank yields instead of sleeping.
    if (!gpuBusy && waited > std::chrono::duration<double>(ctx_.blockAfterSeconds())) {
      ctx_.waitForEvents(waited > std::chrono::milliseconds(50)   ? 200e-6
                         : waited > std::chrono::milliseconds(10) ? 100e-6
                                                                  : 20e-6);
    } else {
      sched_yield();
    }
    check = check || now >= w.nextCheck;
  }
  if (check) {
    const auto now = Clock::now();
    w.nextCheck = now + std::chrono::milliseconds(10);
    if (w.abortFlag && w.abortFlag->load(std::memory_order_relaxed)) {
      std::string detail;
      std::string ranks = waitingFor(st, &detail);
      fail(shoalInvalidUsage,
           "rank %d: %s #%llu (%s): aborted by shoalCommAbort while waiting for ranks {%s}",
           ctx_.rank(), st.label.operation, static_cast<unsigned long long>(st.label.sequence),
           st.label.algorithm, ranks.c_str());
    }
    if (w.deadline.expired()) failStuck(st, true, -1);
    if (watchdog_.due(now)) {
      std::string detail;
      std::string ranks = waitingFor(st, &detail);
      SHOAL_WARN(COLL,
                 "rank %d: watchdog: %s #%llu (%s over %s) still running after %.1f s "
                 "(SHOAL_WATCHDOG); waiting for ranks {%s}:%s",
                 ctx_.rank(), st.label.operation,
                 static_cast<unsigned long long>(st.label.sequence), st.label.algorithm,
                 ctx_.name(), watchdog_.seconds(), ranks.c_str(), detail.c_str());
    }
    if (now >= w.nextPeerCheck) {
      w.nextPeerCheck = now + std::chrono::milliseconds(20);
      checkPeers(st);
    }
  }
}

}  // namespace shoal
