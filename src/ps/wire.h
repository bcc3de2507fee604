// Control messages between workers and servers, carried by Pair::sendCtrl
// (at most 64 bytes each). Data never travels here: pushes are one-sided
// writes into the server's per-worker slot, pull answers one-sided writes into
// the worker's registered buffer. Everything read from the network is checked
// before use: decodeMsg below checks what a message's bytes alone can tell
// (fuzz/ps_msg_fuzz.cc feeds it anything), the handlers in server.cc and
// worker.cc what needs their state (which slot and buffer belong to whom).
//
// Ordering: the transports deliver a peer's writes and control messages in the
// order it issued them (shm: one mailbox queue per ordered pair; UCX: one
// sequenced queue per peer; verbs: one reliable connection). The protocol
// relies on it: a remote key's fragments precede the message that uses it, a
// pull answer's data precedes its PullReply, a push precedes a later pull.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <string>

#include "shoal/shoal.h"
#include "transports/buffer.h"

namespace shoal::ps {

enum MsgType : uint8_t {
  // worker -> server
  kRegister = 1,     // open a slot for (key, partition)
  kKeyToServer = 2,  // fragment of a worker buffer's remote key (pull destination)
  kPullRequest = 3,
  kForget = 4,  // drop a remote key the worker deregistered
  kBye = 5,     // the worker finished; it sends nothing more
  // server -> worker
  kRegisterReply = 16,
  kKeyToWorker = 17,  // fragment of the slot's remote key
  kPushAck = 18,
  kPullReply = 19,
  kError = 20,
};

constexpr size_t kMaxMsg = 64;
// Pull answers set the top bit of the write's immediate, pushes leave it clear,
// so a rank that is both worker and server tells them apart.
constexpr uint32_t kPullImmBit = 0x80000000u;
constexpr uint32_t kMaxSlotId = 0x7fffffffu;
// Partitions above this are refused: a worker cannot make a server allocate
// without bound (SHOAL_PS_PARTITION_BYTES is far below it).
constexpr uint64_t kMaxPartitionBytes = uint64_t{1} << 31;

struct RegisterMsg {
  uint8_t type;
  uint8_t dtype;
  uint8_t pad[2];
  uint32_t workerSlot;  // the worker's id for this (key, partition)
  uint64_t key;
  uint32_t partition;
  uint32_t pad2;
  uint64_t offset;  // bytes into the tensor
  uint64_t bytes;   // this partition's size
  uint64_t tensorBytes;
};

struct KeyFragMsg {
  static constexpr size_t kData = 56;
  uint8_t type;
  uint8_t index;
  uint8_t count;
  uint8_t len;
  uint32_t keyId;  // worker -> server: buffer id; server -> worker: the worker's slot id
  uint8_t data[kData];
};

struct RegisterReplyMsg {
  uint8_t type;
  uint8_t pad[3];
  uint32_t workerSlot;
  uint32_t serverSlot;  // the immediate of pushes into this slot
  uint32_t pad2;
  uint64_t version;  // the partition's current version
};

struct PullRequestMsg {
  uint8_t type;
  uint8_t pad[3];
  uint32_t serverSlot;
  uint32_t request;  // echoed in the answer's immediate and PullReply
  uint32_t bufferId;
  uint64_t offset;      // into the buffer's registration
  uint64_t minVersion;  // answer once the value reached this version
};

struct PullReplyMsg {
  uint8_t type;
  uint8_t pad[3];
  uint32_t request;
  uint64_t version;
};

struct PushAckMsg {
  uint8_t type;
  uint8_t pad[3];
  uint32_t workerSlot;
  uint64_t version;  // the round this push joined (sync) or the version it made
};

struct ForgetMsg {
  uint8_t type;
  uint8_t pad[3];
  uint32_t bufferId;
};

struct ByeMsg {
  uint8_t type;
  uint8_t pad[7];
};

// A server refusing or giving up: on one slot, or on everything (workerSlot ==
// kAllSlots). culprit: the rank at fault (a dead worker), or -1.
struct ErrorMsg {
  static constexpr uint32_t kAllSlots = 0xffffffffu;
  uint8_t type;
  uint8_t code;  // shoalResult_t
  uint8_t pad[2];
  uint32_t workerSlot;
  int32_t culprit;
  char text[52];
};

static_assert(sizeof(RegisterMsg) <= kMaxMsg && sizeof(KeyFragMsg) == kMaxMsg &&
              sizeof(RegisterReplyMsg) <= kMaxMsg && sizeof(PullRequestMsg) <= kMaxMsg &&
              sizeof(PullReplyMsg) <= kMaxMsg && sizeof(PushAckMsg) <= kMaxMsg &&
              sizeof(ErrorMsg) <= kMaxMsg);

// The rank a message arrived at, for the checks and their wording.
enum class Receiver : uint8_t { kServer, kWorker };

// What the receiving rank knows when it checks a message from a peer.
struct Limits {
  int me = -1;       // the receiving rank, named in errors
  int nranks = 0;    // an ErrorMsg culprit names one of them, or -1
  size_t slots = 0;  // server: slots this peer opened here; worker: slots this worker opened
};

// One control message that passed every check its bytes allow: its length is
// its type's, sizes and offsets fit without overflow, dtype and slot ids are
// in range, ErrorMsg text is terminated and its code a failure code.
struct Msg {
  MsgType type;
  union {
    RegisterMsg reg;
    KeyFragMsg frag;
    PullRequestMsg pull;
    ForgetMsg forget;
    ByeMsg bye;
    RegisterReplyMsg regReply;
    PushAckMsg ack;
    PullReplyMsg pullReply;
    ErrorMsg error;
  };
};

// Decodes len bytes from peer (any len, any bytes): a message of a type meant
// for the other end, of the wrong length or with a field out of range throws
// shoalRemoteError naming the receiving rank, the peer and the message.
Msg decodeMsg(Receiver at, int peer, const uint8_t* bytes, size_t len, const Limits& lim);

// The per-type checks decodeMsg applies (throwing like it). The ErrorMsg one
// repairs what it can instead: an unterminated text is cut, a code that is no
// failure becomes shoalRemoteError, an impossible culprit -1.
void validateRegister(const RegisterMsg& m, int peer, const Limits& lim);
void validateKeyFrag(const KeyFragMsg& f, Receiver at, int peer, const Limits& lim);
void validatePullRequest(const PullRequestMsg& m, int peer, const Limits& lim);
void validateRegisterReply(const RegisterReplyMsg& m, int peer, const Limits& lim);
void validatePushAck(const PushAckMsg& m, int peer, const Limits& lim);
void validatePullReply(const PullReplyMsg& m, int peer, const Limits& lim);
void validateError(ErrorMsg& m, int peer, const Limits& lim);

// A pull answer of `bytes` written at `offset` into a worker buffer of
// bufferSize bytes must fit; throws naming both ranks otherwise.
void checkPullFits(int me, int peer, uint64_t offset, uint64_t bytes, uint64_t bufferSize);

// Remote keys are larger than one control message: they travel as up to four
// fragments, reassembled per (peer, key id).
constexpr size_t kKeyWireMax = 20 + transport::RemoteKey::kMaxBytes;
int keyFragments(const transport::RemoteKey& key, uint8_t type, uint32_t keyId, KeyFragMsg out[4]);

class KeyAssembler {
 public:
  // Takes one fragment. Returns true when the key for frag.keyId is complete
  // (then *key holds it). Throws shoalRemoteError (naming peer) on a
  // malformed fragment.
  bool add(int peer, const KeyFragMsg& frag, transport::RemoteKey* key);

 private:
  struct Partial {
    uint8_t count = 0;
    uint32_t have = 0;  // bit per fragment
    size_t bytes = 0;   // total so far
    uint8_t data[4 * KeyFragMsg::kData] = {};
  };
  std::map<uint32_t, Partial> partial_;
};

}  // namespace shoal::ps
