// The verbs transport on its own (no collectives): writes of many sizes into
// transport-allocated and user-registered memory with every byte checked, the
// immediate arriving only after its data, control messages in order, the
// registration cache after memory is freed and reused, and failures (a bad rkey, a
// killed peer) turned into kError events that name the peer and the verbs status.
// Needs an active RDMA port: skips on machines without one (the Soft-RoCE guest
// suites in tests/rxe run it).
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/mman.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "core/bootstrap.h"
#include "core/error.h"
#include "transports/device.h"
#include "util/multiprocess.h"

namespace {

using shoal::Deadline;
using shoal::transport::Buffer;
using shoal::transport::Context;
using shoal::transport::Event;
using shoal::transport::RemoteKey;

constexpr double kStepSeconds = 120;  // generous: the guests run under software emulation
// ibv_wc_status_str() of IBV_WC_REM_ACCESS_ERR and IBV_WC_RETRY_EXC_ERR.
constexpr const char* kRemoteAccessStatus = "remote access error";
constexpr const char* kRetryExceededStatus = "transport retry counter exceeded";

// Empty when the verbs transport can run here, else why not.
std::string verbsMissing() {
  auto* dev = shoal::transport::findDevice("verbs");
  if (dev == nullptr) return "verbs transport not built into this shoal";
  std::string why;
  return dev->usable(&why) ? "" : "no active RDMA device: " + why;
}
#define SKIP_UNLESS_VERBS()                        \
  do {                                             \
    std::string missing = verbsMissing();          \
    if (!missing.empty()) GTEST_SKIP() << missing; \
  } while (0)

// One rank's bootstrap and connected verbs context.
struct Rank {
  std::unique_ptr<shoal::Bootstrap> bootstrap;
  std::unique_ptr<Context> ctx;
  std::deque<Event> stash;  // events polled while waiting for another

  Rank(int rank, int n, const shoalUniqueId& id) {
    shoal::UniqueIdData data;
    memcpy(&data, id.internal, sizeof(data));
    Deadline deadline = Deadline::after(kStepSeconds);
    bootstrap = shoal::Bootstrap::create(data, rank, n, deadline);
    ctx = shoal::transport::findDevice("verbs")->createContext(rank, n);
    ctx->connect(*bootstrap, deadline);
  }

