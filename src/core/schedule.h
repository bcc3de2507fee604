// A collective as data: per rank, a list of steps (send a chunk to a peer,
// receive one and copy or reduce it, local copies) with dependencies between
// them. Algorithms produce schedules and never touch a transport; the
// executor runs a schedule over any transport, and the simulator runs the same
// schedule in virtual time.
//
// Matching rule: the i-th Send from rank a to rank b is received by the i-th
// Recv/RecvReduce for peer a in b's schedule, and both carry the same bytes.
// Sends to one peer are issued in schedule order, and so are receives.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "shoal/shoal.h"

namespace shoal {

enum class BufId : uint8_t { kSend, kRecv, kScratch };

struct BufRef {
  BufId buf;
  size_t offset;  // bytes
};

enum class StepKind : uint8_t {
  kSend,        // bytes from src to peer
  kRecv,        // bytes from peer into dst
  kRecvReduce,  // dst = src (op) incoming, count = bytes / dtype size
  kCopy,        // dst = src, local
  kAvg,         // dst /= nranks, local (the last step of shoalAvg)
};

struct Step {
  StepKind kind;
  int peer = -1;
  BufRef dst{BufId::kRecv, 0};
  BufRef src{BufId::kSend, 0};
  size_t bytes = 0;
  // Indices of earlier steps that must complete first; -1 for none.
  int32_t dep[2] = {-1, -1};
  // Set on a Send and on the Recv that matches it (never on a RecvReduce),
  // both sides alike: the receiver may offer the chunk's final place, so it
  // arrives there instead of in a staging slot and is not copied again. The
  // sender then waits for the receiver's answer, which comes once the Recv's
  // dependencies are met: only mark pairs whose Recv does not depend on
  // anything the sender does after this Send. Transports without direct
  // placement ignore it.
  bool land = false;
};

// Chunks from this size on are worth a control message to place directly:
// the copy it saves costs microseconds, the message a fraction of one.
constexpr size_t kLandMinBytes = size_t{64} << 10;
// Marks one side of a plain transfer for landing where its chunk is that large.
inline void markLanding(Step& s) { s.land = s.bytes >= kLandMinBytes; }

struct Schedule {
  std::vector<Step> steps;
  size_t scratchBytes = 0;
  std::string algorithm;
  // Nonzero and unique in the process for a schedule that is kept and run
  // again unchanged (a communicator's plan): the executor then keeps what it
  // works out from the steps. Whoever changes steps must reset it to 0.
  uint64_t id = 0;
  // Set by an algorithm whose every rank may run its steps strictly in list
  // order, each finished before the next starts, without deadlock: each
  // receive's matching send comes, at the sending rank, before any step that
  // waits on the receiving rank's later steps (rounds of "send, then receive"
  // as in recursive doubling). The executor then runs it step by step where
  // the call allows (host memory, few enough chunks per peer).
  bool inOrder = false;

  int32_t add(const Step& s) {
    steps.push_back(s);
    return static_cast<int32_t>(steps.size() - 1);
  }
};

enum class CollKind : uint8_t {
  kAllReduce,
  kReduceScatter,
  kAllGather,
  kBroadcast,
  kReduce,
  kBarrier
};
// "allreduce", "reducescatter", ... (NCCL's SHOAL_ALGO keys). Inline: every
// call names its collective.
inline const char* collName(CollKind kind) {
  switch (kind) {
    case CollKind::kAllReduce:
      return "allreduce";
    case CollKind::kReduceScatter:
      return "reducescatter";
    case CollKind::kAllGather:
      return "allgather";
    case CollKind::kBroadcast:
      return "broadcast";
    case CollKind::kReduce:
      return "reduce";
    case CollKind::kBarrier:
      return "barrier";
  }
  return "unknown";
}

// What an algorithm needs to know to plan one rank's part of a collective.
// count is NCCL's: per-rank elements for allreduce/broadcast/reduce, the
// per-rank block for reducescatter (recvcount) and allgather (sendcount).
struct CollArgs {
  CollKind kind;
  int rank;
  int nranks;
  size_t count;
  shoalDataType_t dtype;
  shoalRedOp_t op;
  int root = 0;
  bool inPlace;
  size_t chunkBytes;  // largest message the executor accepts (staging slot)
  // Host identity per rank (for hierarchical algorithms); empty when unknown.
  const std::vector<std::string>* hosts = nullptr;
};

}  // namespace shoal
