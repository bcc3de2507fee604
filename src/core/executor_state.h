// The executor's per-connection and per-call state, shared by its two run
// loops: the general one (executor.cc), which serves every peer's queues on
// each pass, and the in-order one (executor_inorder.cc) for schedules that
// each rank may run step by step.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstring>
#include <deque>
#include <memory>
#include <vector>

#include "core/exec_wire.h"
#include "core/executor.h"
#include "cuda/cuda_api.h"

namespace shoal {

// A peer's landing answers held at most per connection: a call answers each
// of its marked chunks once, and even 256 MiB in 64 KiB chunks is 4096.
constexpr size_t kMaxLandingsHeld = size_t{1} << 16;

// A FIFO of received call signatures not yet checked. Usually it holds one
// for a moment per call; a std::deque there allocates and frees a node every
// dozen calls. This ring only grows (a peer's signatures run ahead of this
// rank by a few calls at most), so steady traffic allocates nothing.
class SignatureQueue {
 public:
  bool empty() const { return size_ == 0; }
  const CallSignature& front() const { return ring_[head_]; }
  void pop_front() {
    head_ = (head_ + 1) & (ring_.size() - 1);
    --size_;
  }
  // False past kMax held: a peer that far ahead is broken or hostile.
  bool push_back(const CallSignature& s) {
    if (size_ >= kMax) return false;
    if (size_ == ring_.size()) grow();
    ring_[(head_ + size_) & (ring_.size() - 1)] = s;
    ++size_;
    return true;
  }
  static constexpr size_t kMax = 4096;

