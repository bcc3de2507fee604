// Runs a Schedule over a transport. The executor owns the per-peer channels:
// a ring of receive slots in memory the receiver registered, which the sender
// fills with one-sided writes, and credits the receiver hands back as it
// drains slots, so no write ever lands on a slot still in use.
#pragma once

#include <atomic>
#include <memory>
#include <string>
#include <vector>

#include "core/deadline.h"
#include "core/fault_hooks.h"
#include "core/schedule.h"
#include "core/watchdog.h"
#include "transports/context.h"

namespace shoal {

class Bootstrap;
class Error;
class DeviceStaging;
class IpcSlots;
struct AbortNotice;
namespace execwire {
struct Ctrl;
}

struct ExecBuffers {
  const void* send;
  void* recv;
  void* scratch;
  // CUDA device of send/recv/scratch, or -1 for host memory. With a device
  // the local steps run as copies and kernels on the executor's stream and
  // chunks go through pinned staging unless the transport reads GPU memory.
  int device = -1;
};

// What a rank called, as its peers see it: sent ahead of the data on every
// connection a collective uses, so ranks that disagree (a different count,
// type, op, root, collective or algorithm) fail with both calls named instead
// of reading garbage or waiting forever.
struct CallSignature {
  uint8_t kind;  // CollKind
  uint8_t dtype;
  uint8_t op;
  uint8_t pad = 0;
  int32_t root;
  uint64_t count;
  uint64_t sequence;
  char algorithm[16];
};
std::string describe(const CallSignature& sig);

// Identifies the collective in error messages.
struct ExecLabel {
  const char* operation;  // "allreduce"
  uint64_t sequence;      // per-communicator collective number
  const char* algorithm;
  CallSignature signature;
};

class Executor {
 public:
  Executor(transport::Context& ctx, Bootstrap& bootstrap, size_t slotBytes, int slots);
  ~Executor();

  // Allocates the staging slots and exchanges their keys. Collective.
  void connect(Deadline deadline);
  size_t chunkBytes() const { return slotBytes_; }
  // GPU staging for runs on buffers of CUDA device `device`: made here, on
  // the caller's thread, because pinning and allocating memory waits for the
  // whole GPU, including a stream held behind a call this executor runs.
  // Not thread-safe with run(); the stream proxy calls it while idle.
  bool deviceReady(int device) const;
  void prepareDevice(int device) { deviceStaging(device); }
  // CUDA IPC (core/ipc_slots.h): a peer told this rank where its GPU slots
  // are and they are not mapped yet. Mapping them may wait for the GPU like
  // the above, so the stream proxy drains and then calls mapPeerSlots.
  bool peerSlotsToMap() const { return slotsToMap_.load(std::memory_order_acquire); }
  void mapPeerSlots();
  // Peers whose chunks from this rank go GPU to GPU (tests, logs).
  int peersOverIpc() const;
  // Scratch in GPU memory for a run on `device` (stream-ordered, no wait).
  void* deviceScratch(int device, size_t bytes);
  // Test-only fault injection (core/fault_hooks.h).
  void setFaultHooks(const faults::Hooks& hooks) { hooks_ = hooks; }

  // Throws shoal::Error on failure: shoalRemoteError naming the peer when a
  // peer failed or left, shoalTimeout naming the ranks still awaited once the
  // call has waited timeoutSeconds since it first had to wait.
  void run(const Schedule& schedule, const ExecBuffers& bufs, shoalDataType_t dtype,
           shoalRedOp_t op, const ExecLabel& label, double timeoutSeconds,
           const std::atomic<bool>* abortFlag);

 private:
  struct Channel;
  struct Prepared;
  struct RunVectors;
  struct RunState;
  struct Waiter;

  // A signature as sent (control message or note), and in a note the
  // credits appended after it.
  // bytes is left uninitialized: clearing it cost more than the rest of the
  // signature's handling in a small call.
  struct SignatureBytes {
    uint8_t bytes[64];
    size_t len = 0;
    size_t sigLen = 0;     // the signature's part of bytes (0: none)
    uint32_t credits = 0;  // handed back in this note
  };

  const Prepared& prepare(const Schedule& schedule);
  // This call's signature for a peer, as the 8-byte "same call as before"
  // form where allowed and the peer holds the same call's full signature.
  SignatureBytes signatureFor(const Channel& ch, const CallSignature& sig, bool allowShort) const;
  // The note for the next chunk to ch's peer, where the transport has notes
  // (notes): this call's signature where the chunk is the call's first to
  // that peer (withSig), and the credits this rank owes the peer, inside the
  // signature or as a credit message alone. Empty (len 0) when neither.
  SignatureBytes noteFor(const Channel& ch, const CallSignature& sig, bool withSig,
                         bool notes) const;
  // A note or control message from signatureFor/noteFor went: a full
  // signature becomes the base of later short ones, and the credits it
  // carried are no longer owed.
  static void noteSent(Channel& ch, const CallSignature& sig, const SignatureBytes& m);
  // Pair::write, or writeWithNote where `note` holds something.
  bool writeChunk(int peer, const void* src, size_t len, const transport::RemoteKey& dst,
                  size_t dstOffset, uint32_t imm, uint64_t cookie, const SignatureBytes& note);
  // Queues a received signature (full or short) for checking; false when it
  // is neither, short with no full one before it, or one too many unchecked
  // (SignatureQueue::kMax).
  bool signatureReceived(Channel& ch, const execwire::Ctrl& c);
  // Credits a peer handed back (a credit message, or with a signature).
  void takeCredits(RunState& st, Channel& ch, int peer, uint32_t count);

