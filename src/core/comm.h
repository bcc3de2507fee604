// The communicator behind the opaque shoalComm_t.
#pragma once

#include <atomic>
#include <list>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <tuple>
#include <vector>

#include "core/bootstrap.h"
#include "core/config.h"
#include "core/executor.h"
#include "core/schedule.h"
#include "cuda/cuda_api.h"
#include "shoal/shoal.h"
#include "transports/context.h"

namespace shoal {
struct TunerState;
class StreamProxy;
}  // namespace shoal

struct shoalComm {
  int rank = -1;
  int size = 0;
  std::unique_ptr<shoal::Bootstrap> bootstrap;
  std::unique_ptr<shoal::transport::Context> transport;
  std::unique_ptr<shoal::Executor> executor;
  std::atomic<bool> aborted{false};
  // Set by the call running on this communicator (taken under the C API's
  // live-set lock, released with a plain store), so shoalCommAbort from
  // another thread waits for that call to leave before freeing anything.
  std::atomic<bool> inCall{false};
  // Cleared by the C API when the communicator is destroyed, before it waits
  // for a running call; read by the C API's lock-free claim.
  std::atomic<bool> live{true};
  // After a failed collective the communicator refuses further work: peers
  // may be mid-protocol, and reusing the channels could corrupt data.
  std::string brokenReason;
  std::string lastError;
  std::string lastAlgorithm = "none";
  uint64_t lastAlgorithmPlan = 0;  // Schedule::id of the plan it names
  uint64_t sequence = 0;
  double timeoutSeconds = 300;
  std::vector<std::string> hosts;            // host identity per rank
  std::shared_ptr<shoal::TunerState> tuner;  // automatic algorithm choice (core/tuner.cc)

  // Recently used schedules, keyed by everything that shapes them (the
  // algorithm by its registry entry), with the call signature they carry.
  struct Plan {
    shoal::Schedule schedule;
    shoal::CallSignature signature;
  };
  // kind, count, dtype, op, root, in place
  using CallShape = std::tuple<int, size_t, int, int, int, bool>;
  using PlanKey = std::pair<CallShape, const void*>;
  std::map<PlanKey, Plan> plans;
  std::list<PlanKey> planOrder;
  // A training loop repeats the same call: when the shape is the last
  // call's, its plan is reused without choosing again. Dropped when
  // SHOAL_ALGO changes or the plan is evicted.
  CallShape lastShape{-1, 0, 0, 0, 0, false};
  const Plan* lastPlan = nullptr;
  shoal::config::EnvWatch algoEnv{"SHOAL_ALGO"};
  std::vector<char> scratch;  // host scratch reused across calls (bounded)

  // Stream-ordered calls (core/stream_proxy.h), made by the first one.
  std::unique_ptr<shoal::StreamProxy> streams;

  shoalComm();
  ~shoalComm();
  // Frees everything a destroyed communicator still holds, leaving an empty
  // shell whose memory the C API keeps for a while (see c_api.cc).
  void release();
};

namespace shoal {

// Builds a communicator (bootstrap, transport choice, channels). Throws.
std::unique_ptr<shoalComm> commCreate(const UniqueIdData& id, int nranks, int rank);
// Plans and runs one collective (NCCL's buffer conventions). Throws; marks
// the communicator broken on errors that leave peers mid-protocol.
// device: the CUDA device of send/recv, -1 for host memory.
void commCollective(shoalComm* comm, CollKind kind, const void* send, void* recv, size_t count,
                    shoalDataType_t dtype, shoalRedOp_t op, int root, int device = -1);
// A one-rank communicator's call on GPU buffers with (or without) a stream:
// at most one copy enqueued on the caller's stream, as NCCL does, with no
// proxy thread or gate. Plans like any call (shoalCommLastAlgorithm).
void commSingleRankOnStream(shoalComm* comm, CollKind kind, const void* send, void* recv,
                            size_t count, shoalDataType_t dtype, shoalRedOp_t op, int root,
                            int device, cuda::Stream stream);
void commDestroy(shoalComm* comm);

}  // namespace shoal