 private:
  void grow() {
    std::vector<CallSignature> bigger(ring_.empty() ? 4 : 2 * ring_.size());
    for (size_t i = 0; i < size_; ++i) bigger[i] = ring_[(head_ + i) & (ring_.size() - 1)];
    ring_.swap(bigger);
    head_ = 0;
  }
  std::vector<CallSignature> ring_;  // a power of two in size
  size_t head_ = 0, size_ = 0;
};

struct Executor::Channel {
  std::unique_ptr<transport::Buffer> staging;  // slots this peer writes into
  transport::RemoteKey remote{};               // the peer's slots for me
  uint64_t sendSeq = 0;
  int credits = 0;
  uint64_t recvSeq = 0;
  std::vector<uint8_t> arrived;
  uint32_t creditsOwed = 0;
  SignatureQueue signatures;  // received, not yet checked
  // The last full signature sent to / received from this peer: where the
  // transport keeps notes and control messages in one order (shm), a
  // repeated call sends only its sequence number (SameSignatureMsg).
  CallSignature noteSent{}, noteReceived{};
  bool noteSentValid = false, noteReceivedValid = false;
  // Direct placement (Step::land). Sender side: the receiver's answers not
  // yet used, in message order. Receiver side: the messages this rank let
  // land in place and has not seen arrive.
  std::deque<execwire::LandingMsg> landings;
  uint64_t lastLanding = 0;
  bool anyLanding = false;
  struct Granted {
    uint64_t seq;
    std::unique_ptr<transport::Buffer> hold;  // keeps the place registered
  };
  std::deque<Granted> granted;
  // CUDA IPC (ipc_slots.h), only with a peer on this host (its bootstrap
  // host identity is this rank's), whatever the transport carries the rest.
  // Receiver side: parts of this rank's slot announcement sent (2 = done).
  // Sender side: the peer's, as it arrives.
  bool sameHost = false;
  int slotsAnnounced = 0;
  uint8_t peerHandle[cuda::kIpcHandleBytes] = {};
  uint64_t peerOffset = 0;
  uint8_t peerParts = 0;  // bit per part received
  enum class PeerSlots : uint8_t { kNone, kAnnounced, kMapped, kRefused };
  PeerSlots peerSlots = PeerSlots::kNone;
};

// What a schedule's run needs beyond its steps, worked out once per
// schedule: a training loop repeats the same few calls, whose plans (and so
// schedules) the communicator keeps, so a repeated call only copies the
// dependency counts.
struct Executor::Prepared {
  uint64_t id = 0;                // Schedule::id; 0 when not cached
  std::vector<int32_t> waiting;   // unmet dependencies per step, at the start
  std::vector<int32_t> depStart;  // CSR of dependents
  std::vector<int32_t> depList;
  std::vector<std::vector<int32_t>> sendQ, recvQ;  // per peer, schedule order
  std::vector<int> peers;                          // peers this schedule talks to
  std::vector<int32_t> localReady;                 // local steps ready at the start
  size_t firstGather = 0;  // fault hooks: where the distributing half starts
  bool inOrder = false;    // may run step by step (runInOrder)
};

// Per-call state, kept by the executor between calls so that a small
// collective allocates nothing.
struct Executor::RunVectors {
  std::vector<int32_t> waiting;
  std::vector<size_t> sendHead, recvHead;
  std::vector<size_t> grantHead;             // next receive to answer a landing for
  std::vector<size_t> stagedHead;            // GPU buffers: sends staged ahead up to here
  std::vector<uint8_t> sigSent, sigChecked;  // per peer, this collective
  std::vector<int32_t> localReady;
};

struct Executor::RunState {
  RunState(const Schedule& s, const Prepared& p, RunVectors& v, const ExecBuffers& b,
           shoalDataType_t t, shoalRedOp_t o, const ExecLabel& l)
      : sch(s),
        depStart(p.depStart),
        depList(p.depList),
        sendQ(p.sendQ),
        recvQ(p.recvQ),
        peers(p.peers),
        firstGather(p.firstGather),
        waiting(v.waiting),
        sendHead(v.sendHead),
        recvHead(v.recvHead),
        grantHead(v.grantHead),
        stagedHead(v.stagedHead),
        sigSent(v.sigSent),
        sigChecked(v.sigChecked),
        localReady(v.localReady),
        bufs(b),
        dtype(t),
        op(o),
        label(l) {}
  const Schedule& sch;
  const std::vector<int32_t>& depStart;
  const std::vector<int32_t>& depList;
  const std::vector<std::vector<int32_t>>& sendQ;
  const std::vector<std::vector<int32_t>>& recvQ;
  const std::vector<int>& peers;
  const size_t firstGather;
  std::vector<int32_t>& waiting;
  std::vector<size_t>& sendHead;
  std::vector<size_t>& recvHead;
  std::vector<size_t>& grantHead;
  std::vector<size_t>& stagedHead;
  std::vector<uint8_t>& sigSent;
  std::vector<uint8_t>& sigChecked;
  std::vector<int32_t>& localReady;
  const ExecBuffers& bufs;
  shoalDataType_t dtype;
  shoalRedOp_t op;
  const ExecLabel& label;
  size_t completed = 0;
  size_t sigsChecked = 0;  // peers whose call signature matched this call
  // False where no step can start before every earlier one is done (see
  // runSchedule): waiting and localReady are then not kept.
  bool trackDeps = true;
  // Fault hooks only: what fired.
  bool firedReduce = false, firedGather = false;
};

// A call's waiting: when it started, when the next checks are due, and the
// deadline, set when the call first waits (or first syncs a GPU stream), not
// on entry: a small call then reads the clock once, and the local work
// before the first wait is bounded anyway.
struct Executor::Waiter {
  Waiter(double timeout, const std::atomic<bool>* abort, int idleSpins)
      : timeoutSeconds(timeout),
        abortFlag(abort),
        spins(static_cast<uint64_t>(idleSpins)),
        quietSpins(std::min<uint64_t>(spins, 128)) {}
  Deadline deadlineFrom(Clock::time_point now) {
    if (!deadlineSet) {
      deadline = Deadline::at(now, timeoutSeconds);
      deadlineSet = true;
    }
    return deadline;
  }
  const double timeoutSeconds;
  const std::atomic<bool>* const abortFlag;
  const uint64_t spins;  // Context::idleSpins()
  // Empty passes before the wait reads the clock: the spin phase, up to 128
  // (SHOAL_SHM_SPIN_POLLS may ask for far more, and the checks must still
  // come). A small call's answer is usually under a microsecond away, and a
  // clock read costs as much as the rest of a pass; the deadline then counts
  // from the end of these passes (microseconds later).
  const uint64_t quietSpins;
  Deadline deadline;
  bool deadlineSet = false;
  uint64_t idle = 0;  // passes in a row that moved nothing
  Clock::time_point idleSince{};
  // Not reset by progress: a collective that trickles along is checked too.
  Clock::time_point nextCheck{}, nextPeerCheck{};
};

// Small members both run loops call per step or per message: inline, where
// a call through the library's PLT cost more than their bodies.
inline char* Executor::resolve(const ExecBuffers& b, BufRef ref) const {
  switch (ref.buf) {
    case BufId::kSend:
      return const_cast<char*>(static_cast<const char*>(b.send)) + ref.offset;
    case BufId::kRecv:
      return static_cast<char*>(b.recv) + ref.offset;
    case BufId::kScratch:
      return static_cast<char*>(b.scratch) + ref.offset;
  }
  return nullptr;
}

inline void Executor::returnCredit(int peer, bool force) {
  Channel& ch = *channels_[peer];
  if (ch.creditsOwed == 0 || (!force && ch.creditsOwed < creditBatch_)) return;
  execwire::CreditMsg m{execwire::kCtrlCredit, {0, 0, 0}, ch.creditsOwed};
  if (ctx_.pair(peer).sendCtrl(&m, sizeof(m))) ch.creditsOwed = 0;
}

// Marks a step done and queues the local steps it was the last dependency of
// (sends and receives are picked up by their per-peer queues).
inline void Executor::completeStep(RunState& st, int32_t idx) {
  ++st.completed;
  if (hooks_.any()) faultPoint(st, idx);
  if (!st.trackDeps) return;
  for (int32_t j = st.depStart[idx]; j < st.depStart[idx + 1]; ++j) {
    int32_t d = st.depList[j];
    if (--st.waiting[d] == 0 && st.sch.steps[d].peer < 0) st.localReady.push_back(d);
  }
}

inline Executor::SignatureBytes Executor::signatureFor(const Channel& ch, const CallSignature& sig,
                                                       bool allowShort) const {
  static_assert(sizeof(execwire::SignatureMsg) <= sizeof(SignatureBytes::bytes));
  SignatureBytes m;
  if (allowShort && ch.noteSentValid && execwire::sameCall(ch.noteSent, sig)) {
    execwire::SameSignatureMsg s{execwire::kCtrlSameSignature, 0, 0,
                                 static_cast<uint32_t>(sig.sequence)};
    memcpy(m.bytes, &s, sizeof(s));
    m.len = sizeof(s);
  } else {
    execwire::SignatureMsg f{execwire::kCtrlSignature, 0, 0, {}, sig};
    memcpy(m.bytes, &f, sizeof(f));
    m.len = sizeof(f);
  }
  m.sigLen = m.len;
  return m;
}

inline Executor::SignatureBytes Executor::noteFor(const Channel& ch, const CallSignature& sig,
                                                  bool withSig, bool notes) const {
  static_assert(offsetof(execwire::SignatureMsg, credits) ==
                offsetof(execwire::SameSignatureMsg, credits));
  SignatureBytes m;
  if (!notes) return m;
  if (withSig) m = signatureFor(ch, sig, true);
  if (ch.creditsOwed == 0) return m;
  if (m.len == 0) {
    const execwire::CreditMsg c{execwire::kCtrlCredit, {0, 0, 0}, ch.creditsOwed};
    memcpy(m.bytes, &c, sizeof(c));
    m.len = sizeof(c);
  } else {
    // Owed credits never exceed the slots (at most 1024).
    const auto count = static_cast<uint16_t>(ch.creditsOwed);
    memcpy(m.bytes + offsetof(execwire::SignatureMsg, credits), &count, sizeof(count));
  }
  m.credits = ch.creditsOwed;
  return m;
}

inline void Executor::noteSent(Channel& ch, const CallSignature& sig, const SignatureBytes& m) {
  ch.creditsOwed -= m.credits;
  if (m.sigLen != sizeof(execwire::SignatureMsg)) return;
  ch.noteSent = sig;
  ch.noteSentValid = true;
}

inline bool Executor::writeChunk(int peer, const void* src, size_t len,
                                 const transport::RemoteKey& dst, size_t dstOffset, uint32_t imm,
                                 uint64_t cookie, const SignatureBytes& note) {
  transport::Pair& pair = ctx_.pair(peer);
  return note.len != 0
             ? pair.writeWithNote(src, len, dst, dstOffset, imm, cookie, note.bytes, note.len)
             : pair.write(src, len, dst, dstOffset, imm, cookie);
}

inline void Executor::receiveDone(RunState& st, int peer, int32_t idx) {
  Channel& ch = *channels_[peer];
  // A place granted for a message that came through the slot after all
  // (the sender could not write there) is given up with it.
  while (!ch.granted.empty() && ch.granted.front().seq <= ch.recvSeq) ch.granted.pop_front();
  ++ch.recvSeq;
  ++st.recvHead[peer];
  completeStep(st, idx);
}

}  // namespace shoal
