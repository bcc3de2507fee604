// The connection to one peer: SHOAL_IB_QPS_PER_CONNECTION reliable-connected queue
// pairs. Writes are striped over all of them; control messages use the first.
//
// Striping keeps the one-event-per-write contract without any header: every write
// posts exactly one RDMA-write-with-immediate on each queue pair (a stripe, possibly
// empty), always in the same order. Each queue pair delivers in order, so the k-th
// immediate on every queue pair belongs to the k-th write; the receiver reports the
// write once all its stripes arrived. A control message that arrives behind a
// partly received write on the first queue pair waits for it, preserving the order
// in which the peer sent them.
#pragma once

#include <infiniband/verbs.h>

#include <cstdint>
#include <deque>
#include <string>
#include <unordered_map>
#include <vector>

#include "transports/pair.h"
#include "transports/verbs/handles.h"

namespace shoal::transport::verbs {

class VerbsContext;

// What one posted send work request holds on to until the queue reports it done.
struct SendSlot {
  uint64_t group = 0;          // write with a cookie: its completion group, else 0
  RegEntry* source = nullptr;  // registration referenced by the request
  bool ctrl = false;
};

struct QueuePair {
  QpHandle qp;
  int peer = 0;
  int index = 0;        // within the pair
  uint32_t global = 0;  // index in the context's table (low bits of wr_id)
  uint32_t psn = 0;
  uint32_t depth = 0;
  uint64_t posted = 0;     // send WRs posted so far
  uint64_t completed = 0;  // send WRs known complete (a signaled one completes those before it)
  uint32_t sinceSignal = 0;
  std::vector<SendSlot> slots;   // ring indexed by sequence % depth
  std::deque<uint32_t> stripes;  // immediates that arrived here, not yet matched (index > 0)
  bool room(uint32_t n) const { return posted - completed + n <= depth; }
};

class VerbsPair : public Pair {
 public:
  VerbsPair(VerbsContext& ctx, int peer);
  bool write(const void* src, size_t len, const RemoteKey& dst, size_t dstOffset, uint32_t imm,
             uint64_t cookie) override;
  bool sendCtrl(const void* msg, size_t len) override;

  std::vector<QueuePair>& queuePairs() { return qps_; }
  // A send WR (sequence seq on queue pair q) completed; earlier unsignaled ones with it.
  // emit: report finished cookies (false when flushed by an error).
  void sendCompleted(QueuePair& q, uint64_t seq, bool emit);
  // An immediate arrived on queue pair q; ctrl messages come with their payload.
  void received(QueuePair& q, bool ctrl, uint32_t imm, const void* payload, uint32_t len);
  bool failed() const { return !failure_.empty(); }
  const std::string& failure() const { return failure_; }
  void setFailed(const std::string& why) { failure_ = why; }

 private:
  struct Arrival {
    bool ctrl;
    uint32_t imm;
    uint32_t len;
    uint8_t payload[64];
  };
  void post(QueuePair& q, ibv_send_wr& wr, const SendSlot& slot, bool signal);
  void checkUsable() const;
  void deliver();

  VerbsContext& ctx_;
  std::vector<QueuePair> qps_;
  std::deque<Arrival> arrivals_;  // in order of arrival on queue pair 0
  struct Group {
    uint64_t cookie;
    uint32_t remaining;
  };
  std::unordered_map<uint64_t, Group> groups_;
  uint64_t nextGroup_ = 1;
  std::string failure_;
};

}  // namespace shoal::transport::verbs
