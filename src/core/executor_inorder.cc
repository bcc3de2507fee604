// The executor's step-by-step loop (Executor::runInOrder) for schedules an
// algorithm flags Schedule::inOrder. A small call's work in the general loop
// is mostly its passes over every peer's send and receive queues after each
// event; here each step waits for exactly what it needs and nothing else is
// looked at. The messages are the general loop's (same sequence numbers,
// signatures, credits), so a peer may run either loop for the same call.
#include <cstring>

#include "core/error.h"
#include "core/exec_wire.h"
#include "core/executor.h"
#include "core/executor_state.h"
#include "core/reduce.h"

namespace shoal {

void Executor::runInOrder(RunState& st, Waiter& w, bool noteSignature) {
  const Schedule& sch = st.sch;
  const size_t total = sch.steps.size();
  const size_t es = dtypeSize(st.dtype);
  const bool doneOnReturn = ctx_.writesCompleteOnReturn();
  // Takes events until ready() holds. ready() may act (a send that finds no
  // room returns false and is tried again after progress).
  auto waitFor = [&](auto ready) {
    if (ready()) return;
    for (;;) {
      handleEvents(st);
      if (ready()) break;
      idleStep(st, w, false);
    }
    w.idle = 0;
  };

  // The signature goes as a control message where it cannot ride with a
  // chunk: to peers this rank sends nothing to, and to every peer where the
  // transport has no notes.
  for (int p : st.peers) {
    if (noteSignature && !st.sendQ[p].empty()) continue;
    Channel& ch = *channels_[p];
    const SignatureBytes m = signatureFor(ch, st.label.signature, noteSignature);
    waitFor([&] { return ctx_.pair(p).sendCtrl(m.bytes, m.len); });
    noteSent(ch, st.label.signature, m);
    st.sigSent[p] = 1;
  }

  for (size_t i = 0; i < total; ++i) {
    const Step& s = sch.steps[i];
    const auto idx = static_cast<int32_t>(i);
    // Earlier steps are done, except sends a transport may still be reading
    // (verbs completes them later): a step reusing their buffer waits here.
    if (st.trackDeps) waitFor([&] { return st.waiting[i] == 0; });
    char* dst = resolve(st.bufs, s.dst);
    switch (s.kind) {
      case StepKind::kCopy:
        if (s.bytes != 0) memmove(dst, resolve(st.bufs, s.src), s.bytes);
        completeStep(st, idx);
        break;
      case StepKind::kAvg:
        finalizeAvg(dst, s.bytes / es, st.dtype, ctx_.size());
        completeStep(st, idx);
        break;
      case StepKind::kSend: {
        const int p = s.peer;
        Channel& ch = *channels_[p];
        // At most slots_ sends per peer in the call (prepare): credits come
        // back from what the peer drained of earlier calls, or return once
        // it waits.
        waitFor([&] { return ch.credits > 0; });
        const size_t offset = (ch.sendSeq & slotMask_) * slotBytes_;
        const uint32_t imm = static_cast<uint32_t>(ch.sendSeq) & execwire::kSeqMask;
        const void* src = resolve(st.bufs, s.src);
        const uint64_t cookie = doneOnReturn ? 0 : i + 1;
        // The first chunk to p carries the signature; any chunk the credits
        // this rank owes p.
        const bool withSig = noteSignature && !st.sigSent[p];
        const SignatureBytes m = noteFor(ch, st.label.signature, withSig, noteSignature);
        try {
          waitFor([&] { return writeChunk(p, src, s.bytes, ch.remote, offset, imm, cookie, m); });
        } catch (const Error& e) {
          failFromWrite(st, p, e);
        }
        noteSent(ch, st.label.signature, m);
        if (withSig) st.sigSent[p] = 1;
        --ch.credits;
        ++ch.sendSeq;
        ++st.sendHead[p];
        // Else done when the transport says so (kSendDone).
        if (doneOnReturn) completeStep(st, idx);
        break;
      }
      case StepKind::kRecv:
      case StepKind::kRecvReduce: {
        const int p = s.peer;
        Channel& ch = *channels_[p];
        // Nothing from a peer is used before its call is known to match.
        if (!st.sigChecked[p]) {
          waitFor([&] { return !ch.signatures.empty(); });
          checkSignature(st, p);
        }
        const size_t slot = ch.recvSeq & slotMask_;
        waitFor([&] { return ch.arrived[slot] != 0; });
        // Landing in place and GPU slots are for calls the general loop runs.
        if (ch.arrived[slot] != 1) {
          fail(shoalInternalError,
               "rank %d: %s #%llu: message %llu from rank %d arrived as kind %u in a step-by-step "
               "run",
               ctx_.rank(), st.label.operation, static_cast<unsigned long long>(st.label.sequence),
               static_cast<unsigned long long>(ch.recvSeq), p, ch.arrived[slot]);
        }
        const char* data = static_cast<const char*>(ch.staging->data()) + slot * slotBytes_;
        if (s.kind == StepKind::kRecv) {
          if (s.bytes != 0) memcpy(dst, data, s.bytes);
        } else {
          reduce(dst, resolve(st.bufs, s.src), data, s.bytes / es, st.dtype, st.op);
        }
        ch.arrived[slot] = 0;
        ++ch.creditsOwed;
        receiveDone(st, p, idx);
        returnCredit(p, false);
        break;
      }
    }
  }

  // Sends end by event, and a peer this rank only sends to (or whose chunks
  // all came before its signature was needed) still owes its signature.
  waitFor([&] {
    for (int p : st.peers) {
      if (!st.sigChecked[p] && !channels_[p]->signatures.empty()) checkSignature(st, p);
    }
    return st.completed == total && st.sigsChecked == st.peers.size();
  });
  // As in the general loop: credits short of a batch stay owed.
  for (int p : st.peers) {
    waitFor([&] {
      returnCredit(p, false);
      return channels_[p]->creditsOwed < creditBatch_;
    });
  }
}

}  // namespace shoal
