// The parameter server's control-message checks (src/ps/wire.h decodeMsg),
// which Server::onCtrl and Worker::onCtrl run before touching their state:
// valid messages come back field for field, malformed ones are refused with
// shoalRemoteError naming the receiving rank and the peer.
#include <gtest/gtest.h>

#include <cstring>
#include <string>
#include <vector>

#include "core/error.h"
#include "ps/wire.h"

namespace {

using shoal::ps::decodeMsg;
using shoal::ps::Limits;
using shoal::ps::Msg;
using shoal::ps::Receiver;

Limits limits() {
  Limits l;
  l.me = 2;
  l.nranks = 4;
  l.slots = 3;
  return l;
}

template <class T>
std::vector<uint8_t> bytesOf(const T& m) {
  std::vector<uint8_t> b(sizeof(m));
  memcpy(b.data(), &m, sizeof(m));
  return b;
}

// The refusal's code and whether it names both ranks.
void expectRefused(Receiver at, const std::vector<uint8_t>& b, const char* mentions) {
  try {
    decodeMsg(at, 3, b.data(), b.size(), limits());
    ADD_FAILURE() << "accepted a message that should be refused (" << mentions << ")";
  } catch (const shoal::Error& e) {
    EXPECT_EQ(e.code(), shoalRemoteError) << e.what();
    std::string w = e.what();
    EXPECT_NE(w.find("rank 2"), std::string::npos) << w;
    EXPECT_NE(w.find("rank 3"), std::string::npos) << w;
    EXPECT_NE(w.find(mentions), std::string::npos) << w;
  }
}

shoal::ps::RegisterMsg registration() {
  shoal::ps::RegisterMsg m{};
  m.type = shoal::ps::kRegister;
  m.dtype = shoalFloat32;
  m.workerSlot = 5;
  m.key = 42;
  m.partition = 1;
  m.offset = 1024;
  m.bytes = 512;
  m.tensorBytes = 4096;
  return m;
}

TEST(PsMsg, ValidMessagesDecodeFieldForField) {
  auto reg = registration();
  Msg m = decodeMsg(Receiver::kServer, 3, bytesOf(reg).data(), sizeof(reg), limits());
  ASSERT_EQ(m.type, shoal::ps::kRegister);
  EXPECT_EQ(memcmp(&m.reg, &reg, sizeof(reg)), 0);

  shoal::ps::PullRequestMsg pull{};
  pull.type = shoal::ps::kPullRequest;
  pull.serverSlot = 2;
  pull.request = 77;
  pull.bufferId = 9;
  pull.offset = 128;
  pull.minVersion = 4;
  m = decodeMsg(Receiver::kServer, 3, bytesOf(pull).data(), sizeof(pull), limits());
  ASSERT_EQ(m.type, shoal::ps::kPullRequest);
  EXPECT_EQ(memcmp(&m.pull, &pull, sizeof(pull)), 0);

  shoal::ps::PushAckMsg ack{};
  ack.type = shoal::ps::kPushAck;
  ack.workerSlot = 2;
  ack.version = 11;
  m = decodeMsg(Receiver::kWorker, 3, bytesOf(ack).data(), sizeof(ack), limits());
  ASSERT_EQ(m.type, shoal::ps::kPushAck);
  EXPECT_EQ(m.ack.workerSlot, 2u);
  EXPECT_EQ(m.ack.version, 11u);

  shoal::ps::ErrorMsg err{};
  err.type = shoal::ps::kError;
  err.code = shoalTimeout;
  err.workerSlot = shoal::ps::ErrorMsg::kAllSlots;
  err.culprit = 1;
  snprintf(err.text, sizeof(err.text), "worker rank 1 died");
  m = decodeMsg(Receiver::kWorker, 3, bytesOf(err).data(), sizeof(err), limits());
  ASSERT_EQ(m.type, shoal::ps::kError);
  EXPECT_EQ(memcmp(&m.error, &err, sizeof(err)), 0);
}

TEST(PsMsg, MalformedMessagesAreRefusedNamingBothRanks) {
  expectRefused(Receiver::kServer, {}, "empty");
  auto reg = bytesOf(registration());
  reg.pop_back();
  expectRefused(Receiver::kServer, reg, "47 bytes, want 48");
  // A worker-bound type sent to a server, and a type nobody knows.
  shoal::ps::PushAckMsg ack{};
  ack.type = shoal::ps::kPushAck;
  expectRefused(Receiver::kServer, bytesOf(ack), "unknown message type 18");
  expectRefused(Receiver::kWorker, std::vector<uint8_t>(16, 0x7f), "unknown message type 127");

  auto r = registration();
  r.offset = ~uint64_t{0} - 100;  // offset + bytes wraps around
  expectRefused(Receiver::kServer, bytesOf(r), "invalid registration");
  r = registration();
  r.dtype = shoalNumTypes;
  expectRefused(Receiver::kServer, bytesOf(r), "invalid registration");
  r = registration();
  r.bytes = 510;  // not a whole number of float32
  expectRefused(Receiver::kServer, bytesOf(r), "invalid registration");
  r = registration();
  r.bytes = r.tensorBytes = shoal::ps::kMaxPartitionBytes + 4;
  r.offset = 0;
  expectRefused(Receiver::kServer, bytesOf(r), "invalid registration");

  shoal::ps::PullRequestMsg pull{};
  pull.type = shoal::ps::kPullRequest;
  pull.serverSlot = 3;  // three slots are open: 0..2
  expectRefused(Receiver::kServer, bytesOf(pull), "unknown slot 3");
  pull.serverSlot = 0;
  pull.request = shoal::ps::kMaxSlotId + 1;
  expectRefused(Receiver::kServer, bytesOf(pull), "number");

  shoal::ps::KeyFragMsg frag{};
  frag.type = shoal::ps::kKeyToWorker;
  frag.count = 2;
  frag.index = 0;
  frag.len = 10;  // a fragment before the last must be full
  expectRefused(Receiver::kWorker, bytesOf(frag), "malformed remote-key fragment");

  shoal::ps::RegisterReplyMsg reply{};
  reply.type = shoal::ps::kRegisterReply;
  reply.workerSlot = 7;
  expectRefused(Receiver::kWorker, bytesOf(reply), "unknown slot 7");
  reply.workerSlot = 0;
  reply.serverSlot = shoal::ps::kMaxSlotId + 1;
  expectRefused(Receiver::kWorker, bytesOf(reply), "server slot");

  shoal::ps::ErrorMsg err{};
  err.type = shoal::ps::kError;
  err.workerSlot = 3;
  expectRefused(Receiver::kWorker, bytesOf(err), "unknown slot 3");
}

TEST(PsMsg, ErrorMessagesAreRepairedNotDropped) {
  shoal::ps::ErrorMsg err{};
  err.type = shoal::ps::kError;
  err.code = 200;
  err.workerSlot = 1;
  err.culprit = 9;  // four ranks: no such culprit
  memset(err.text, 'x', sizeof(err.text));
  Msg m = decodeMsg(Receiver::kWorker, 3, bytesOf(err).data(), sizeof(err), limits());
  ASSERT_EQ(m.type, shoal::ps::kError);
  EXPECT_EQ(m.error.code, shoalRemoteError);
  EXPECT_EQ(m.error.culprit, -1);
  EXPECT_EQ(m.error.workerSlot, 1u);
  EXPECT_EQ(std::string(m.error.text), std::string(sizeof(err.text) - 1, 'x'));
  err.code = shoalSuccess;
  m = decodeMsg(Receiver::kWorker, 3, bytesOf(err).data(), sizeof(err), limits());
  EXPECT_EQ(m.error.code, shoalRemoteError);
}

}  // namespace
