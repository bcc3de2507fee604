// What verbs ranks read from each other (transports/verbs/wire.h), checked
// without an RDMA device: the connect record of connect()'s allgather and a
// buffer's remote key. Valid ones come back exactly; malformed ones are
// refused naming the ranks and the field.
#include <gtest/gtest.h>

#include <cstddef>
#include <cstring>
#include <string>
#include <vector>

#include "core/error.h"
#include "transports/verbs/wire.h"

namespace {

using namespace shoal::transport::verbs;

constexpr int kRanks = 4, kQps = 2, kMe = 1, kPeer = 3;

// Rank kPeer's record as connect() lays it out: queue pair i towards rank r
// is number 0x100 * r + i with PSN 0x1000 + r.
std::vector<uint8_t> record() {
  std::vector<uint8_t> b(addrBlockBytes(kRanks, kQps));
  RankAddr a{};
  a.magic = kAddrMagic;
  a.qpsPerPeer = kQps;
  a.lid = 7;
  a.mtu = 3;
  a.linkLayer = 2;
  for (int i = 0; i < 16; ++i) a.gid[i] = static_cast<uint8_t>(i);
  memcpy(b.data(), &a, sizeof(a));
  for (int r = 0; r < kRanks; ++r) {
    for (int i = 0; i < kQps; ++i) {
      QpAddr q{static_cast<uint32_t>(0x100 * r + i), static_cast<uint32_t>(0x1000 + r)};
      memcpy(b.data() + sizeof(RankAddr) + (r * kQps + i) * sizeof(QpAddr), &q, sizeof(q));
    }
  }
  return b;
}

void expectRefused(const std::vector<uint8_t>& b, shoalResult_t code, const char* mentions) {
  std::vector<QpAddr> toMe;
  try {
    decodeRankAddr(b.data(), b.size(), kMe, kPeer, kRanks, kQps, &toMe);
    ADD_FAILURE() << "accepted a record that should be refused (" << mentions << ")";
  } catch (const shoal::Error& e) {
    EXPECT_EQ(e.code(), code) << e.what();
    std::string w = e.what();
    EXPECT_NE(w.find("rank 1"), std::string::npos) << w;
    EXPECT_NE(w.find("rank 3"), std::string::npos) << w;
    EXPECT_NE(w.find(mentions), std::string::npos) << w;
  }
}

TEST(VerbsWire, ConnectRecordGivesTheQueuePairsMeantForThisRank) {
  auto b = record();
  std::vector<QpAddr> toMe;
  RankAddr a = decodeRankAddr(b.data(), b.size(), kMe, kPeer, kRanks, kQps, &toMe);
  EXPECT_EQ(a.lid, 7);
  EXPECT_EQ(a.mtu, 3);
  EXPECT_EQ(a.linkLayer, 2);
  for (int i = 0; i < 16; ++i) EXPECT_EQ(a.gid[i], i);
  ASSERT_EQ(toMe.size(), static_cast<size_t>(kQps));
  for (int i = 0; i < kQps; ++i) {
    EXPECT_EQ(toMe[i].qpn, static_cast<uint32_t>(0x100 * kMe + i));
    EXPECT_EQ(toMe[i].psn, static_cast<uint32_t>(0x1000 + kMe));
  }
}

TEST(VerbsWire, MalformedConnectRecordsAreRefused) {
  auto b = record();
  b.pop_back();
  expectRefused(b, shoalInvalidUsage, "has 95 bytes, want 96");
  b = record();
  b[0] ^= 1;
  expectRefused(b, shoalInvalidUsage, "magic");
  b = record();
  uint32_t three = 3;
  memcpy(b.data() + offsetof(RankAddr, qpsPerPeer), &three, 4);
  expectRefused(b, shoalInvalidUsage, "SHOAL_IB_QPS_PER_CONNECTION");
  b = record();
  b[offsetof(RankAddr, mtu)] = 0;
  expectRefused(b, shoalRemoteError, "MTU code 0");
  b[offsetof(RankAddr, mtu)] = 6;
  expectRefused(b, shoalRemoteError, "MTU code 6");
  b = record();
  QpAddr wide{0x1000000, 0};  // queue-pair numbers are 24-bit
  memcpy(b.data() + sizeof(RankAddr) + (kMe * kQps + 1) * sizeof(QpAddr), &wide, sizeof(wide));
  expectRefused(b, shoalRemoteError, "queue pair 1 as number 0x1000000");
}

shoal::transport::RemoteKey key(uint64_t addr, uint64_t size) {
  shoal::transport::RemoteKey k;
  WireKey w{addr, 0xabcd};
  k.len = sizeof(w);
  k.addr = addr;
  k.size = size;
  memcpy(k.bytes, &w, sizeof(w));
  return k;
}

TEST(VerbsWire, RemoteKeysAreCheckedBeforeAWriteUsesThem) {
  WireKey w = decodeKey(key(0x7f0000001000, 4096));
  EXPECT_EQ(w.addr, 0x7f0000001000u);
  EXPECT_EQ(w.rkey, 0xabcdu);
  auto k = key(0x1000, 64);
  k.len = 40;
  EXPECT_THROW(decodeKey(k), shoal::Error);
  try {
    decodeKey(key(~uint64_t{0} - 100, 4096));
    ADD_FAILURE() << "a key wrapping around the address space was accepted";
  } catch (const shoal::Error& e) {
    EXPECT_EQ(e.code(), shoalInvalidArgument);
    EXPECT_NE(std::string(e.what()).find("wraps around"), std::string::npos) << e.what();
  }
}

}  // namespace
