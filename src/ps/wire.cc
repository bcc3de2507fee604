#include "ps/wire.h"

#include <algorithm>
#include <cstring>

#include "core/dtype_names.h"
#include "core/error.h"

namespace shoal::ps {

static_assert(kKeyWireMax <= 4 * KeyFragMsg::kData);

namespace {

const char* side(Receiver at) { return at == Receiver::kServer ? "server" : "worker"; }
const char* peerRole(Receiver at) { return at == Receiver::kServer ? "worker" : "server"; }

// Fragments come in order of index; all but the last are full.
bool fragShapeOk(const KeyFragMsg& f) {
  return f.count != 0 && f.count <= 4 && f.index < f.count && f.len != 0 &&
         f.len <= KeyFragMsg::kData && (f.index + 1 == f.count || f.len == KeyFragMsg::kData);
}

const char* msgName(uint8_t type) {
  switch (type) {
    case kRegister:
      return "register";
    case kKeyToServer:
    case kKeyToWorker:
      return "remote-key fragment";
    case kPullRequest:
      return "pull request";
    case kForget:
      return "forget";
    case kBye:
      return "bye";
    case kRegisterReply:
      return "registration reply";
    case kPushAck:
      return "push acknowledgement";
    case kPullReply:
      return "pull reply";
    case kError:
      return "error";
    default:
      return nullptr;
  }
}

size_t msgSize(uint8_t type) {
  switch (type) {
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
    default:
      return 0;
  }
}

bool toServer(uint8_t type) {
  return type == kRegister || type == kKeyToServer || type == kPullRequest || type == kForget ||
         type == kBye;
}

// A slot id the receiver's table has room for.
void checkSlot(uint32_t id, const char* what, Receiver at, int peer, const Limits& lim) {
  if (id >= lim.slots) {
    fail(shoalRemoteError, "rank %d: ps %s: %s from %s rank %d names unknown slot %u (%zu open)",
         lim.me, side(at), what, peerRole(at), peer, id, lim.slots);
  }
}

}  // namespace

void validateRegister(const RegisterMsg& m, int peer, const Limits& lim) {
  const size_t es =
      m.dtype < shoalNumTypes ? dtypeSize(static_cast<shoalDataType_t>(m.dtype)) : size_t{0};
  if (es == 0 || m.bytes == 0 || m.bytes > kMaxPartitionBytes || m.offset > m.tensorBytes ||
      m.bytes > m.tensorBytes - m.offset || m.bytes % es != 0 || m.workerSlot > kMaxSlotId) {
    fail(shoalRemoteError,
         "rank %d: ps server: invalid registration from worker rank %d (key %llu partition %u: "
         "type %u, %llu bytes at %llu of %llu, slot %u)",
         lim.me, peer, static_cast<unsigned long long>(m.key), m.partition, m.dtype,
         static_cast<unsigned long long>(m.bytes), static_cast<unsigned long long>(m.offset),
         static_cast<unsigned long long>(m.tensorBytes), m.workerSlot);
  }
}

void validateKeyFrag(const KeyFragMsg& f, Receiver at, int peer, const Limits& lim) {
  if (!fragShapeOk(f)) {
    fail(shoalRemoteError,
         "rank %d: ps %s: malformed remote-key fragment from %s rank %d (index %u of %u, %u "
         "bytes, key %u)",
         lim.me, side(at), peerRole(at), peer, f.index, f.count, f.len, f.keyId);
  }
}

void validatePullRequest(const PullRequestMsg& m, int peer, const Limits& lim) {
  checkSlot(m.serverSlot, "pull request", Receiver::kServer, peer, lim);
  if (m.request > kMaxSlotId) {
    fail(shoalRemoteError, "rank %d: ps server: pull request from worker rank %d has number %u",
         lim.me, peer, m.request);
  }
}

void validateRegisterReply(const RegisterReplyMsg& m, int peer, const Limits& lim) {
  checkSlot(m.workerSlot, "registration reply", Receiver::kWorker, peer, lim);
  if (m.serverSlot > kMaxSlotId) {
    fail(shoalRemoteError,
         "rank %d: ps worker: registration reply from server rank %d gives server slot %u", lim.me,
         peer, m.serverSlot);
  }
}

void validatePushAck(const PushAckMsg& m, int peer, const Limits& lim) {
  checkSlot(m.workerSlot, "push acknowledgement", Receiver::kWorker, peer, lim);
}

void validatePullReply(const PullReplyMsg& m, int peer, const Limits& lim) {
  if (m.request > kMaxSlotId) {
    fail(shoalRemoteError, "rank %d: ps worker: server rank %d answered impossible pull %u", lim.me,
         peer, m.request);
  }
}

void validateError(ErrorMsg& m, int peer, const Limits& lim) {
  if (m.workerSlot != ErrorMsg::kAllSlots)
    checkSlot(m.workerSlot, "error", Receiver::kWorker, peer, lim);
  // The server's own words are worth passing on even when it mangled them.
  m.text[sizeof(m.text) - 1] = '\0';
  if (m.code == shoalSuccess || m.code >= shoalNumResults) m.code = shoalRemoteError;
  if (m.culprit < -1 || m.culprit >= lim.nranks) m.culprit = -1;
}

void checkPullFits(int me, int peer, uint64_t offset, uint64_t bytes, uint64_t bufferSize) {
  if (offset > bufferSize || bytes > bufferSize - offset) {
    fail(shoalRemoteError,
         "rank %d: ps server: pull from worker rank %d: %llu bytes at offset %llu do not fit its "
         "%llu-byte buffer",
         me, peer, static_cast<unsigned long long>(bytes), static_cast<unsigned long long>(offset),
         static_cast<unsigned long long>(bufferSize));
  }
}

Msg decodeMsg(Receiver at, int peer, const uint8_t* bytes, size_t len, const Limits& lim) {
  if (len == 0) {
    fail(shoalRemoteError, "rank %d: ps %s: empty control message from %s rank %d", lim.me,
         side(at), peerRole(at), peer);
  }
  const uint8_t type = bytes[0];
  const char* what = msgName(type);
  if (what == nullptr || toServer(type) != (at == Receiver::kServer)) {
    fail(shoalRemoteError, "rank %d: ps %s: unknown message type %u (%zu bytes) from rank %d",
         lim.me, side(at), type, len, peer);
  }
  if (len != msgSize(type)) {
    fail(shoalRemoteError, "rank %d: ps %s: %s from %s rank %d has %zu bytes, want %zu", lim.me,
         side(at), what, peerRole(at), peer, len, msgSize(type));
  }
  Msg m;
  memset(&m, 0, sizeof(m));
  m.type = static_cast<MsgType>(type);
  switch (type) {
    case kRegister:
      memcpy(&m.reg, bytes, sizeof(m.reg));
      validateRegister(m.reg, peer, lim);
      break;
    case kKeyToServer:
    case kKeyToWorker:
      memcpy(&m.frag, bytes, sizeof(m.frag));
      validateKeyFrag(m.frag, at, peer, lim);
      break;
    case kPullRequest:
      memcpy(&m.pull, bytes, sizeof(m.pull));
      validatePullRequest(m.pull, peer, lim);
      break;
    case kForget:
      memcpy(&m.forget, bytes, sizeof(m.forget));
      break;
    case kBye:
      memcpy(&m.bye, bytes, sizeof(m.bye));
      break;
    case kRegisterReply:
      memcpy(&m.regReply, bytes, sizeof(m.regReply));
      validateRegisterReply(m.regReply, peer, lim);
      break;
    case kPushAck:
      memcpy(&m.ack, bytes, sizeof(m.ack));
      validatePushAck(m.ack, peer, lim);
      break;
    case kPullReply:
      memcpy(&m.pullReply, bytes, sizeof(m.pullReply));
      validatePullReply(m.pullReply, peer, lim);
      break;
    case kError:
      memcpy(&m.error, bytes, sizeof(m.error));
      validateError(m.error, peer, lim);
      break;
  }
  return m;
}

int keyFragments(const transport::RemoteKey& key, uint8_t type, uint32_t keyId, KeyFragMsg out[4]) {
  uint8_t flat[kKeyWireMax];
  uint32_t len = key.len <= transport::RemoteKey::kMaxBytes ? key.len : 0;
  memcpy(flat, &len, 4);
  memcpy(flat + 4, &key.addr, 8);
  memcpy(flat + 12, &key.size, 8);
  memcpy(flat + 20, key.bytes, len);
  size_t total = 20 + len;
  int count = static_cast<int>((total + KeyFragMsg::kData - 1) / KeyFragMsg::kData);
  for (int i = 0; i < count; ++i) {
    size_t off = static_cast<size_t>(i) * KeyFragMsg::kData;
    size_t n = std::min(KeyFragMsg::kData, total - off);
    KeyFragMsg& m = out[i];
    memset(&m, 0, sizeof(m));
    m.type = type;
    m.index = static_cast<uint8_t>(i);
    m.count = static_cast<uint8_t>(count);
    m.len = static_cast<uint8_t>(n);
    m.keyId = keyId;
    memcpy(m.data, flat + off, n);
  }
  return count;
}

bool KeyAssembler::add(int peer, const KeyFragMsg& f, transport::RemoteKey* key) {
  if (!fragShapeOk(f)) {
    fail(shoalRemoteError,
         "ps: malformed remote-key fragment from rank %d (index %u of %u, %u bytes)", peer, f.index,
         f.count, f.len);
  }
  Partial& p = partial_[f.keyId];
  if (p.have != 0 && p.count != f.count) {
    partial_.erase(f.keyId);
    fail(shoalRemoteError, "ps: remote-key fragments from rank %d disagree on their count", peer);
  }
  p.count = f.count;
  p.have |= 1u << f.index;
  memcpy(p.data + static_cast<size_t>(f.index) * KeyFragMsg::kData, f.data, f.len);
  if (f.index + 1 == f.count) p.bytes = static_cast<size_t>(f.index) * KeyFragMsg::kData + f.len;
  if (p.have != (1u << p.count) - 1) return false;
  uint32_t len;
  memcpy(&len, p.data, 4);
  size_t total = p.bytes;
  if (len > transport::RemoteKey::kMaxBytes || total != 20 + static_cast<size_t>(len)) {
    partial_.erase(f.keyId);
    fail(shoalRemoteError, "ps: remote key from rank %d has an invalid length %u (%zu bytes sent)",
         peer, len, total);
  }
  *key = transport::RemoteKey{};
  key->len = len;
  memcpy(&key->addr, p.data + 4, 8);
  memcpy(&key->size, p.data + 12, 8);
  memcpy(key->bytes, p.data + 20, len);
  partial_.erase(f.keyId);
  return true;
}

}  // namespace shoal::ps
