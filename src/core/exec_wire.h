// The executor's own messages: control messages over Pair::sendCtrl (call
// signatures ahead of data, credits handed back) and abort notices over the
// bootstrap mesh. Decoding is pure so fuzz/exec_ctrl_fuzz.cc can feed it
// arbitrary bytes; whatever a peer sends, decoding never reads past the
// message or trusts a string to be terminated.
#pragma once

#include <cstdint>
#include <cstring>
#include <string>

#include "core/executor.h"
#include "transports/context.h"

namespace shoal {

namespace execwire {

enum CtrlType : uint8_t {
  kCtrlCredit = 1,
  kCtrlSignature = 2,
  kCtrlSameSignature = 3,
  kCtrlLanding = 4,
  kCtrlDeviceSlots = 5
};
// Both signature forms may hand back credits (CreditMsg's count) to the
// receiver: sent as a write's note, that costs nothing, and ranks that write
// to each other (every level of recursive doubling) then send no credit
// messages at all. A write with no signature to carry carries a CreditMsg
// as its note instead.
struct SignatureMsg {
  uint8_t type;
  uint8_t pad;
  uint16_t credits;
  uint8_t pad2[4];
  CallSignature sig;
};
static_assert(sizeof(SignatureMsg) <= transport::Event::kMaxCtrl);
// A note that says "the same call as the last signature I sent you, at this
// sequence number": 8 bytes instead of 48, so a small write, its note and the
// mailbox entry's header share one cache line. Sent only where the peer
// received a full signature before, from the same connection.
struct SameSignatureMsg {
  uint8_t type;
  uint8_t pad;
  uint16_t credits;
  uint32_t sequenceLow;
};
struct CreditMsg {
  uint8_t type;
  uint8_t pad[3];
  uint32_t count;
};

// The receiver's answer for one chunk marked Step::land: the address in its
// memory where the chunk may land, or (ok == 0) that it takes the staging
// slot as any other chunk.
struct LandingMsg {
  uint8_t type;
  uint8_t ok;
  uint8_t pad[2];
  uint32_t token;     // ok: the transport's access word for the place (verbs: rkey)
  uint64_t sequence;  // the chunk's message number on this connection
  uint64_t addr;      // ok: where it lands
  uint64_t bytes;     // ok: how much may land there (the chunk's size)
};
static_assert(sizeof(LandingMsg) <= transport::Event::kMaxCtrl);

// This rank's GPU receive slots for the connection, exported by CUDA IPC
// (core/ipc_slots.h). The handle is 64 bytes, as much as a whole control
// message holds, so it travels in two halves, part 0 then part 1; both carry
// where the peer's ring starts in the allocation.
struct DeviceSlotsMsg {
  uint8_t type;
  uint8_t part;  // 0: handle bytes 0-31, 1: bytes 32-63
  uint8_t pad[6];
  uint64_t offset;
  uint8_t half[32];
};
static_assert(sizeof(DeviceSlotsMsg) <= transport::Event::kMaxCtrl);

struct Ctrl {
  enum Kind {
    kMalformed,
    kSignature,
    kSameSignature,
    kCredit,
    kLanding,
    kDeviceSlots
  } kind = kMalformed;
  uint8_t type = 0;      // first byte, for the error message
  uint32_t credits = 0;  // kCredit, and handed back with either signature
  // Each set only for its kind (clearing them all for every message cost
  // more than decoding one).
  uint32_t sequenceLow;  // kSameSignature
  CallSignature sig;     // kSignature
  LandingMsg landing;    // kLanding
  DeviceSlotsMsg slots;  // kDeviceSlots
};

inline Ctrl decodeCtrl(const uint8_t* p, size_t len) {
  Ctrl c;
  c.type = len > 0 ? p[0] : 0;
  if (c.type == kCtrlSignature && len == sizeof(SignatureMsg)) {
    SignatureMsg m;
    memcpy(&m, p, sizeof(m));
    m.sig.algorithm[sizeof(m.sig.algorithm) - 1] = '\0';
    c.sig = m.sig;
    c.credits = m.credits;
    c.kind = Ctrl::kSignature;
  } else if (c.type == kCtrlSameSignature && len == sizeof(SameSignatureMsg)) {
    SameSignatureMsg m;
    memcpy(&m, p, sizeof(m));
    c.sequenceLow = m.sequenceLow;
    c.credits = m.credits;
    c.kind = Ctrl::kSameSignature;
  } else if (c.type == kCtrlLanding && len == sizeof(LandingMsg)) {
    LandingMsg m;
    memcpy(&m, p, sizeof(m));
    // A landing that wraps the address space, or says nothing, is no landing.
    const bool sane = m.ok == 0 || (m.ok == 1 && m.bytes > 0 && m.addr + m.bytes > m.addr);
    if (sane) {
      c.landing = m;
      c.kind = Ctrl::kLanding;
    }
  } else if (c.type == kCtrlDeviceSlots && len == sizeof(DeviceSlotsMsg)) {
    memcpy(&c.slots, p, sizeof(c.slots));
    if (c.slots.part <= 1) c.kind = Ctrl::kDeviceSlots;
  } else if (c.type == kCtrlCredit && len == sizeof(CreditMsg)) {
    CreditMsg m;
    memcpy(&m, p, sizeof(m));
    c.credits = m.count;
    c.kind = Ctrl::kCredit;
  }
  return c;
}

// Whether two signatures name the same call apart from its sequence number.
inline bool sameCall(const CallSignature& a, const CallSignature& b) {
  return a.kind == b.kind && a.dtype == b.dtype && a.op == b.op && a.root == b.root &&
         a.count == b.count && memcmp(a.algorithm, b.algorithm, sizeof(a.algorithm)) == 0;
}

// The full sequence number a kSameSignature note stands for: the first one at
// or after `last` (the previous signature's) whose low 32 bits are `low`.
inline uint64_t widenSequence(uint32_t low, uint64_t last) {
  uint64_t s = (last & ~uint64_t{0xffffffff}) | low;
  return s < last ? s + (uint64_t{1} << 32) : s;
}

// Credits handed back may never exceed the slots the sender holds for us.
inline bool creditsValid(uint32_t count, int held, int slots) {
  return count <= static_cast<uint32_t>(slots) &&
         static_cast<int64_t>(held) + static_cast<int64_t>(count) <= slots;
}

// Landings come in message order, each for a message not yet sent (the
// sender waits for the answer before it sends a marked chunk), and no larger
// than a chunk.
inline bool landingValid(const LandingMsg& m, uint64_t sendSeq, bool havePrev, uint64_t prevSeq,
                         size_t maxBytes) {
  if (m.sequence < sendSeq || (havePrev && m.sequence <= prevSeq)) return false;
  return m.ok == 0 || m.bytes <= maxBytes;
}

constexpr uint32_t kSeqMask = 0x3fffffffu;  // the imm carries the message number, never a pointer
// The imm's top bit: this write landed where the receiver's answer said, not
// in its staging slot.
constexpr uint32_t kLandedBit = 0x80000000u;
// The next bit: the data is in the receiver's GPU slot (ipc_slots.h), put
// there by the sender's copy; the write itself carries no bytes.
constexpr uint32_t kDeviceSlotBit = 0x40000000u;

// A write's imm must fall within the credit window [recvSeq, recvSeq + slots);
// returns how far ahead of recvSeq it is, or -1.
inline int64_t writeAhead(uint32_t imm, uint64_t recvSeq, int slots) {
  uint32_t expectLow = static_cast<uint32_t>(recvSeq) & kSeqMask;
  uint32_t ahead = (imm - expectLow) & kSeqMask;
  return ahead < static_cast<uint32_t>(slots) ? static_cast<int64_t>(ahead) : -1;
}

}  // namespace execwire

// A rank that fails a collective tells every peer why over the bootstrap
// mesh, so survivors name the rank that died rather than the neighbour that
// stopped talking to them.
constexpr uint32_t kTagAbort = 0xab0127u;
struct AbortNotice {
  int32_t origin;    // the rank at fault (dead peer, or the reporter itself)
  int32_t reporter;  // who noticed
  uint64_t sequence;
  int32_t code;  // the reporter's shoalResult_t
  char message[492];
};
static_assert(sizeof(AbortNotice) == 512);

namespace execwire {

// The notice's text, terminated whatever the sender put there.
inline std::string noticeText(const AbortNotice& n) {
  return std::string(n.message, strnlen(n.message, sizeof(n.message)));
}

// The result a notice's receiver returns: a usage error (mismatched calls)
// stays one on every rank, so each reports the same kind of failure whichever
// way it learnt of it; anything else is a remote error. The code comes from
// the network, so it selects between the two and is never returned as is.
inline shoalResult_t noticeResult(const AbortNotice& n) {
  return n.code == static_cast<int32_t>(shoalInvalidUsage) ? shoalInvalidUsage : shoalRemoteError;
}

}  // namespace execwire

}  // namespace shoal