  // Polls until an event matching `want`; others are kept for later waits. A kError
  // that `want` does not accept throws (the rank then fails with its message).
  Event waitFor(const std::function<bool(const Event&)>& want, double seconds = kStepSeconds) {
    for (auto it = stash.begin(); it != stash.end(); ++it) {
      if (want(*it)) {
        Event e = *it;
        stash.erase(it);
        return e;
      }
    }
    Deadline deadline = Deadline::after(seconds);
    Event batch[16];
    while (!deadline.expired()) {
      size_t n = ctx->poll(batch, 16);
      std::optional<Event> found;
      for (size_t i = 0; i < n; ++i) {
        if (!found && want(batch[i])) {
          found = batch[i];
        } else if (batch[i].kind == Event::kError) {
          throw std::runtime_error(std::string("unexpected transport error: ") + batch[i].message);
        } else {
          stash.push_back(batch[i]);
        }
      }
      if (found) return *found;
    }
    throw std::runtime_error("timed out waiting for a transport event");
  }
  Event waitWrite(int peer, uint32_t imm) {
    return waitFor(
        [&](const Event& e) { return e.kind == Event::kWrite && e.peer == peer && e.imm == imm; });
  }
  void waitSendDone(uint64_t cookie) {
    waitFor([&](const Event& e) { return e.kind == Event::kSendDone && e.cookie == cookie; });
  }
  // Posts a write, polling while the send queue is full.
  void write(int peer, const void* src, size_t len, const RemoteKey& key, size_t off, uint32_t imm,
             uint64_t cookie) {
    Deadline deadline = Deadline::after(kStepSeconds);
    while (!ctx->pair(peer).write(src, len, key, off, imm, cookie)) {
      if (deadline.expired()) throw std::runtime_error("send queue stayed full");
      Event batch[16];
      size_t n = ctx->poll(batch, 16);
      for (size_t i = 0; i < n; ++i) {
        if (batch[i].kind == Event::kError) throw std::runtime_error(batch[i].message);
        stash.push_back(batch[i]);
      }
    }
  }
  std::vector<RemoteKey> exchange(const RemoteKey& mine) {
    std::vector<RemoteKey> all(ctx->size());
    bootstrap->allgather(&mine, all.data(), sizeof(RemoteKey), Deadline::after(kStepSeconds));
    return all;
  }
  void barrier() { bootstrap->barrier(Deadline::after(kStepSeconds)); }
};

uint8_t pattern(int src, uint32_t seq, size_t i) {
  uint64_t x =
      (i + 1) * 0x9e3779b97f4a7c15ull ^ (static_cast<uint64_t>(seq) << 32) ^ (src * 0x632be5ab);
  return static_cast<uint8_t>(x >> 56);
}

void fill(void* dst, size_t len, int src, uint32_t seq) {
  auto* p = static_cast<uint8_t*>(dst);
  for (size_t i = 0; i < len; ++i) p[i] = pattern(src, seq, i);
}

// "" when [p, p+len) holds the pattern, else where it first differs.
std::string check(const void* p, size_t len, int src, uint32_t seq) {
  const auto* b = static_cast<const uint8_t*>(p);
  for (size_t i = 0; i < len; ++i) {
    if (b[i] != pattern(src, seq, i)) {
      return "byte " + std::to_string(i) + " of " + std::to_string(len) + " is " +
             std::to_string(b[i]) + ", want " + std::to_string(pattern(src, seq, i));
    }
  }
  return "";
}

class VerbsStriping : public testing::TestWithParam<int> {};

// Each rank writes to the next rank and to itself: sizes from 0 bytes to a few MiB,
// at an odd offset, from allocated and from plain heap memory, into an allocated and
// into a registered region. Bytes around the target must stay untouched.
TEST_P(VerbsStriping, WritesOfEverySizeLandExactly) {
  SKIP_UNLESS_VERBS();
  const std::vector<size_t> sizes = {
      0, 1, 7, 63, 64, 65, 4095, 4096, 4097, 65536 + 3, (1u << 20) + 5};
  const size_t maxLen = sizes.back();
  const size_t off = 3;
  shoal::test::MultiProcessOptions opts;
  opts.env["SHOAL_IB_QPS_PER_CONNECTION"] = std::to_string(GetParam());
  auto results = shoal::test::runRanks(
      2,
      [&](int rank, int n, const shoalUniqueId& id) {
        Rank r(rank, n, id);
        const int next = (rank + 1) % n, prev = (rank + n - 1) % n;
        auto allocated = r.ctx->allocate(maxLen + 2 * off);
        std::vector<uint8_t> heapRegion(maxLen + 2 * off);
        auto registered = r.ctx->registerMemory(heapRegion.data(), heapRegion.size());
        auto allocKeys = r.exchange(allocated->key());
        auto regKeys = r.exchange(registered->key());
        auto srcAlloc = r.ctx->allocate(maxLen);
        std::vector<uint8_t> srcHeap(maxLen);
        uint32_t seq = 0;
        for (size_t len : sizes) {
          for (int dstKind = 0; dstKind < 2; ++dstKind) {
            for (int srcKind = 0; srcKind < 2; ++srcKind) {
              for (int target : {next, rank}) {
                ++seq;
                uint8_t* region =
                    dstKind == 0 ? static_cast<uint8_t*>(allocated->data()) : heapRegion.data();
                memset(region, 0xee, maxLen + 2 * off);
                r.barrier();  // every target region is reset before anyone writes
                void* src = srcKind == 0 ? srcAlloc->data() : srcHeap.data();
                fill(src, len, rank, seq);
                const RemoteKey& key = dstKind == 0 ? allocKeys[target] : regKeys[target];
                r.write(target, src, len, key, off, seq, 1000 + seq);
                r.waitSendDone(1000 + seq);
                const int from = target == rank ? rank : prev;
                r.waitWrite(from, seq);
                std::string what = "len " + std::to_string(len) + " dst " +
                                   (dstKind ? "registered" : "allocated") + " src " +
                                   (srcKind ? "heap" : "allocated") + " from rank " +
                                   std::to_string(from);
                ASSERT_EQ(check(region + off, len, from, seq), "") << what;
                for (size_t i = 0; i < off; ++i) {
                  ASSERT_EQ(region[i], 0xee) << "byte before the target changed, " << what;
                  ASSERT_EQ(region[off + len + i], 0xee)
                      << "byte after the target changed, " << what;
                }
                r.barrier();
              }
            }
          }
        }
      },
      opts);
  shoal::test::expectAllRanksPassed(results);
}

// Back-to-back writes into distinct slots, no waiting in between: when the event for
// write k arrives, all of write k's bytes must already be there, and the events come
// in posting order.
TEST_P(VerbsStriping, ImmediateArrivesAfterItsData) {
  SKIP_UNLESS_VERBS();
  constexpr int kWrites = 48;
  constexpr size_t kSlot = 192 * 1024 + 11;
  shoal::test::MultiProcessOptions opts;
  opts.env["SHOAL_IB_QPS_PER_CONNECTION"] = std::to_string(GetParam());
  auto results = shoal::test::runRanks(
      2,
      [&](int rank, int n, const shoalUniqueId& id) {
        Rank r(rank, n, id);
        const int peer = 1 - rank;
        auto region = r.ctx->allocate(kWrites * kSlot);
        memset(region->data(), 0, kWrites * kSlot);
        auto keys = r.exchange(region->key());
        std::vector<uint8_t> src(kWrites * kSlot);
        for (int k = 0; k < kWrites; ++k) fill(src.data() + k * kSlot, kSlot, rank, k);
        r.barrier();
        for (int k = 0; k < kWrites; ++k) {
          r.write(peer, src.data() + k * kSlot, kSlot, keys[peer], k * kSlot, k,
                  k == kWrites - 1 ? 7 : 0);
        }
        for (int k = 0; k < kWrites; ++k) {
          Event e = r.waitFor([&](const Event& ev) { return ev.kind == Event::kWrite; });
          ASSERT_EQ(e.peer, peer);
          ASSERT_EQ(e.imm, static_cast<uint32_t>(k)) << "writes reported out of order";
          ASSERT_EQ(check(static_cast<uint8_t*>(region->data()) + k * kSlot, kSlot, peer, k), "")
              << "write " << k << " reported before its data landed";
        }
        r.waitSendDone(7);
        r.barrier();
      },
      opts);
  shoal::test::expectAllRanksPassed(results);
}

// Control messages of every length to every rank (itself included), far more than
// the receive depth, interleaved with writes: each sender's messages arrive intact
// and in order, and a message sent after a write is seen after that write.
TEST_P(VerbsStriping, ControlMessagesInOrderBehindWrites) {
  SKIP_UNLESS_VERBS();
  constexpr int kMessages = 300;
  shoal::test::MultiProcessOptions opts;
  opts.env["SHOAL_IB_QPS_PER_CONNECTION"] = std::to_string(GetParam());
  opts.env["SHOAL_IB_RECV_DEPTH"] = "32";  // force the receivers to run dry (RNR retry path)
  auto results = shoal::test::runRanks(
      3,
      [&](int rank, int n, const shoalUniqueId& id) {
        Rank r(rank, n, id);
        const size_t maxCtrl = r.ctx->maxCtrlBytes();
        ASSERT_EQ(maxCtrl, Event::kMaxCtrl);
        constexpr size_t kChunk = 8192;
        auto region = r.ctx->allocate(n * kChunk);
        auto keys = r.exchange(region->key());
        std::vector<uint8_t> src(kChunk);
        std::vector<int> nextFrom(n, 0);
        std::vector<int> writesFrom(n, 0);
        auto take = [&](const Event& e) {
          if (e.kind == Event::kWrite) {
            // write k from e.peer: imm k; its chunk lands at the sender's slot
            EXPECT_EQ(static_cast<int>(e.imm), writesFrom[e.peer]) << "write order from " << e.peer;
            ++writesFrom[e.peer];
            return;
          }
          if (e.kind != Event::kCtrl) return;
          const int m = nextFrom[e.peer]++;
          const size_t len = static_cast<size_t>(m) % (maxCtrl + 1);
          ASSERT_EQ(e.len, len) << "message " << m << " from " << e.peer;
          for (size_t i = 0; i < len; ++i)
            ASSERT_EQ(e.payload[i], pattern(e.peer, m, i)) << "message " << m;
          if (m % 10 == 9) {
            // sent right after write m/10 to us: it must have been reported already
            EXPECT_GE(writesFrom[e.peer], m / 10 + 1)
                << "control message overtook a write from " << e.peer;
          }
        };
        uint8_t msg[Event::kMaxCtrl];
        Event batch[16];
        Deadline deadline = Deadline::after(kStepSeconds);
        int writes = 0;
        for (int m = 0; m < kMessages; ++m) {
          for (int to = 0; to < n; ++to) {
            if (m % 10 == 9) {
              fill(src.data(), kChunk, rank, writes);
              r.write(to, src.data(), kChunk, keys[to], rank * kChunk, m / 10, 0);
              // events polled while the write waited for room
              for (; !r.stash.empty(); r.stash.pop_front()) take(r.stash.front());
            }
            const size_t len = static_cast<size_t>(m) % (maxCtrl + 1);
            fill(msg, len, rank, m);
            while (!r.ctx->pair(to).sendCtrl(msg, len)) {
              ASSERT_FALSE(deadline.expired()) << "send queue to " << to << " stayed full";
              size_t got = r.ctx->poll(batch, 16);
              for (size_t i = 0; i < got; ++i) {
                ASSERT_NE(batch[i].kind, Event::kError) << batch[i].message;
                take(batch[i]);
              }
            }
          }
          if (m % 10 == 9) ++writes;
        }
        bool done = false;
        while (!done) {
          ASSERT_FALSE(deadline.expired()) << "missing control messages";
          size_t got = r.ctx->poll(batch, 16);
          for (size_t i = 0; i < got; ++i) {
            ASSERT_NE(batch[i].kind, Event::kError) << batch[i].message;
            take(batch[i]);
          }
          done = true;
          for (int p = 0; p < n; ++p) done = done && nextFrom[p] == kMessages;
        }
        for (int p = 0; p < n; ++p) EXPECT_EQ(writesFrom[p], kMessages / 10);
        r.barrier();
      },
      opts);
  shoal::test::expectAllRanksPassed(results);
}

INSTANTIATE_TEST_SUITE_P(QueuePairs, VerbsStriping, testing::Values(1, 3),
                         [](const testing::TestParamInfo<int>& p) {
                           return std::to_string(p.param) + "qp";
                         });

// Memory written from, freed, and mapped again at the same address with new
// contents: the peer must receive the new contents (a stale cached registration
// would send the old pages). Covers munmap/mmap and heap reuse.
TEST(VerbsTransport, RegistrationCacheSurvivesFreeAndReuse) {
  SKIP_UNLESS_VERBS();
  constexpr size_t kLen = 2u << 20;
  auto results = shoal::test::runRanks(2, [&](int rank, int n, const shoalUniqueId& id) {
    Rank r(rank, n, id);
    auto region = r.ctx->allocate(kLen);
    auto keys = r.exchange(region->key());
    for (uint32_t round = 1; round <= 6; ++round) {
      if (rank == 0) {
        void* want = reinterpret_cast<void*>(0x7e0000000000ull);
        void* mem = nullptr;
        std::vector<uint8_t> heap;
        if (round % 2) {
          // Same address every round: the mapping is new, the address is not.
          mem = mmap(want, kLen, PROT_READ | PROT_WRITE,
                     MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
          ASSERT_EQ(mem, want) << "mmap at a fixed address: " << strerror(errno);
        } else {
          heap.resize(kLen);
          mem = heap.data();
        }
        fill(mem, kLen, rank, round);
        r.write(1, mem, kLen, keys[1], 0, round, round);
        r.waitSendDone(round);
        if (round % 2) munmap(mem, kLen);
      } else {
        r.waitWrite(0, round);
        ASSERT_EQ(check(region->data(), kLen, 0, round), "")
            << "round " << round << ": stale pages sent";
      }
      r.barrier();
    }
  });
  shoal::test::expectAllRanksPassed(results);
}

// Waiting ranks sleep on the completion channel (SHOAL_IB_SLEEP_AFTER_US; the
// default on Soft-RoCE): writes and control messages that come while the peer is
// asleep, after pauses far longer than a sleep slice, still wake it, each with its
// data in place, and the event order is kept across the sleeps.
TEST(VerbsTransport, SleepingPeerWakesForEveryWrite) {
  SKIP_UNLESS_VERBS();
  constexpr int kRounds = 6;
  constexpr size_t kLen = 256 * 1024 + 7;
  shoal::test::MultiProcessOptions opts;
  opts.env["SHOAL_IB_SLEEP_AFTER_US"] = "1";
  auto results = shoal::test::runRanks(
      2,
      [&](int rank, int n, const shoalUniqueId& id) {
        Rank r(rank, n, id);
        const int peer = 1 - rank;
        auto region = r.ctx->allocate(kLen);
        auto keys = r.exchange(region->key());
        std::vector<uint8_t> src(kLen);
        for (uint32_t k = 1; k <= kRounds; ++k) {
          // ranks take turns: the writer pauses first, so the reader is asleep
          if (static_cast<int>(k % 2) == rank) {
            std::this_thread::sleep_for(std::chrono::milliseconds(150));
            fill(src.data(), kLen, rank, k);
            r.write(peer, src.data(), kLen, keys[peer], 0, k, k);
            uint8_t note = static_cast<uint8_t>(k);
            // one write and one message in flight: the send queue cannot be full
            ASSERT_TRUE(r.ctx->pair(peer).sendCtrl(&note, 1));
            r.waitSendDone(k);
          } else {
            r.waitWrite(peer, k);
            ASSERT_EQ(check(region->data(), kLen, peer, k), "") << "round " << k;
            Event c = r.waitFor([](const Event& e) { return e.kind == Event::kCtrl; });
            ASSERT_EQ(c.peer, peer);
            ASSERT_EQ(c.len, 1u);
            ASSERT_EQ(c.payload[0], k) << "control message of round " << k;
          }
          r.barrier();
        }
      },
      opts);
  shoal::test::expectAllRanksPassed(results);
}

// A write with a corrupted rkey fails remotely: the writer gets a kError naming the
// peer, the verbs status and the hint, and the pair refuses further work.
TEST(VerbsTransport, WrongRkeyBecomesErrorNamingPeer) {
  SKIP_UNLESS_VERBS();
  auto results = shoal::test::runRanks(2, [&](int rank, int n, const shoalUniqueId& id) {
    Rank r(rank, n, id);
    auto region = r.ctx->allocate(4096);
    auto keys = r.exchange(region->key());
    if (rank == 0) {
      RemoteKey bad = keys[1];
      uint32_t rkey;
      memcpy(&rkey, bad.bytes + 8, 4);
      rkey ^= 0x5a5a00;
      memcpy(bad.bytes + 8, &rkey, 4);
      std::vector<uint8_t> src(512, 1);
      r.write(1, src.data(), src.size(), bad, 0, 1, 99);
      Event e = r.waitFor([](const Event& ev) { return ev.kind == Event::kError; });
      EXPECT_EQ(e.peer, 1);
      EXPECT_EQ(e.code, shoalRemoteError);
      std::string msg = e.message;
      EXPECT_NE(msg.find("peer 1"), std::string::npos) << msg;
      EXPECT_NE(msg.find(kRemoteAccessStatus), std::string::npos) << msg;
      EXPECT_NE(msg.find("registration"), std::string::npos) << msg;
      try {
        r.ctx->pair(1).write(src.data(), src.size(), keys[1], 0, 2, 0);
        ADD_FAILURE() << "write on a failed connection was accepted";
      } catch (const shoal::Error& err) {
        EXPECT_EQ(err.code(), shoalRemoteError);
      }
    }
    r.barrier();
  });
  shoal::test::expectAllRanksPassed(results);
}

// A peer killed mid-job: the next write to it fails with a kError within the retry
// budget (SHOAL_IB_TIMEOUT / SHOAL_IB_RETRY_CNT), not a hang.
TEST(VerbsTransport, KilledPeerFailsWithinDeadline) {
  SKIP_UNLESS_VERBS();
  shoal::test::MultiProcessOptions opts;
  opts.env["SHOAL_IB_TIMEOUT"] = "12";  // 16.8 ms per try
  opts.env["SHOAL_IB_RETRY_CNT"] = "3";
  opts.timeoutSeconds = 200;
  auto results = shoal::test::runRanks(
      2,
      [&](int rank, int n, const shoalUniqueId& id) {
        Rank r(rank, n, id);
        auto region = r.ctx->allocate(65536);
        auto keys = r.exchange(region->key());
        std::vector<uint8_t> src(65536);
        fill(src.data(), src.size(), rank, 1);
        // one good exchange first, so the connection is known to work
        r.write(1 - rank, src.data(), src.size(), keys[1 - rank], 0, 1, 1);
        r.waitWrite(1 - rank, 1);
        r.waitSendDone(1);
        r.barrier();
        if (rank == 1) raise(SIGKILL);
        Deadline gone = Deadline::after(kStepSeconds);
        while (r.bootstrap->peerAlive(1) && !gone.expired())
          std::this_thread::sleep_for(std::chrono::milliseconds(5));
        auto t0 = std::chrono::steady_clock::now();
        r.write(1, src.data(), src.size(), keys[1], 0, 2, 2);
        Event e = r.waitFor([](const Event& ev) { return ev.kind == Event::kError; }, 60);
        double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        EXPECT_EQ(e.peer, 1);
        EXPECT_EQ(e.code, shoalRemoteError);
        std::string msg = e.message;
        EXPECT_NE(msg.find("peer 1"), std::string::npos) << msg;
        EXPECT_NE(msg.find(kRetryExceededStatus), std::string::npos) << msg;
        EXPECT_LT(secs, 30.0) << "error took too long";
        fprintf(stderr, "[rank 0] dead peer reported after %.2f s: %s\n", secs, msg.c_str());
      },
      opts);
  ASSERT_EQ(results.size(), 2u);
  EXPECT_EQ(results[0].exitCode, 0) << results[0].what;
  EXPECT_EQ(results[1].exitCode, -SIGKILL) << results[1].what;
}

}  // namespace
