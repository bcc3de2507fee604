// A registration reused after free: a rank deregisters and unmaps memory a
// peer still holds a remote key for, maps new memory (usually at the same
// address), and the peer writes with the stale key. Over UCX (writes up to
// SHOAL_UCX_INLINE_BYTES) and shm (writes up to 104 bytes, carried in the
// mailbox entry) the receiver copies small writes itself and only into memory
// it has registered, so the stale write is refused with an error naming the
// writer and the new memory stays untouched. (Larger writes go straight into
// the peer's address space over shm's cross-memory attach and UCX puts and
// cannot be told apart; verbs refuses through the NIC's key check, in the
// rxe guest.)
#include <gtest/gtest.h>
#include <sys/mman.h>

#include <cstring>
#include <string>
#include <vector>

#include "transports/pair.h"
#include "util/two_rank_context.h"

namespace shoal::test {
namespace {

constexpr size_t kRegion = 64 << 10;
constexpr uint32_t kTagKey = 0x5e1, kTagFreed = 0x5e2, kTagDone = 0x5e3;

struct StaleCase {
  const char* transport;
  size_t write;  // bytes: small enough for the receiver to copy
};

class FaultsStaleKey : public ::testing::TestWithParam<StaleCase> {};

TEST_P(FaultsStaleKey, RefusesAWriteThroughAKeyOfFreedMemory) {
  const StaleCase c = GetParam();
  std::string why;
  if (!transportUsable(c.transport, &why))
    GTEST_SKIP() << c.transport << " cannot run here: " << why;
  runTwoRankContexts(c.transport, [&](int rank, transport::Context& ctx, Bootstrap& boot,
                                      Deadline deadline) {
    std::vector<transport::Event> ev(16);
    if (rank == 1) {
      void* mem =
          mmap(nullptr, kRegion, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
      ASSERT_NE(mem, MAP_FAILED);
      auto buf = ctx.registerMemory(mem, kRegion);
      transport::RemoteKey key = buf->key();
      boot.send(0, kTagKey, &key, sizeof(key), deadline);
      // The live key works: the first write lands.
      transport::Event first = waitForEvent(ctx, transport::Event::kWrite, deadline);
      ASSERT_EQ(first.peer, 0);
      for (size_t i = 0; i < c.write; ++i) ASSERT_EQ(static_cast<uint8_t*>(mem)[i], 0x11);
      buf.reset();
      munmap(mem, kRegion);
      void* again =
          mmap(nullptr, kRegion, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
      ASSERT_NE(again, MAP_FAILED);
      memset(again, 0xaa, kRegion);
      int reused = again == mem;
      boot.send(0, kTagFreed, &reused, sizeof(reused), deadline);
      transport::Event err = waitForEvent(ctx, transport::Event::kError, deadline);
      EXPECT_EQ(err.peer, 0);
      EXPECT_EQ(err.code, shoalRemoteError);
      std::string msg = err.message;
      EXPECT_NE(msg.find("outside every buffer this rank registered"), std::string::npos) << msg;
      EXPECT_NE(msg.find("from peer 0"), std::string::npos) << msg;
      for (size_t i = 0; i < kRegion; ++i)
        ASSERT_EQ(static_cast<uint8_t*>(again)[i], 0xaa) << "byte " << i << " was overwritten";
      boot.send(0, kTagDone, &reused, sizeof(reused), deadline);
      munmap(again, kRegion);
    } else {
      transport::RemoteKey key{};
      boot.recv(1, kTagKey, &key, sizeof(key), deadline);
      std::vector<uint8_t> src(c.write, 0x11);
      while (!ctx.pair(1).write(src.data(), c.write, key, 0, 1, 7)) ctx.poll(ev.data(), ev.size());
      int reused = 0;
      boot.recv(1, kTagFreed, &reused, sizeof(reused), deadline);
      std::fill(src.begin(), src.end(), 0x22);
      while (!ctx.pair(1).write(src.data(), c.write, key, 0, 2, 8)) ctx.poll(ev.data(), ev.size());
      // Keep progressing until the peer has checked its memory.
      while (!boot.tryRecv(1, kTagDone, &reused, sizeof(reused)) && !deadline.expired())
        ctx.poll(ev.data(), ev.size());
      EXPECT_FALSE(deadline.expired());
    }
  });
}

INSTANTIATE_TEST_SUITE_P(Transports, FaultsStaleKey,
                         ::testing::Values(StaleCase{"ucx", 1024}, StaleCase{"shm", 64}),
                         [](const ::testing::TestParamInfo<StaleCase>& p) {
                           return std::string(p.param.transport);
                         });

}  // namespace
}  // namespace shoal::test
