// One transport instance for one communicator: the pairs to every peer, memory
// registration, and the event queue that progress drains.
#pragma once

#include <time.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "core/deadline.h"
#include "transports/buffer.h"
#include "transports/pair.h"

namespace shoal {
class Bootstrap;
}

namespace shoal::transport {

struct Event {
  static constexpr size_t kMaxCtrl = 64;
  enum Kind : uint8_t { kWrite, kCtrl, kSendDone, kError };
  Kind kind;
  int peer;
  uint32_t imm;     // kWrite
  uint64_t cookie;  // kSendDone
  uint32_t len;     // kCtrl payload length; kWrite: the note's length (0 without)
  uint8_t payload[kMaxCtrl];
  // kError: a failed completion. message names the peer and the cause (the
  // transport's own status string plus a hint); code is the shoalResult_t.
  int code;
  char message[256];
};

class Context {
 public:
  virtual ~Context() = default;
  virtual const char* name() const = 0;
  int rank() const { return rank_; }
  int size() const { return size_; }

  // Memory owned by the transport that peers may write (staging slots).
  virtual std::unique_ptr<Buffer> allocate(size_t bytes) = 0;
  // Registers caller memory so peers may write into it (zero-copy paths).
  virtual std::unique_ptr<Buffer> registerMemory(void* ptr, size_t bytes) = 0;

  // Collective across ranks: exchanges addressing through the bootstrap and
  // brings every pair up. Called once before pair().
  virtual void connect(Bootstrap& bootstrap, Deadline deadline) = 0;
  virtual Pair& pair(int peer) = 0;

  // Non-blocking progress: fills up to max events, returns how many.
  virtual size_t poll(Event* events, size_t max) = 0;

  // For a rank with nothing to do: blocks for up to maxSeconds, or less when
  // the transport can tell that an event arrived. The default only sleeps.
  virtual void waitForEvents(double maxSeconds) {
    struct timespec ts = {0, static_cast<long>(maxSeconds * 1e9)};
    nanosleep(&ts, nullptr);
  }
  // How long a waiting rank spins and yields before it blocks in
  // waitForEvents: short where an arrival wakes the waiter, long where
  // blocking costs latency.
  virtual double blockAfterSeconds() const { return 2e-3; }
  // Empty polls before a waiting rank starts yielding the CPU: none where
  // the peers it waits for may need this very core.
  virtual int idleSpins() const { return 64; }
  // Whether this node runs more of the communicator's ranks than a rank may
  // use cores (the tuner's shm tree discount depends on it).
  virtual bool ranksOutnumberCores() const { return false; }
  virtual size_t maxCtrlBytes() const { return Event::kMaxCtrl; }
  // Whether a write's source may be reused as soon as Pair::write returns
  // true (the transport copied it): the caller then needs no kSendDone and
  // passes cookie 0.
  virtual bool writesCompleteOnReturn() const { return false; }
  // Largest note Pair::writeWithNote takes; 0 where the transport has none.
  virtual size_t maxNoteBytes() const { return 0; }

  // Whether write() may read GPU memory of CUDA device `cudaDevice` directly
  // and registerMemory() may take it (GPUDirect RDMA on verbs). When false the
  // caller stages device memory through pinned host buffers.
  virtual bool writesFromDevice(int cudaDevice) const { return false; }

  // Direct placement (Step::land): the receiver of a chunk names its final
  // address, and the sender writes there instead of into a staging slot.
  // landsInPlace() is the same for every rank of a transport: it decides
  // whether marked chunks wait for the receiver's answer at all.
  virtual bool landsInPlace() const { return false; }
  // Receiver side: lets peers write `len` bytes at `addr`, memory of this
  // rank, for as long as *hold lives (null where nothing needs holding);
  // *token is what a writer needs besides the address (verbs: the rkey).
  // False: this rank does not (then it answers "use the slot").
  virtual bool grantLanding(void* addr, size_t len, uint32_t* token,
                            std::unique_ptr<Buffer>* hold) {
    return false;
  }
  // Sender side: a key for `len` bytes at `addr` in peer's memory, which the
  // peer named with `token`; false when this rank cannot write there.
  virtual bool landingKey(int peer, uint64_t addr, uint64_t len, uint32_t token,
                          RemoteKey* out) const {
    return false;
  }

  // Stops taking remote operations into this rank's memory, with a bounded
  // wait for what is in flight. Called at destroy before registered buffers
  // are released: a transport whose target side copies incoming data (UCX
  // over TCP or shared memory) must not write into memory already unmapped.
  virtual void quiesce() {}

 protected:
  Context(int rank, int size) : rank_(rank), size_(size) {}
  int rank_;
  int size_;
};

}  // namespace shoal::transport
