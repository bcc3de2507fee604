// The server side: owns the values of the partitions the hash gives it, one
// receive slot per (worker, partition) that the worker writes pushes into,
// aggregation of pushes into rounds (sync) or straight into the value (async,
// ssp), the update rule, and pull answers written into workers' buffers.
// Runs on the node's progress thread only.
#pragma once

#include <atomic>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "core/fault_hooks.h"
#include "ps/links.h"
#include "ps/optimizer.h"
#include "ps/server_gpu.h"
#include "ps/thread_pool.h"
#include "ps/wire.h"
#include "shoal/ps.h"
#include "transports/context.h"

namespace shoal::ps {

struct ServerConfig {
  shoalPsMode_t mode = shoalPsSync;
  int staleness = 2;
  UpdateRule rule;
  int threads = 2;
  // -1: partitions in host memory; else the CUDA device that holds them.
  int cudaDevice = -1;
  double timeoutSeconds = 300;  // of each wait for the GPU
};

class Server {
 public:
  Server(transport::Context& ctx, Links& links, std::vector<int> workerRanks,
         const ServerConfig& config);
  ~Server();

  // Handlers for what workers send. They throw shoal::Error on a malformed
  // message; the caller then treats the sender as failed.
  void onCtrl(int peer, const uint8_t* msg, size_t len);
  void onWrite(int peer, uint32_t imm);
  void onSendDone(uint64_t cookie);
  // A worker's process died or its connection failed (or it broke protocol).
  void onWorkerFailed(int peer, const std::string& why);

  bool isWorker(int rank) const { return workerIndex(rank) >= 0; }
  // Every worker said goodbye or died.
  bool finished() const;
  shoalPsServerStats stats() const;

 private:
  struct Part;
  struct Slot {
    Part* part;
    int worker;  // index among the workers
    uint32_t id;
    uint32_t workerSlot;
    std::unique_ptr<transport::Buffer> buf;
    // GPU server: buf pinned and mapped so kernels read pushes in place
    // (declared after buf: undone before buf is freed).
    std::unique_ptr<GpuStore::Mapping> mapped;
    bool pending = false;      // a push landed and is not accepted yet
    bool contributed = false;  // sync: accepted into the current round
    uint64_t clock = 0;        // pushes accepted
    uint64_t pulls = 0;        // pull requests received
  };
  struct ParkedPull {
    int worker;
    uint32_t request;
    uint32_t bufferId;
    uint64_t offset;
    uint64_t minVersion;
  };
  struct Part {
    uint32_t id;
    uint64_t key;
    uint32_t index;
    uint64_t offset, bytes, tensorBytes;
    shoalDataType_t dtype;
    size_t count;
    std::unique_ptr<transport::Buffer> value;  // registered: the source of pull answers
    // sync: the round being summed. Registered like value, so the sum rule
    // completes a round by swapping the two instead of copying.
    std::unique_ptr<transport::Buffer> accum;
    std::vector<uint64_t> state;          // optimizer state (momentum)
    std::unique_ptr<GpuStore::Part> gpu;  // GPU server: value, accum and state live here
    uint64_t version = 0;
    int inflight = 0;  // pull answers still reading value
    std::vector<Slot*> byWorker;
    std::deque<ParkedPull> parked;
  };
  struct WorkerPeer {
    int rank;
    bool bye = false;
    bool dead = false;
    std::vector<std::unique_ptr<Slot>> slots;
    std::unordered_map<uint32_t, transport::RemoteKey> buffers;
    KeyAssembler keys;
  };

  int workerIndex(int rank) const;
  WorkerPeer& peerOf(int rank);
  bool live(const WorkerPeer& w) const { return !w.dead && !w.bye; }
  void handleRegister(WorkerPeer& w, const RegisterMsg& m);
  void handlePull(WorkerPeer& w, const PullRequestMsg& m);
  void tryAccept(Slot& s);
  void acceptSync(Slot& s);
  bool acceptAsync(Slot& s);
  void maybeCompleteRound(Part& p);
  void retryPending(Part& p);
  bool pullReady(const Part& p, const ParkedPull& q) const;
  void answerPull(Part& p, const ParkedPull& q);
  void answerParked(Part& p);
  void sendError(int rank, uint32_t workerSlot, shoalResult_t code, int culprit,
                 const std::string& text);
  void breakSync(const std::string& why, int culprit);
  void parallel(size_t count, const std::function<void(size_t, size_t)>& fn);

  transport::Context& ctx_;
  Links& links_;
  ServerConfig cfg_;
  // Before the partitions and slots, so it outlives their GPU memory.
  std::unique_ptr<GpuStore> gpu_;
  // The transport reads that GPU's memory: pull answers go out from it.
  bool answersFromDevice_ = false;
  std::vector<WorkerPeer> workers_;
  std::map<std::pair<uint64_t, uint32_t>, std::unique_ptr<Part>> parts_;
  std::vector<Part*> partById_;
  ThreadPool pool_;
  // sync mode only: once a worker died no round can complete again.
  std::string syncBroken_;
  int syncCulprit_ = -1;

  // Test hooks (SHOAL_TEST_*): push and pull phases count per slot.
  faults::Hooks hooks_;

  std::atomic<uint64_t> pushesAccepted_{0}, pullsServed_{0}, rounds_{0};
  std::atomic<int> maxLead_{0}, deadWorkers_{0};
};

}  // namespace shoal::ps
