// Collectives called with a CUDA stream (or on GPU buffers): NCCL's contract,
// the call returns once enqueued and completes in stream order. The caller's
// thread records an event where the inputs are ready and parks the stream
// behind a gate; this communicator's proxy thread waits for the event, runs
// the collective, and opens the gate. Calls run one at a time in the order
// they were made, as every rank must see the same sequence.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <mutex>
#include <string>
#include <thread>

#include "core/deadline.h"
#include "core/schedule.h"
#include "cuda/cuda_api.h"
#include "cuda/stream_gate.h"
#include "shoal/shoal.h"

struct shoalComm;

namespace shoal {

struct StreamCall {
  CollKind kind;
  const void* send;
  void* recv;
  size_t count;
  shoalDataType_t dtype;
  shoalRedOp_t op;
  int root;
  int device;  // CUDA device of the buffers, -1 for host memory
};

class StreamProxy {
 public:
  explicit StreamProxy(shoalComm* comm);
  // Runs what is queued (bounded by the communicator's timeout per call: an
  // aborted or broken communicator fails the rest at once), then stops.
  ~StreamProxy();

  void enqueue(const StreamCall& call, cuda::Stream stream);
  // Waits until every queued call ran, so a host call that follows keeps the
  // program order. Throws shoalTimeout when the deadline passes first.
  void drain(Deadline deadline);
  // How long a parked stream waits at most: the proxy always releases it
  // sooner; this only guards against a host side that vanished.
  double gateSeconds() const;
  // The first failure of a queued call (shoalSuccess if none) and its text.
  shoalResult_t asyncError(std::string* message);

 private:
  struct Item {
    StreamCall call;
    cuda::Event ready;
    uint64_t ticket;
  };
  void loop();
  void runOne(const Item& item);

  shoalComm* comm_;
  cuda::StreamGate gate_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Item> queue_;
  bool busy_ = false;
  bool stop_ = false;
  uint64_t tickets_ = 0;
  shoalResult_t error_ = shoalSuccess;
  std::string errorText_;
  std::thread thread_;
};

}  // namespace shoal
