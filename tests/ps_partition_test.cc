// The parameter server's pure parts: partitioning covers a tensor exactly and
// spreads it evenly over the servers with a placement that never changes
// (workers compute it independently, so it must be a fixed function), and
// remote keys survive their trip in control-message fragments while malformed
// fragments are refused.
#include <gtest/gtest.h>

#include <cstring>
#include <map>
#include <vector>

#include "core/error.h"
#include "ps/partition.h"
#include "ps/wire.h"

namespace {

using shoal::ps::KeyAssembler;
using shoal::ps::KeyFragMsg;

TEST(PsPartition, CoversTheTensorExactly) {
  for (size_t bytes : {size_t{4}, size_t{12}, size_t{65536}, size_t{200084}, size_t{1} << 26}) {
    for (int servers = 1; servers <= 3; ++servers) {
      auto parts = shoal::ps::partitionTensor(77, bytes, 4, 65536, servers);
      size_t next = 0;
      for (size_t i = 0; i < parts.size(); ++i) {
        EXPECT_EQ(parts[i].index, i);
        EXPECT_EQ(parts[i].offset, next);
        EXPECT_GT(parts[i].bytes, 0u);
        EXPECT_LE(parts[i].bytes, 65536u);
        EXPECT_EQ(parts[i].bytes % 4, 0u);
        EXPECT_GE(parts[i].server, 0);
        EXPECT_LT(parts[i].server, servers);
        next += parts[i].bytes;
      }
      EXPECT_EQ(next, bytes);
      EXPECT_EQ(parts.size(), (bytes + 65535) / 65536);
    }
  }
  // A partition size that is no multiple of the element is rounded down.
  auto odd = shoal::ps::partitionTensor(1, 100 * 8, 8, 60, 2);
  ASSERT_EQ(odd.size(), 15u);
  EXPECT_EQ(odd[0].bytes, 56u);
  EXPECT_EQ(odd.back().bytes, 800u - 14 * 56);
}

TEST(PsPartition, LoadIsEven) {
  // One large tensor: partitions go round-robin, so counts differ by at most one.
  for (int servers = 1; servers <= 5; ++servers) {
    std::map<int, int> count;
    for (const auto& p : shoal::ps::partitionTensor(12345, 64u << 20, 4, 4u << 20, servers))
      ++count[p.server];
    int lo = 1 << 30, hi = 0;
    for (int s = 0; s < servers; ++s) {
      lo = std::min(lo, count[s]);
      hi = std::max(hi, count[s]);
    }
    EXPECT_LE(hi - lo, 1) << servers << " servers";
  }
  // Many one-partition keys (consecutive ids, as frameworks number layers):
  // the hash spreads them within 10% of the mean.
  std::map<int, int> count;
  const int keys = 30000, servers = 3;
  for (int k = 0; k < keys; ++k) ++count[shoal::ps::serverOf(static_cast<uint64_t>(k), 0, servers)];
  for (int s = 0; s < servers; ++s) {
    EXPECT_NEAR(count[s], keys / servers, keys / servers / 10) << "server " << s;
  }
}

TEST(PsPartition, PlacementIsFixed) {
  // Workers and servers built at different times must agree: pin the hash.
  EXPECT_EQ(shoal::ps::mixKey(0), 0xe220a8397b1dcdafull);
  EXPECT_EQ(shoal::ps::mixKey(1), 0x910a2dec89025cc1ull);
  EXPECT_EQ(shoal::ps::serverOf(0, 0, 3), static_cast<int>(0xe220a8397b1dcdafull % 3));
  EXPECT_EQ(shoal::ps::serverOf(1, 2, 3), static_cast<int>((0x910a2dec89025cc1ull % 3 + 2) % 3));
}

TEST(PsWire, RemoteKeysRoundTripInFragments) {
  for (uint32_t len : {0u, 1u, 36u, 37u, 100u, 200u}) {
    shoal::transport::RemoteKey key{};
    key.len = len;
    key.addr = 0x1234567890abcdefull;
    key.size = 1u << 20;
    for (uint32_t i = 0; i < len; ++i) key.bytes[i] = static_cast<uint8_t>(i * 7 + 1);
    KeyFragMsg frags[4];
    int n = shoal::ps::keyFragments(key, shoal::ps::kKeyToServer, 9, frags);
    ASSERT_EQ(n, static_cast<int>((20 + len + KeyFragMsg::kData - 1) / KeyFragMsg::kData));
    KeyAssembler a;
    shoal::transport::RemoteKey out{};
    // Any arrival order assembles the same key.
    for (int i = n - 1; i >= 0; --i) EXPECT_EQ(a.add(3, frags[i], &out), i == 0);
    EXPECT_EQ(out.len, key.len);
    EXPECT_EQ(out.addr, key.addr);
    EXPECT_EQ(out.size, key.size);
    EXPECT_EQ(memcmp(out.bytes, key.bytes, len), 0);
  }
}

TEST(PsWire, MalformedFragmentsAreRefused) {
  shoal::transport::RemoteKey key{};
  key.len = 100;
  KeyFragMsg frags[4];
  int n = shoal::ps::keyFragments(key, shoal::ps::kKeyToServer, 1, frags);
  ASSERT_EQ(n, 3);
  shoal::transport::RemoteKey out;
  {
    KeyAssembler a;
    KeyFragMsg bad = frags[0];
    bad.count = 9;
    EXPECT_THROW(a.add(5, bad, &out), shoal::Error);
  }
  {
    KeyAssembler a;
    KeyFragMsg bad = frags[1];
    bad.len = 10;  // a fragment before the last must be full
    EXPECT_THROW(a.add(5, bad, &out), shoal::Error);
  }
  {
    KeyAssembler a;
    KeyFragMsg bad = frags[0];
    uint32_t huge = 5000;  // the key's own length field lies
    memcpy(bad.data, &huge, 4);
    EXPECT_FALSE(a.add(5, bad, &out));
    EXPECT_FALSE(a.add(5, frags[1], &out));
    try {
      a.add(5, frags[2], &out);
      ADD_FAILURE() << "a key claiming 5000 bytes was accepted";
    } catch (const shoal::Error& e) {
      EXPECT_NE(std::string(e.what()).find("rank 5"), std::string::npos) << e.what();
    }
  }
}

}  // namespace
