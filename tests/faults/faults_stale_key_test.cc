// A registration reused after free: a rank deregisters and unmaps memory a
// peer still holds a remote key for, maps new memory (usually at the same
// address), and the peer writes with the stale key. Over UCX, writes up to
// SHOAL_UCX_INLINE_BYTES are copied by the receiver only into memory it has
// registered, so the stale write is refused with an error naming the writer
// and the new memory stays untouched. (shm's cross-memory attach and UCX puts
// write straight into the peer's address space and cannot tell; verbs
// refuses through the NIC's key check, in the rxe guest.)
#include <gtest/gtest.h>
#include <sys/mman.h>

#include <chrono>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "core/bootstrap.h"
#include "transports/context.h"
#include "transports/device.h"
#include "transports/pair.h"
#include "util/multiprocess.h"

namespace shoal::test {
namespace {

constexpr size_t kRegion = 64 << 10;
constexpr size_t kWrite = 1024;  // inline over UCX (SHOAL_UCX_INLINE_BYTES 8K)
constexpr uint32_t kTagKey = 0x5e1, kTagFreed = 0x5e2, kTagDone = 0x5e3;

TEST(FaultsStaleKey, UcxRefusesAWriteThroughAKeyOfFreedMemory) {
  std::string why;
  if (!transportUsable("ucx", &why)) GTEST_SKIP() << "UCX cannot run here: " << why;
  MultiProcessOptions opts;
  opts.timeoutSeconds = 120;
  auto results = runRanks(
      2,
      [](int rank, int n, const shoalUniqueId& id) {
        UniqueIdData data;
        memcpy(&data, id.internal, sizeof(data));
        Deadline deadline = Deadline::after(60);
        auto boot = Bootstrap::create(data, rank, n, deadline);
        auto ctx = transport::findDevice("ucx")->createContext(rank, n);
        ctx->connect(*boot, deadline);
        std::vector<transport::Event> ev(16);
        auto waitFor = [&](transport::Event::Kind kind, double secs) -> transport::Event {
          Deadline d = Deadline::after(secs);
          while (!d.expired()) {
            size_t got = ctx->poll(ev.data(), ev.size());
            for (size_t i = 0; i < got; ++i) {
              if (ev[i].kind == kind) return ev[i];
            }
            std::this_thread::sleep_for(std::chrono::microseconds(100));
          }
          transport::Event none{};
          none.peer = -1;
          return none;
        };
        if (rank == 1) {
          void* mem =
              mmap(nullptr, kRegion, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
          ASSERT_NE(mem, MAP_FAILED);
          auto buf = ctx->registerMemory(mem, kRegion);
          transport::RemoteKey key = buf->key();
          boot->send(0, kTagKey, &key, sizeof(key), deadline);
          // The live key works: the first write lands.
          transport::Event first = waitFor(transport::Event::kWrite, 30);
          ASSERT_EQ(first.peer, 0);
          EXPECT_EQ(static_cast<uint8_t*>(mem)[0], 0x11);
          buf.reset();
          munmap(mem, kRegion);
          void* again =
              mmap(nullptr, kRegion, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
          ASSERT_NE(again, MAP_FAILED);
          memset(again, 0xaa, kRegion);
          int reused = again == mem;
          boot->send(0, kTagFreed, &reused, sizeof(reused), deadline);
          transport::Event err = waitFor(transport::Event::kError, 30);
          EXPECT_EQ(err.peer, 0);
          EXPECT_EQ(err.code, shoalRemoteError);
          std::string msg = err.message;
          EXPECT_NE(msg.find("outside every buffer this rank registered"), std::string::npos)
              << msg;
          EXPECT_NE(msg.find("from peer 0"), std::string::npos) << msg;
          for (size_t i = 0; i < kRegion; ++i) {
            ASSERT_EQ(static_cast<uint8_t*>(again)[i], 0xaa) << "byte " << i << " was overwritten";
          }
          boot->send(0, kTagDone, &reused, sizeof(reused), deadline);
          munmap(again, kRegion);
        } else {
          transport::RemoteKey key{};
          boot->recv(1, kTagKey, &key, sizeof(key), deadline);
          std::vector<uint8_t> src(kWrite, 0x11);
          while (!ctx->pair(1).write(src.data(), kWrite, key, 0, 1, 7))
            ctx->poll(ev.data(), ev.size());
          int reused = 0;
          boot->recv(1, kTagFreed, &reused, sizeof(reused), deadline);
          std::fill(src.begin(), src.end(), 0x22);
          while (!ctx->pair(1).write(src.data(), kWrite, key, 0, 2, 8))
            ctx->poll(ev.data(), ev.size());
          // Keep progressing until the peer has checked its memory.
          Deadline d = Deadline::after(60);
          while (!boot->tryRecv(1, kTagDone, &reused, sizeof(reused)) && !d.expired()) {
            ctx->poll(ev.data(), ev.size());
            std::this_thread::sleep_for(std::chrono::microseconds(200));
          }
          EXPECT_FALSE(d.expired());
        }
        ctx->quiesce();
        ctx.reset();
        boot->close();
      },
      opts);
  expectAllRanksPassed(results);
}

}  // namespace
}  // namespace shoal::test
