// The worker side: splits each push/pull into partitions, opens a slot on the
// owning server at a partition's first use (the one exchange of remote keys),
// then pushes by writing straight into that slot and pulls by sending a
// request that names one of its registered buffers, which the server writes
// into. Runs on the node's progress thread only; operations are handed over
// by the API and completed through OpState.
//
// Device memory (CUDA) is staged: a push from a GPU buffer is copied into a
// pinned host buffer partition by partition, each partition sent as soon as
// its copy finished while the next ones still copy; a pull into a GPU buffer
// lands in a pinned buffer and each partition is copied up as it arrives. The
// operation completes once the last copy into the device buffer finished.
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

#include "core/deadline.h"
#include "core/fault_hooks.h"
#include "cuda/cuda_api.h"
#include "ps/links.h"
#include "ps/pinned_staging.h"
#include "ps/wire.h"
#include "shoal/ps.h"
#include "transports/context.h"

namespace shoal::ps {

// What the caller waits on; guarded by the node's mutex.
struct OpState {
  bool done = false;
  shoalResult_t code = shoalSuccess;
  std::string error;
  uint64_t version = 0;
};

enum class OpKind { kPush, kPull, kPushPull, kRegister, kDeregister };
const char* opName(OpKind k);

struct Request {
  OpKind kind;
  uint64_t key = 0;
  const void* src = nullptr;
  void* dst = nullptr;
  size_t count = 0;
  shoalDataType_t dtype = shoalFloat32;
  std::shared_ptr<OpState> state;
};

using CompleteFn = std::function<void(OpState&, shoalResult_t, const std::string&, uint64_t)>;

class Worker {
 public:
  Worker(transport::Context& ctx, Links& links, std::vector<int> serverRanks, size_t partitionBytes,
         shoalPsMode_t mode, double timeoutSeconds, CompleteFn complete);
  ~Worker();

  void submit(const Request& r);
  void onCtrl(int peer, const uint8_t* msg, size_t len);
  void onWrite(int peer, uint32_t imm);
  void onServerFailed(int peer, const std::string& why);
  // Fails operations past their deadline (naming the servers still owing).
  void checkDeadlines();
  bool isServer(int rank) const { return serverIndex(rank) >= 0; }
  // No operation outstanding.
  bool idle() const { return pending_.empty(); }
  // Sends pushes whose staging copy finished and completes pulls whose copy
  // into device memory finished. Returns whether anything moved.
  bool progressDevice();
  void sayBye();
  bool saidBye() const { return bye_; }
  // Servers that still owe this worker an answer (for liveness checks).
  std::set<int> busyServers() const;

 private:
  struct Pending;
  struct PartOp {
    std::shared_ptr<Pending> op;
    bool push;
    const char* src;               // push: this partition's bytes
    uint32_t bufferId;             // pull: registration written into
    uint64_t offset;               // pull: offset in that registration
    cuda::Event staged = nullptr;  // push from device memory: its copy to the host
  };
  struct Slot {
    uint32_t id;
    uint64_t key;
    uint32_t index;
    uint64_t offset, bytes;
    int server;  // rank
    enum State { kNew, kRegistering, kReady, kFailed } state = kNew;
    std::string failure;
    shoalResult_t failCode = shoalSuccess;
    uint32_t serverSlot = 0;
    bool haveKey = false;
    transport::RemoteKey serverKey{};
    uint64_t pushesSent = 0;
    std::shared_ptr<Pending> awaitingAck;
    std::deque<PartOp> queue;
  };
  struct KeyInfo {
    size_t bytes;
    shoalDataType_t dtype;
    std::vector<uint32_t> slots;
  };
  struct Registration {
    uintptr_t base;
    size_t bytes;
    uint32_t id;
    std::unique_ptr<transport::Buffer> buf;
    std::set<int> sentTo;  // server ranks holding its key
  };
  struct PullWait {
    std::shared_ptr<Pending> op;
    uint32_t slot;
    int events = 0;  // the data write and the PullReply
    uint64_t version = 0;
  };
  // A pulled partition on its way from the pinned buffer to device memory.
  struct CopyUp {
    std::shared_ptr<Pending> op;
    int server;
    uint64_t version;
    cuda::Event done;
  };

  int serverIndex(int rank) const;
  Registration& registrationFor(void* ptr, size_t bytes);
  void pump(Slot& s);
  void partDone(const std::shared_ptr<Pending>& op, int server, uint64_t version);
  // A partition's pull answer arrived (data and reply).
  void pullArrived(const std::shared_ptr<Pending>& op, uint32_t slot, int server, uint64_t version);
  // Device buffers of a request: stages them (false: the request failed and
  // was completed).
  bool stageDevice(const Request& r, Pending& op, size_t bytes, const std::vector<uint32_t>& slots);
  void dropRegistration(void* base);
  void partFailed(const std::shared_ptr<Pending>& op, int server, shoalResult_t code,
                  const std::string& why);
  void failSlot(Slot& s, shoalResult_t code, const std::string& why, bool permanent);
  void finish(Pending& op);
  Slot& slotFrom(int peer, uint32_t id, const char* what);

  transport::Context& ctx_;
  Links& links_;
  std::vector<int> servers_;
  size_t partitionBytes_;
  shoalPsMode_t mode_;
  double timeout_;
  CompleteFn complete_;
  std::unordered_map<uint64_t, KeyInfo> keys_;
  std::vector<std::unique_ptr<Slot>> slots_;
  std::map<uintptr_t, Registration> regs_;
  std::vector<Registration> retired_;  // replaced by larger ones; kept until the end
  uint32_t nextBufferId_ = 1;
  std::unordered_map<uint32_t, PullWait> pulls_;
  uint32_t nextRequest_ = 1;
  std::set<std::shared_ptr<Pending>> pending_;
  std::map<int, std::string> deadServers_;    // gone: nothing more is sent to them
  std::map<int, std::string> failedServers_;  // refuse work (dead, or gave up on the job)
  KeyAssembler keyParts_;
  bool bye_ = false;
  // Test hooks (SHOAL_TEST_*): push and pull phases count this worker's operations.
  faults::Hooks hooks_;
  uint64_t operations_ = 0;
  // Created at the first device buffer; destroyed after regs_ is emptied.
  std::unique_ptr<PinnedStaging> staging_;
  std::set<uint32_t> stalled_;  // slots whose next push waits for its staging copy
  std::deque<CopyUp> copiesUp_;
};

}  // namespace shoal::ps