  void runSchedule(const Schedule& schedule, const ExecBuffers& bufs, shoalDataType_t dtype,
                   shoalRedOp_t op, const ExecLabel& label, double timeoutSeconds,
                   const std::atomic<bool>* abortFlag);
  // Runs a schedule flagged Schedule::inOrder (and prepared as such) one
  // step after another: no pass over every peer's queues per event, which
  // is most of a small call's work in the general loop. Same messages on the
  // wire as runSchedule's, so peers may run either.
  void runInOrder(RunState& st, Waiter& w, bool noteSignature);
  // One pass that moved nothing: spin, yield or block, and check the
  // deadline, an abort and the peers when due.
  void idleStep(RunState& st, Waiter& w, bool gpuBusy);
  char* resolve(const ExecBuffers& b, BufRef ref) const;
  void checkPeers(RunState& st);
  // The receive step idx from `peer` is done with its message: its message
  // number and the peer's receive queue move on, dependents may start.
  void receiveDone(RunState& st, int peer, int32_t idx);
  // Checks the oldest signature received from `peer` against this call and
  // counts the peer as matched; the caller knows one is there.
  void checkSignature(RunState& st, int peer);
  [[noreturn]] void failFromNotice(RunState& st, const AbortNotice& notice);
  [[noreturn]] void failFromTransport(RunState& st, const transport::Event& e);
  // A write to `peer` that threw: a peer that went away can make the write
  // itself fail (shm cannot map memory its process no longer has), handled
  // like an error event so the rank really at fault is named if its notice
  // comes. Other errors are rethrown.
  [[noreturn]] void failFromWrite(RunState& st, int peer, const Error& e);
  // Fails from the first abort notice a peer has sent, if any.
  void failOnNotice(RunState& st);
  void broadcastAbort(uint64_t sequence, shoalResult_t code, const char* what);
  void handleEvents(RunState& st);
  void completeStep(RunState& st, int32_t idx);
  // Hands back the credits owed to `peer` once they make a batch (or always
  // with force): a credit message per receive would double the control
  // traffic of small collectives. Owed credits are flushed whenever this rank
  // waits, so a peer never waits on credits a busy rank is sitting on.
  void returnCredit(int peer, bool force);
  [[noreturn]] void failStuck(RunState& st, bool timedOut, int deadPeer);
  // Comma list of the ranks this rank still exchanges data with; per-peer
  // progress appended to *detail.
  std::string waitingFor(RunState& st, std::string* detail) const;
  void faultPoint(RunState& st, int32_t idx);
  DeviceStaging& deviceStaging(int device);

  transport::Context& ctx_;
  Bootstrap& bootstrap_;
  size_t slotBytes_;
  int slots_;
  // slots_ - 1: a message's slot is its sequence number masked (slots_ is a
  // power of two), where a modulo would cost a division per message.
  uint64_t slotMask_ = 0;
  std::vector<std::unique_ptr<Channel>> channels_;
  std::vector<transport::Event> events_;
  int origin_ = -1;  // rank blamed for the current failure
  faults::Hooks hooks_;
  Watchdog watchdog_;                      // SHOAL_WATCHDOG, read when the communicator is built
  std::unique_ptr<DeviceStaging> device_;  // made by the first call on GPU buffers
  std::unique_ptr<IpcSlots> ipc_;          // likewise, where peers share the host
  bool ipcTried_ = false;
  std::atomic<bool> slotsToMap_{false};
  size_t ipcMinBytes_ = 0;        // SHOAL_CUDA_IPC_MIN_BYTES
  std::vector<char> hostBounce_;  // a GPU slot's chunk read by a call on host buffers
  std::vector<std::unique_ptr<Prepared>> prepared_;  // by Schedule::id, most recent first
  std::unique_ptr<Prepared> uncached_;               // reused for schedules without an id
  std::unique_ptr<RunVectors> vectors_;              // the current run's bookkeeping
  uint32_t creditBatch_ = 1;
  bool landing_ = true;  // SHOAL_LANDING: offer peers this rank's buffers for large chunks
  bool inOrder_ = true;  // SHOAL_INORDER: runInOrder where the schedule allows
};

}  // namespace shoal
