#include "transports/verbs/pair.h"

#include <arpa/inet.h>

#include <algorithm>
#include <cstring>

#include "core/error.h"
#include "core/log.h"
#include "transports/verbs/buffer.h"
#include "transports/verbs/context.h"

namespace shoal::transport::verbs {

VerbsPair::VerbsPair(VerbsContext& ctx, int peer) : Pair(peer), ctx_(ctx) {}

void VerbsPair::checkUsable() const {
  if (!failure_.empty()) {
    throw Error(shoalRemoteError, strprintf("verbs: connection to peer %d failed earlier: %s",
                                            peer_, failure_.c_str()));
  }
}

void VerbsPair::post(QueuePair& q, ibv_send_wr& wr, const SendSlot& slot, bool signal) {
  // Selective signaling: only requests someone waits for, plus every depth/4-th so
  // the completed count (and the slots it frees) keeps moving.
  uint64_t seq = q.posted;
  bool sig = signal || q.sinceSignal + 1 >= std::max<uint32_t>(1, q.depth / 4);
  wr.wr_id = q.global | (seq << kWrIdShift);
  wr.send_flags |= sig ? IBV_SEND_SIGNALED : 0;
  wr.next = nullptr;
  q.slots[seq % q.depth] = slot;
  ibv_send_wr* bad = nullptr;
  int rc = ibv_post_send(q.qp.get(), &wr, &bad);
  if (rc != 0) {
    q.slots[seq % q.depth] = {};
    if (slot.source) ctx_.cache().release(slot.source);
    fail(shoalSystemError, "verbs: rank %d: ibv_post_send to peer %d (queue pair %d) failed: %s",
         ctx_.rank(), peer_, q.index, strerror(rc));
  }
  ++q.posted;
  q.sinceSignal = sig ? 0 : q.sinceSignal + 1;
}

bool VerbsPair::write(const void* src, size_t len, const RemoteKey& dst, size_t dstOffset,
                      uint32_t imm, uint64_t cookie) {
  checkUsable();
  WireKey target = decodeKey(dst);
  if (dstOffset > dst.size || len > dst.size - dstOffset) {
    fail(
        shoalInvalidArgument,
        "verbs: rank %d: write of %zu bytes at offset %zu to peer %d overruns its %llu-byte region",
        ctx_.rank(), len, dstOffset, peer_, static_cast<unsigned long long>(dst.size));
  }
  const size_t nq = qps_.size();
  size_t stripe = (len + nq - 1) / nq;
  stripe = (stripe + 63) & ~size_t{63};  // whole cache lines per stripe
  if (stripe > ctx_.maxMessage()) {
    fail(shoalInvalidArgument,
         "verbs: rank %d: write of %zu bytes to peer %d exceeds the port's "
         "message limit (%u per queue pair)",
         ctx_.rank(), len, peer_, ctx_.maxMessage());
  }
  for (auto& q : qps_) {
    if (!q.room(1)) return false;
  }
  RegEntry* source = len > 0 ? ctx_.cache().acquire(src, len, false) : nullptr;
  uint64_t group = 0;
  if (cookie != 0) {
    group = nextGroup_++;
    groups_[group] = Group{cookie, static_cast<uint32_t>(nq)};
  }
  bool firstRef = true;
  for (size_t i = 0; i < nq; ++i) {
    size_t off = std::min(len, i * stripe);
    size_t n = std::min(stripe, len - off);
    ibv_sge sge{};
    ibv_send_wr wr{};
    SendSlot slot;
    slot.group = group;
    if (n > 0) {
      sge.addr = reinterpret_cast<uintptr_t>(src) + off;
      sge.length = static_cast<uint32_t>(n);
      sge.lkey = source->mr->lkey;
      wr.sg_list = &sge;
      wr.num_sge = 1;
      if (!firstRef) ctx_.cache().retain(source);
      firstRef = false;
      slot.source = source;
    }
    wr.opcode = IBV_WR_RDMA_WRITE_WITH_IMM;
    wr.imm_data = htonl(imm);
    wr.wr.rdma.remote_addr = target.addr + dstOffset + off;
    wr.wr.rdma.rkey = target.rkey;
    post(qps_[i], wr, slot, cookie != 0);
  }
  return true;
}

bool VerbsPair::sendCtrl(const void* msg, size_t len) {
  checkUsable();
  if (len > Event::kMaxCtrl) {
    fail(shoalInvalidArgument,
         "verbs: rank %d: control message of %zu bytes to peer %d exceeds %zu", ctx_.rank(), len,
         peer_, Event::kMaxCtrl);
  }
  QueuePair& q = qps_[0];
  if (!q.room(1)) return false;
  ibv_sge sge{reinterpret_cast<uintptr_t>(msg), static_cast<uint32_t>(len), 0};
  ibv_send_wr wr{};
  wr.opcode = IBV_WR_SEND;
  wr.send_flags = IBV_SEND_INLINE;  // copied at post: the caller's buffer is free on return
  wr.sg_list = len ? &sge : nullptr;
  wr.num_sge = len ? 1 : 0;
  SendSlot slot;
  slot.ctrl = true;
  post(q, wr, slot, false);
  return true;
}

void VerbsPair::sendCompleted(QueuePair& q, uint64_t seq, bool emit) {
  for (; q.completed <= seq; ++q.completed) {
    SendSlot& slot = q.slots[q.completed % q.depth];
    if (slot.source) ctx_.cache().release(slot.source);
    if (slot.group) {
      auto it = groups_.find(slot.group);
      if (it != groups_.end() && --it->second.remaining == 0) {
        if (emit) {
          Event e{};
          e.kind = Event::kSendDone;
          e.peer = peer_;
          e.cookie = it->second.cookie;
          ctx_.emit(e);
        }
        groups_.erase(it);
      }
    }
    slot = {};
  }
}

void VerbsPair::received(QueuePair& q, bool ctrl, uint32_t imm, const void* payload, uint32_t len) {
  if (q.index == 0) {
    Arrival a{};
    a.ctrl = ctrl;
    a.imm = imm;
    a.len = std::min<uint32_t>(len, sizeof(a.payload));
    if (ctrl && a.len) memcpy(a.payload, payload, a.len);
    arrivals_.push_back(a);
  } else {
    q.stripes.push_back(imm);
  }
  deliver();
}

void VerbsPair::deliver() {
  while (!arrivals_.empty()) {
    const Arrival& a = arrivals_.front();
    Event e{};
    e.peer = peer_;
    if (a.ctrl) {
      e.kind = Event::kCtrl;
      e.len = a.len;
      memcpy(e.payload, a.payload, a.len);
    } else {
      for (size_t i = 1; i < qps_.size(); ++i) {
        if (qps_[i].stripes.empty()) return;  // a stripe still on its way
      }
      for (size_t i = 1; i < qps_.size(); ++i) {
        uint32_t other = qps_[i].stripes.front();
        qps_[i].stripes.pop_front();
        if (other != a.imm && failure_.empty()) {
          ctx_.recordFailure(
              *this, shoalInternalError,
              strprintf("verbs: rank %d: stripes from peer %d out of step (immediate "
                        "0x%x on queue pair 0, 0x%x on queue pair %zu)",
                        ctx_.rank(), peer_, a.imm, other, i));
        }
      }
      e.kind = Event::kWrite;
      e.imm = a.imm;
    }
    ctx_.emit(e);
    arrivals_.pop_front();
  }
}

}  // namespace shoal::transport::verbs
