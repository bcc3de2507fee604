// Every parameter-server control message (src/ps/wire.h) as a peer could send
// it, through decodeMsg: the checks Server::onCtrl and Worker::onCtrl run
// before they touch their state. Whatever it accepts must be safe to use as
// those handlers use it; whatever it refuses must be a shoalRemoteError.
//
// Input: one byte choosing the receiving side, the rank count and the peer;
// one byte for the number of open slots; then messages, each one length byte
// (0..80, so lengths past the 64-byte maximum occur) and that many bytes
// (fewer at the end of the input).
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "core/dtype_names.h"
#include "core/error.h"
#include "ps/wire.h"

using namespace shoal;
using namespace shoal::ps;

namespace {

// The sizes written out again on purpose, rather than wire.cc's msgSize: an
// oracle that shares the code under test would agree with its mistakes.
size_t wantSize(MsgType t) {
  switch (t) {
    case kRegister:
      return sizeof(RegisterMsg);
    case kKeyToServer:
    case kKeyToWorker:
      return sizeof(KeyFragMsg);
    case kPullRequest:
      return sizeof(PullRequestMsg);
    case kForget:
      return sizeof(ForgetMsg);
    case kBye:
      return sizeof(ByeMsg);
    case kRegisterReply:
      return sizeof(RegisterReplyMsg);
    case kPushAck:
      return sizeof(PushAckMsg);
    case kPullReply:
      return sizeof(PullReplyMsg);
    case kError:
      return sizeof(ErrorMsg);
  }
  abort();  // decodeMsg returned a type that does not exist
}

bool serverBound(MsgType t) {
  return t == kRegister || t == kKeyToServer || t == kPullRequest || t == kForget || t == kBye;
}

// What the handlers do with an accepted message, reduced to the uses that
// could go out of bounds or overflow.
void checkAccepted(const Msg& m, Receiver at, size_t len, const Limits& lim) {
  if (serverBound(m.type) != (at == Receiver::kServer)) abort();
  if (len != wantSize(m.type)) abort();
  switch (m.type) {
    case kRegister: {
      const RegisterMsg& r = m.reg;
      if (r.dtype >= shoalNumTypes) abort();
      const size_t es = dtypeSize(static_cast<shoalDataType_t>(r.dtype));
      uint64_t end;
      if (es == 0 || r.bytes == 0 || r.bytes > kMaxPartitionBytes || r.bytes % es != 0 ||
          __builtin_add_overflow(r.offset, r.bytes, &end) || end > r.tensorBytes ||
          r.workerSlot > kMaxSlotId) {
        abort();
      }
      // The optimizer state the server sizes from it.
      if ((r.bytes + 7) / 8 * 8 < r.bytes) abort();
      break;
    }
    case kKeyToServer:
    case kKeyToWorker: {
      const KeyFragMsg& f = m.frag;
      // KeyAssembler copies the fragment to index * kData in a 4-fragment buffer.
      if (f.count == 0 || f.count > 4 || f.index >= f.count || f.len == 0 ||
          static_cast<size_t>(f.index) * KeyFragMsg::kData + f.len > 4 * KeyFragMsg::kData) {
        abort();
      }
      break;
    }
    case kPullRequest:
      if (m.pull.serverSlot >= lim.slots || m.pull.request > kMaxSlotId) abort();
      break;
    case kRegisterReply:
      if (m.regReply.workerSlot >= lim.slots || m.regReply.serverSlot > kMaxSlotId) abort();
      break;
    case kPushAck:
      if (m.ack.workerSlot >= lim.slots) abort();
      break;
    case kPullReply:
      if (m.pullReply.request > kMaxSlotId) abort();
      break;
    case kError: {
      const ErrorMsg& e = m.error;
      if (strnlen(e.text, sizeof(e.text)) >= sizeof(e.text)) abort();
      if (e.code == shoalSuccess || e.code >= shoalNumResults) abort();
      if (e.culprit < -1 || e.culprit >= lim.nranks) abort();
      if (e.workerSlot != ErrorMsg::kAllSlots && e.workerSlot >= lim.slots) abort();
      break;
    }
    case kForget:
    case kBye:
      break;
  }
}

}  // namespace

// Refusals are the common case here; logging each would cost most of the run.
// The log reads SHOAL_DEBUG while static objects are built, so this runs
// before them (a prioritized constructor).
__attribute__((constructor(101))) static void quietLog() { setenv("SHOAL_DEBUG", "NONE", 0); }

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 2) return 0;
  const Receiver at = (data[0] & 1) ? Receiver::kWorker : Receiver::kServer;
  Limits lim;
  lim.nranks = 2 + (data[0] >> 1) % 63;
  lim.me = 0;
  const int peer = 1 + (data[0] >> 1) % (lim.nranks - 1);
  lim.slots = data[1];
  KeyAssembler keys;
  size_t off = 2;
  while (off < size) {
    size_t len = std::min<size_t>(data[off] % 81, size - off - 1);
    ++off;
    // An exact-size copy, so the address sanitizer sees any read past len.
    std::vector<uint8_t> msg(data + off, data + off + len);
    off += len;
    try {
      Msg m = decodeMsg(at, peer, msg.data(), len, lim);
      checkAccepted(m, at, len, lim);
      if (m.type == kKeyToServer || m.type == kKeyToWorker) {
        transport::RemoteKey key{};
        if (keys.add(peer, m.frag, &key) && key.len > transport::RemoteKey::kMaxBytes) abort();
      }
    } catch (const Error& e) {
      if (e.code() != shoalRemoteError) abort();
    }
  }
  return 0;
}
