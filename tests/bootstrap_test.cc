// The bootstrap in real processes: each rank is a forked child that builds the
// mesh through a root running in the test process, so the root's view
// (RootStats) can be checked alongside what the ranks saw.
#include "core/bootstrap.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "core/bootstrap_root.h"
#include "core/bootstrap_wire.h"
#include "core/env_init.h"
#include "core/error.h"
#include "core/socket.h"
#include "util/loopback.h"

namespace shoal {
namespace {

using Seconds = std::chrono::duration<double>;

// Exit codes a child uses to say how it ended.
constexpr int kOk = 0;
constexpr int kAssertFailed = 1;
constexpr int kThrew = 2;

// Runs fn in a forked child; the child exits with fn's code, kAssertFailed if
// a gtest expectation failed, or kThrew on an exception.
pid_t spawn(const std::function<int()>& fn) {
  fflush(stdout);
  fflush(stderr);
  pid_t pid = fork();
  if (pid != 0) return pid;
  int code;
  try {
    code = fn();
    if (::testing::Test::HasFailure()) code = kAssertFailed;
  } catch (const Error& e) {
    fprintf(stderr, "[pid %d] shoal error %d: %s\n", getpid(), e.code(), e.what());
    code = kThrew;
  } catch (const std::exception& e) {
    fprintf(stderr, "[pid %d] exception: %s\n", getpid(), e.what());
    code = kThrew;
  }
  fflush(stdout);
  fflush(stderr);
  _exit(code);
}

// Exit code, -signal, or -1000 if it had to be killed at the timeout.
int waitChild(pid_t pid, double timeoutSeconds) {
  auto until =
      std::chrono::steady_clock::now() +
      std::chrono::duration_cast<std::chrono::steady_clock::duration>(Seconds(timeoutSeconds));
  for (;;) {
    int status = 0;
    pid_t done = waitpid(pid, &status, WNOHANG);
    if (done == pid) return WIFEXITED(status) ? WEXITSTATUS(status) : -WTERMSIG(status);
    if (std::chrono::steady_clock::now() > until) {
      kill(pid, SIGKILL);
      waitpid(pid, nullptr, 0);
      return -1000;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
}

using test::loopback;

struct TestRoot {
  UniqueIdData id{};
  net::SockAddr addr;
  std::shared_ptr<bootstrap::RootStats> stats = std::make_shared<bootstrap::RootStats>();
};

// A root on 127.0.0.1 with a fresh secret; keeps the tests' traffic on loopback.
TestRoot startTestRoot(double deadlineSeconds = 60, double helloTimeout = 10) {
  TestRoot t;
  uint8_t secret[32];
  net::randomBytes(secret, sizeof(secret));
  bootstrap::RootOptions opts;
  opts.deadline = Deadline::after(deadlineSeconds);
  opts.helloTimeoutSeconds = helloTimeout;
  t.addr = bootstrap::startRoot(loopback(), secret, opts, t.stats);
  t.id.magic = wire::kIdMagic;
  net::packAddr(t.addr, &t.id.family, &t.id.port, t.id.addr);
  memcpy(t.id.secret, secret, sizeof(secret));
  return t;
}

// Runs body(rank) in n children and expects each to exit kOk.
void runRanks(const UniqueIdData& id, int n, const std::function<int(int)>& body,
              double timeoutSeconds = 60) {
  std::vector<pid_t> pids;
  for (int r = 0; r < n; ++r) pids.push_back(spawn([&, r] { return body(r); }));
  for (int r = 0; r < n; ++r) {
    EXPECT_EQ(waitChild(pids[r], timeoutSeconds), kOk) << "rank " << r << " of " << n;
  }
}

bool waitFor(const std::function<bool()>& cond, double seconds) {
  auto until = std::chrono::steady_clock::now() +
               std::chrono::duration_cast<std::chrono::steady_clock::duration>(Seconds(seconds));
  while (std::chrono::steady_clock::now() < until) {
    if (cond()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return cond();
}

uint8_t patternByte(int from, int to, uint32_t tag, size_t i) {
  return static_cast<uint8_t>(from * 131 + to * 31 + tag * 7 + i * 13 + (i >> 8));
}

class BootstrapRanks : public ::testing::TestWithParam<int> {};

TEST_P(BootstrapRanks, AllgatherBarrierSendRecvGiveExactResults) {
  const int n = GetParam();
  TestRoot root = startTestRoot();
  runRanks(root.id, n, [&](int rank) {
    setenv("SHOAL_HOST_ID", ("host" + std::to_string(rank % 2)).c_str(), 1);
    auto b = Bootstrap::create(root.id, rank, n, Deadline::after(30));
    EXPECT_EQ(b->rank(), rank);
    EXPECT_EQ(b->size(), n);
    for (int r = 0; r < n; ++r) {
      EXPECT_EQ(b->hostId(r), "host" + std::to_string(r % 2)) << "rank " << r;
    }
    EXPECT_EQ(b->pid(rank), getpid());

    // Small allgather: every rank's pid, which the table also carries.
    int pid = getpid();
    std::vector<int> pids(n, -1);
    b->allgather(&pid, pids.data(), sizeof(int), Deadline::after(30));
    for (int r = 0; r < n; ++r) EXPECT_EQ(pids[r], b->pid(r)) << "rank " << r;

    // Larger blocks, twice, so sequence numbers keep the two apart.
    for (int round = 0; round < 2; ++round) {
      const size_t bytes = 300000 + 17 * round;
      std::vector<uint8_t> mine(bytes), all(bytes * n, 0xEE);
      for (size_t i = 0; i < bytes; ++i) mine[i] = patternByte(rank, round, 0, i);
      b->allgather(mine.data(), all.data(), bytes, Deadline::after(30));
      for (int r = 0; r < n; ++r) {
        for (size_t i = 0; i < bytes; ++i) {
          if (all[r * bytes + i] != patternByte(r, round, 0, i)) {
            ADD_FAILURE() << "allgather round " << round << ": block of rank " << r
                          << " differs at byte " << i;
            break;
          }
        }
      }
    }
    b->barrier(Deadline::after(30));

    // Tags out of order: to the next rank tag 2 goes before tag 1, and the
    // receiver asks for tag 1 first, so tag 2 must wait in the inbox.
    int next = (rank + 1) % n, prev = (rank + n - 1) % n;
    for (uint32_t tag : {2u, 1u}) {
      std::vector<uint8_t> msg(1000 * tag + 3);
      for (size_t i = 0; i < msg.size(); ++i) msg[i] = patternByte(rank, next, tag, i);
      b->send(next, tag, msg.data(), msg.size(), Deadline::after(30));
    }
    for (uint32_t tag : {1u, 2u}) {
      std::vector<uint8_t> got(1000 * tag + 3);
      b->recv(prev, tag, got.data(), got.size(), Deadline::after(30));
      for (size_t i = 0; i < got.size(); ++i) {
        if (got[i] != patternByte(prev, rank, tag, i)) {
          ADD_FAILURE() << "tag " << tag << " from rank " << prev << " differs at byte " << i;
          break;
        }
      }
    }

    // Everyone sends 2 MiB to everyone before receiving anything: far more
    // than socket buffers hold, so this only finishes if blocked senders
    // keep reading.
    const size_t big = 2 << 20;
    for (int p = 0; p < n; ++p) {
      if (p == rank) continue;
      std::vector<uint8_t> msg(big);
      for (size_t i = 0; i < big; ++i) msg[i] = patternByte(rank, p, 9, i);
      b->send(p, 9, msg.data(), big, Deadline::after(60));
    }
    for (int p = 0; p < n; ++p) {
      if (p == rank) continue;
      std::vector<uint8_t> got(big);
      b->recv(p, 9, got.data(), big, Deadline::after(60));
      for (size_t i = 0; i < big; ++i) {
        if (got[i] != patternByte(p, rank, 9, i)) {
          ADD_FAILURE() << "2 MiB message from rank " << p << " differs at byte " << i;
          break;
        }
      }
    }

    // A message to itself goes through the inbox.
    uint64_t self = 0x1234567890abcdefull + rank, back = 0;
    b->send(rank, 5, &self, sizeof(self), Deadline::after(1));
    b->recv(rank, 5, &back, sizeof(back), Deadline::after(1));
    EXPECT_EQ(back, self);

    for (int p = 0; p < n; ++p) EXPECT_TRUE(b->peerAlive(p)) << "peer " << p;
    b->barrier(Deadline::after(30));
    b->close();
    return kOk;
  });
  EXPECT_TRUE(waitFor([&] { return root.stats->finished.load(); }, 5));
  EXPECT_TRUE(root.stats->succeeded);
  EXPECT_EQ(root.stats->rejectedAuth, 0);
}

INSTANTIATE_TEST_SUITE_P(OneToEight, BootstrapRanks, ::testing::Range(1, 9));

TEST(Bootstrap, WrongSecretIsRefusedWithoutReadingPastTheSecret) {
  TestRoot root = startTestRoot();

  // A raw client: right magic, wrong secret, then a few KiB the root must
  // never read.
  {
    net::Fd fd;
    ASSERT_TRUE(net::connectTo(root.addr, Deadline::after(5), &fd).ok());
    wire::Writer w;
    w.u32(wire::kHelloMagic);
    uint8_t wrong[32];
    memcpy(wrong, root.id.secret, 32);
    wrong[31] ^= 1;
    w.raw(wrong, sizeof(wrong));
    std::vector<uint8_t> tail(4000, 0x41);
    w.raw(tail.data(), tail.size());
    ASSERT_TRUE(net::sendAll(fd.get(), w.bytes().data(), w.size(), Deadline::after(5)).ok());
    uint8_t byte;
    net::IoStatus st = net::recvAll(fd.get(), &byte, 1, Deadline::after(5));
    EXPECT_EQ(st.kind, net::IoStatus::kClosed) << st.describe();
  }
  ASSERT_TRUE(waitFor([&] { return root.stats->rejectedAuth == 1; }, 5));
  EXPECT_EQ(root.stats->maxBytesReadBeforeReject.load(), wire::kAuthBytes);

  // A rank with the wrong secret gets an error, not a hang.
  UniqueIdData bad = root.id;
  bad.secret[0] ^= 0x80;
  auto start = std::chrono::steady_clock::now();
  try {
    Bootstrap::create(bad, 0, 1, Deadline::after(10));
    ADD_FAILURE() << "a wrong secret was accepted";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), shoalRemoteError) << e.what();
    EXPECT_NE(std::string(e.what()).find("secret"), std::string::npos) << e.what();
  }
  EXPECT_LT(Seconds(std::chrono::steady_clock::now() - start).count(), 5);
  // The root closes the connection before it counts the rejection, so the
  // rank may see the close first.
  EXPECT_TRUE(waitFor([&] { return root.stats->rejectedAuth == 2; }, 5))
      << "rejected " << root.stats->rejectedAuth;
  EXPECT_EQ(root.stats->maxBytesReadBeforeReject.load(), wire::kAuthBytes);
  EXPECT_EQ(root.stats->registered, 0);

  // The root still serves the real job.
  auto b = Bootstrap::create(root.id, 0, 1, Deadline::after(10));
  EXPECT_EQ(b->size(), 1);
  EXPECT_TRUE(waitFor([&] { return root.stats->succeeded.load(); }, 5));
}

// Rank `rank` of a two-rank job: contributes 10 + rank and must see both.
pid_t spawnPairRank(const TestRoot& root, int rank) {
  return spawn([&root, rank] {
    auto b = Bootstrap::create(root.id, rank, 2, Deadline::after(30));
    int mine = 10 + rank, all[2] = {0, 0};
    b->allgather(&mine, all, sizeof(int), Deadline::after(30));
    EXPECT_EQ(all[0], 10);
    EXPECT_EQ(all[1], 11);
    return kOk;
  });
}

TEST(Bootstrap, SecondProcessWithTheSameRankIsRefused) {
  TestRoot root = startTestRoot();
  pid_t first = spawnPairRank(root, 1);
  ASSERT_TRUE(waitFor([&] { return root.stats->registered == 1; }, 10));

  pid_t dup = spawn([&] {
    try {
      Bootstrap::create(root.id, 1, 2, Deadline::after(30));
    } catch (const Error& e) {
      EXPECT_EQ(e.code(), shoalInvalidUsage) << e.what();
      EXPECT_NE(std::string(e.what()).find("rank 1 already joined"), std::string::npos) << e.what();
      return kOk;
    }
    ADD_FAILURE() << "a second rank 1 was let in";
    return kAssertFailed;
  });
  EXPECT_EQ(waitChild(dup, 20), kOk);
  // The root closes the refused connection before it counts it, so the
  // refused process may exit before the count moves.
  EXPECT_TRUE(waitFor([&] { return root.stats->rejectedHello == 1; }, 10))
      << root.stats->rejectedHello;

  pid_t zero = spawnPairRank(root, 0);
  EXPECT_EQ(waitChild(first, 30), kOk);
  EXPECT_EQ(waitChild(zero, 30), kOk);
  EXPECT_TRUE(root.stats->succeeded);
}

TEST(Bootstrap, MismatchedRankCountIsRefused) {
  TestRoot root = startTestRoot();
  pid_t first = spawn([&] {
    try {
      Bootstrap::create(root.id, 0, 3, Deadline::after(3));
    } catch (const Error& e) {
      EXPECT_EQ(e.code(), shoalTimeout) << e.what();
      return kOk;
    }
    return kAssertFailed;
  });
  ASSERT_TRUE(waitFor([&] { return root.stats->registered == 1; }, 10));
  try {
    Bootstrap::create(root.id, 1, 2, Deadline::after(10));
    ADD_FAILURE() << "rank 1 of 2 joined a job of 3";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), shoalInvalidUsage) << e.what();
    EXPECT_NE(std::string(e.what()).find("says the job has 2 ranks"), std::string::npos)
        << e.what();
  }
  EXPECT_EQ(waitChild(first, 20), kOk);
}

TEST(Bootstrap, MissingRankTimesOutNamingIt) {
  TestRoot root = startTestRoot();
  const double limit = 2.0;
  runRanks(root.id, 2, [&](int rank) {
    auto start = std::chrono::steady_clock::now();
    try {
      Bootstrap::create(root.id, rank, 3, Deadline::after(limit));
      ADD_FAILURE() << "rendezvous finished without rank 2";
      return kAssertFailed;
    } catch (const Error& e) {
      double took = Seconds(std::chrono::steady_clock::now() - start).count();
      EXPECT_EQ(e.code(), shoalTimeout) << e.what();
      EXPECT_NE(std::string(e.what()).find("(missing: 2)"), std::string::npos) << e.what();
      EXPECT_GE(took, limit - 0.6) << e.what();
      EXPECT_LE(took, limit + 1.5) << e.what();  // slack for a loaded machine
    }
    return kOk;
  });
  // Both left, so the root is waiting for a fresh set again.
  EXPECT_TRUE(waitFor([&] { return root.stats->registered == 0; }, 5));
}

TEST(Bootstrap, RootSurvivesGarbageAndPortScans) {
  TestRoot root = startTestRoot(60, /*helloTimeout=*/0.5);
  std::vector<net::Fd> idle;
  int connections = 0;
  for (int i = 0; i < 20; ++i) {  // connect and leave, like a port scanner
    net::Fd fd;
    ASSERT_TRUE(net::connectTo(root.addr, Deadline::after(5), &fd).ok());
    ++connections;
  }
  for (int i = 0; i < 5; ++i) {  // random bytes
    net::Fd fd;
    ASSERT_TRUE(net::connectTo(root.addr, Deadline::after(5), &fd).ok());
    ++connections;
    std::vector<uint8_t> junk(1000 + 100 * i);
    net::randomBytes(junk.data(), junk.size());
    junk[0] = 'G';  // never the hello magic
    net::sendAll(fd.get(), junk.data(), junk.size(), Deadline::after(5));
  }
  for (int i = 0; i < 3; ++i) {  // a few bytes, then silence
    net::Fd fd;
    ASSERT_TRUE(net::connectTo(root.addr, Deadline::after(5), &fd).ok());
    ++connections;
    uint8_t some[10] = {0x53, 0x48, 0x4f, 0x48, 1, 2, 3, 4, 5, 6};
    net::sendAll(fd.get(), some, sizeof(some), Deadline::after(5));
    idle.push_back(std::move(fd));
  }
  {  // authenticated, but a host id length past the bound
    net::Fd fd;
    ASSERT_TRUE(net::connectTo(root.addr, Deadline::after(5), &fd).ok());
    ++connections;
    wire::Writer w;
    w.u32(wire::kHelloMagic);
    w.raw(root.id.secret, 32);
    w.u32(wire::kVersion);
    w.i32(0);
    w.i32(1);
    w.u16(AF_INET);
    w.u16(1);
    uint8_t addr[16] = {};
    w.raw(addr, 16);
    w.u32(1);
    w.u16(60000);
    w.u16(0);
    net::sendAll(fd.get(), w.bytes().data(), w.size(), Deadline::after(5));
    uint8_t hdr[8];
    ASSERT_TRUE(net::recvAll(fd.get(), hdr, sizeof(hdr), Deadline::after(5)).ok());
    wire::Reader r(hdr, sizeof(hdr));
    EXPECT_EQ(r.u32(), wire::kError);
  }
  ASSERT_TRUE(waitFor([&] { return root.stats->accepted == connections; }, 5));
  EXPECT_TRUE(waitFor([&] { return root.stats->idleClosed >= 3; }, 5));
  // Counted after the root answers and closes, so waited for.
  EXPECT_TRUE(waitFor([&] { return root.stats->rejectedAuth == 5; }, 5))
      << root.stats->rejectedAuth;
  EXPECT_TRUE(waitFor([&] { return root.stats->rejectedHello == 1; }, 5))
      << root.stats->rejectedHello;
  EXPECT_EQ(root.stats->maxBytesReadBeforeReject.load(), wire::kAuthBytes);

  runRanks(root.id, 3, [&](int rank) {
    auto b = Bootstrap::create(root.id, rank, 3, Deadline::after(30));
    b->barrier(Deadline::after(30));
    return kOk;
  });
  EXPECT_TRUE(root.stats->succeeded);
}

TEST(Bootstrap, RootGivesUpAtItsDeadlineAndSaysWhoIsMissing) {
  TestRoot root = startTestRoot(/*deadline=*/1.0);
  try {
    Bootstrap::create(root.id, 1, 4, Deadline::after(10));
    ADD_FAILURE() << "rendezvous finished with one rank of four";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), shoalTimeout) << e.what();
    EXPECT_NE(std::string(e.what()).find("missing: 0,2,3"), std::string::npos) << e.what();
  }
  EXPECT_TRUE(waitFor([&] { return root.stats->finished.load(); }, 5));
}

TEST(Bootstrap, PeerAliveTurnsFalseWhenAPeerIsKilled) {
  TestRoot root = startTestRoot();
  const int n = 3;
  std::vector<pid_t> pids;
  for (int rank = 0; rank < n; ++rank) {
    pids.push_back(spawn([&, rank] {
      auto b = Bootstrap::create(root.id, rank, n, Deadline::after(30));
      b->barrier(Deadline::after(30));
      for (int p = 0; p < n; ++p) EXPECT_TRUE(b->peerAlive(p)) << "peer " << p;
      b->barrier(Deadline::after(30));
      if (rank == 2) {
        kill(getpid(), SIGKILL);
        pause();
      }
      EXPECT_TRUE(waitFor([&] { return !b->peerAlive(2); }, 10)) << "peerAlive(2) stayed true";
      EXPECT_TRUE(b->peerAlive(1 - rank));
      // Neither survivor leaves before the other has looked at it.
      int token = rank, other = -1;
      b->send(1 - rank, 8, &token, sizeof(token), Deadline::after(10));
      b->recv(1 - rank, 8, &other, sizeof(other), Deadline::after(10));
      EXPECT_EQ(other, 1 - rank);
      int x = 0;
      try {
        b->recv(2, 7, &x, sizeof(x), Deadline::after(5));
        ADD_FAILURE() << "recv from a dead rank returned";
      } catch (const Error& e) {
        EXPECT_EQ(e.code(), shoalRemoteError) << e.what();
        EXPECT_NE(std::string(e.what()).find("rank 2 closed its connection"), std::string::npos)
            << e.what();
      }
      try {
        b->barrier(Deadline::after(5));
        ADD_FAILURE() << "barrier with a dead rank returned";
      } catch (const Error& e) {
        EXPECT_EQ(e.code(), shoalRemoteError) << e.what();
      }
      return kOk;
    }));
  }
  EXPECT_EQ(waitChild(pids[0], 30), kOk);
  EXPECT_EQ(waitChild(pids[1], 30), kOk);
  EXPECT_EQ(waitChild(pids[2], 30), -SIGKILL);
}

TEST(Bootstrap, TryRecvReturnsAMessageThatArrivedBeforeItsSenderLeft) {
  TestRoot root = startTestRoot();
  runRanks(root.id, 2, [&](int rank) {
    auto b = Bootstrap::create(root.id, rank, 2, Deadline::after(30));
    uint64_t v = 0;
    if (rank == 1) {
      EXPECT_FALSE(b->tryRecv(0, 4, &v, sizeof(v)));  // nothing sent: no wait, no message
      b->barrier(Deadline::after(30));
      uint64_t last = 0xfeedf00d;
      b->send(0, 4, &last, sizeof(last), Deadline::after(30));
      _exit(0);  // leaves without a goodbye, as a failing rank would
    }
    b->barrier(Deadline::after(30));
    EXPECT_TRUE(waitFor([&] { return !b->peerAlive(1); }, 10));
    EXPECT_FALSE(b->tryRecv(1, 5, &v, sizeof(v)));
    EXPECT_TRUE(b->tryRecv(1, 4, &v, sizeof(v)));
    EXPECT_EQ(v, 0xfeedf00dull);
    EXPECT_FALSE(b->tryRecv(1, 4, &v, sizeof(v)));  // taken once
    return kOk;
  });
}

TEST(Bootstrap, AllgatherTimeoutNamesTheRankThatNeverCame) {
  TestRoot root = startTestRoot();
  runRanks(root.id, 3, [&](int rank) {
    auto b = Bootstrap::create(root.id, rank, 3, Deadline::after(30));
    b->barrier(Deadline::after(30));
    if (rank == 2) {
      std::this_thread::sleep_for(std::chrono::seconds(2));
      return kOk;
    }
    int mine = rank, all[3];
    auto start = std::chrono::steady_clock::now();
    try {
      b->allgather(&mine, all, sizeof(int), Deadline::after(0.7));
      ADD_FAILURE() << "allgather finished without rank 2";
    } catch (const Error& e) {
      EXPECT_EQ(e.code(), shoalTimeout) << e.what();
      EXPECT_NE(std::string(e.what()).find("waiting for ranks 2"), std::string::npos) << e.what();
    }
    EXPECT_LT(Seconds(std::chrono::steady_clock::now() - start).count(), 2.5);
    return kOk;
  });
}

TEST(Bootstrap, RecvChecksTheMessageSize) {
  TestRoot root = startTestRoot();
  runRanks(root.id, 2, [&](int rank) {
    auto b = Bootstrap::create(root.id, rank, 2, Deadline::after(30));
    if (rank == 0) {
      uint32_t v = 5;
      b->send(1, 3, &v, sizeof(v), Deadline::after(10));
    } else {
      uint64_t v = 0;
      try {
        b->recv(0, 3, &v, sizeof(v), Deadline::after(10));
        ADD_FAILURE() << "a 4-byte message satisfied an 8-byte recv";
      } catch (const Error& e) {
        EXPECT_EQ(e.code(), shoalInvalidUsage) << e.what();
      }
    }
    b->barrier(Deadline::after(10));
    return kOk;
  });
}

TEST(Bootstrap, CreateRootAndCreateRootAtWork) {
  setenv("SHOAL_SOCKET_IFNAME", "lo", 1);
  UniqueIdData id = createRoot();
  unsetenv("SHOAL_SOCKET_IFNAME");
  EXPECT_EQ(id.magic, wire::kIdMagic);
  EXPECT_EQ(net::unpackAddr(id.family, id.port, id.addr).str().rfind("127.", 0), 0u);
  runRanks(id, 2, [&](int rank) {
    auto b = Bootstrap::create(id, rank, 2, Deadline::after(30));
    b->barrier(Deadline::after(30));
    return kOk;
  });

  // Rank 0 listens; the others only build the same id from the same text.
  int port;
  {
    net::Fd probe = net::listenOn(loopback(), "test");
    port = net::localAddress(probe.get()).port();
  }
  std::string hostPort = "127.0.0.1:" + std::to_string(port);
  std::string secret(64, 'a');
  secret[10] = '7';
  runRanks(id, 3, [&](int rank) {
    UniqueIdData mine = createRootAt(hostPort, secret, rank == 0);
    UniqueIdData other = createRootAt(hostPort, secret, false);
    EXPECT_EQ(memcmp(&mine, &other, sizeof(mine)), 0);
    EXPECT_EQ(mine.secret[4], 0xaa);
    EXPECT_EQ(mine.secret[5], 0x7a);
    auto b = Bootstrap::create(mine, rank, 3, Deadline::after(30));
    int v = rank * 3 + 1, all[3] = {};
    b->allgather(&v, all, sizeof(int), Deadline::after(30));
    for (int r = 0; r < 3; ++r) EXPECT_EQ(all[r], r * 3 + 1);
    return kOk;
  });
}

TEST(Bootstrap, CreateRootAtRejectsBadAddresses) {
  for (const char* bad : {"", "127.0.0.1", "127.0.0.1:0", "127.0.0.1:70000", "[::1", "host:x"}) {
    try {
      createRootAt(bad, "00", false);
      ADD_FAILURE() << "accepted root address '" << bad << "'";
    } catch (const Error& e) {
      EXPECT_EQ(e.code(), shoalInvalidArgument) << bad << ": " << e.what();
    }
  }
  UniqueIdData v6 = createRootAt("[::1]:4000", "x", false);
  EXPECT_EQ(v6.family, AF_INET6);
  EXPECT_EQ(ntohs(v6.port), 4000);
}

TEST(Bootstrap, SecretTextIsDecodedOrStretchedDeterministically) {
  uint8_t a[32], b[32], c[32];
  bootstrap::secretFromText(std::string(62, '0') + "ff", a);
  for (int i = 0; i < 31; ++i) EXPECT_EQ(a[i], 0) << i;
  EXPECT_EQ(a[31], 0xff);
  bootstrap::secretFromText("not hex at all", b);
  bootstrap::secretFromText("not hex at all", c);
  EXPECT_EQ(memcmp(b, c, 32), 0);
  bootstrap::secretFromText("not hex at alm", c);
  EXPECT_NE(memcmp(b, c, 32), 0);
}

TEST(Bootstrap, InterfaceFilterFollowsNcclSyntax) {
  EXPECT_TRUE(net::interfaceMatches("eth0", ""));
  EXPECT_TRUE(net::interfaceMatches("eth0", "eth"));
  EXPECT_TRUE(net::interfaceMatches("ib1", "eth,ib"));
  EXPECT_FALSE(net::interfaceMatches("lo", "eth,ib"));
  EXPECT_FALSE(net::interfaceMatches("docker0", "^docker,lo"));
  EXPECT_TRUE(net::interfaceMatches("eth0", "^docker,lo"));
  EXPECT_TRUE(net::interfaceMatches("eth0", "=eth0"));
  EXPECT_FALSE(net::interfaceMatches("eth01", "=eth0"));
  EXPECT_FALSE(net::interfaceMatches("eth0", "^=eth0"));
  EXPECT_TRUE(net::interfaceMatches("eth01", "^=eth0"));

  setenv("SHOAL_SOCKET_IFNAME", "=lo", 1);
  std::string name;
  net::SockAddr a = net::pickInterfaceAddress(&name);
  EXPECT_EQ(name, "lo");
  EXPECT_TRUE(a.isLoopback());
  setenv("SHOAL_SOCKET_IFNAME", "=no-such-interface", 1);
  try {
    net::pickInterfaceAddress(&name);
    ADD_FAILURE() << "a filter matching nothing picked " << name;
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), shoalInvalidUsage);
    EXPECT_NE(std::string(e.what()).find("no-such-interface"), std::string::npos) << e.what();
  }
  unsetenv("SHOAL_SOCKET_IFNAME");
}

// Sets variables for one test and restores the environment afterwards.
class EnvInitTest : public ::testing::Test {
 protected:
  static constexpr const char* kVars[] = {"SHOAL_RANK",
                                          "SHOAL_WORLD_SIZE",
                                          "SHOAL_LOCAL_RANK",
                                          "SHOAL_ROOT",
                                          "SHOAL_SECRET",
                                          "RANK",
                                          "WORLD_SIZE",
                                          "LOCAL_RANK",
                                          "MASTER_ADDR",
                                          "MASTER_PORT",
                                          "OMPI_COMM_WORLD_RANK",
                                          "OMPI_COMM_WORLD_SIZE",
                                          "OMPI_COMM_WORLD_LOCAL_RANK",
                                          "SLURM_PROCID",
                                          "SLURM_NTASKS",
                                          "SLURM_LOCALID"};
  void SetUp() override {
    for (const char* v : kVars) {
      const char* cur = getenv(v);
      saved_.push_back(cur ? std::optional<std::string>(cur) : std::nullopt);
      unsetenv(v);
    }
  }
  void TearDown() override {
    for (size_t i = 0; i < saved_.size(); ++i) {
      if (saved_[i]) {
        setenv(kVars[i], saved_[i]->c_str(), 1);
      } else {
        unsetenv(kVars[i]);
      }
    }
  }
  static Error expectFailure() {
    try {
      resolveEnvInit();
    } catch (const Error& e) {
      return e;
    }
    ADD_FAILURE() << "resolveEnvInit succeeded";
    return Error(shoalSuccess, "");
  }
  std::vector<std::optional<std::string>> saved_;
};

TEST_F(EnvInitTest, ShoalVariablesComeFirst) {
  setenv("SHOAL_RANK", "2", 1);
  setenv("SHOAL_WORLD_SIZE", "4", 1);
  setenv("SHOAL_LOCAL_RANK", "0", 1);
  setenv("SHOAL_ROOT", "127.0.0.1:1234", 1);
  setenv("SHOAL_SECRET", std::string(64, 'b').c_str(), 1);
  setenv("RANK", "3", 1);  // torchrun's lose
  setenv("WORLD_SIZE", "8", 1);
  EnvInit e = resolveEnvInit();
  EXPECT_EQ(e.rank, 2);
  EXPECT_EQ(e.size, 4);
  EXPECT_EQ(e.localRank, 0);
  EXPECT_EQ(e.rootHostPort, "127.0.0.1:1234");
  EXPECT_EQ(e.secretHex, std::string(64, 'b'));
  EXPECT_NE(e.source.find("SHOAL_RANK"), std::string::npos);
}

TEST_F(EnvInitTest, TorchrunUsesThePortAfterMasterPort) {
  setenv("RANK", "1", 1);
  setenv("WORLD_SIZE", "2", 1);
  setenv("LOCAL_RANK", "1", 1);
  setenv("MASTER_ADDR", "127.0.0.1", 1);
  setenv("MASTER_PORT", "29500", 1);
  EnvInit e = resolveEnvInit();
  EXPECT_EQ(e.rank, 1);
  EXPECT_EQ(e.size, 2);
  EXPECT_EQ(e.localRank, 1);
  EXPECT_EQ(e.rootHostPort, "127.0.0.1:29501");
  EXPECT_NE(e.source.find("torchrun"), std::string::npos);
  // No SHOAL_SECRET: a secret derived from the root, the same in every rank.
  EXPECT_EQ(e.secretHex.size(), 64u);
  EXPECT_EQ(resolveEnvInit().secretHex, e.secretHex);
  setenv("SHOAL_ROOT", "127.0.0.1:4000", 1);
  EXPECT_EQ(resolveEnvInit().rootHostPort, "127.0.0.1:4000");
}

TEST_F(EnvInitTest, OpenMpiNeedsARootAddress) {
  setenv("OMPI_COMM_WORLD_RANK", "0", 1);
  setenv("OMPI_COMM_WORLD_SIZE", "4", 1);
  setenv("OMPI_COMM_WORLD_LOCAL_RANK", "0", 1);
  Error err = expectFailure();
  EXPECT_EQ(err.code(), shoalInvalidUsage);
  EXPECT_NE(std::string(err.what()).find("SHOAL_ROOT"), std::string::npos) << err.what();
  EXPECT_NE(std::string(err.what()).find("MASTER_ADDR"), std::string::npos) << err.what();
  setenv("SHOAL_ROOT", "localhost:5555", 1);
  EnvInit e = resolveEnvInit();
  EXPECT_EQ(e.rank, 0);
  EXPECT_EQ(e.size, 4);
  EXPECT_NE(e.source.find("Open MPI"), std::string::npos);
}

TEST_F(EnvInitTest, SlurmTakesMasterAddrWhenGiven) {
  setenv("SLURM_PROCID", "5", 1);
  setenv("SLURM_NTASKS", "6", 1);
  setenv("SLURM_LOCALID", "1", 1);
  EXPECT_EQ(expectFailure().code(), shoalInvalidUsage);
  setenv("MASTER_ADDR", "127.0.0.1", 1);
  setenv("MASTER_PORT", "7000", 1);
  EnvInit e = resolveEnvInit();
  EXPECT_EQ(e.rank, 5);
  EXPECT_EQ(e.size, 6);
  EXPECT_EQ(e.localRank, 1);
  EXPECT_EQ(e.rootHostPort, "127.0.0.1:7001");
}

TEST_F(EnvInitTest, BadValuesAreNamed) {
  EXPECT_EQ(expectFailure().code(), shoalInvalidUsage);  // nothing set at all
  setenv("SHOAL_RANK", "4", 1);
  setenv("SHOAL_WORLD_SIZE", "4", 1);
  setenv("SHOAL_ROOT", "127.0.0.1:1", 1);
  Error err = expectFailure();
  EXPECT_EQ(err.code(), shoalInvalidArgument);
  EXPECT_NE(std::string(err.what()).find("SHOAL_RANK=4"), std::string::npos) << err.what();
  setenv("SHOAL_RANK", "x1", 1);
  EXPECT_NE(std::string(expectFailure().what()).find("SHOAL_RANK='x1'"), std::string::npos);
  setenv("SHOAL_RANK", "1", 1);
  setenv("SHOAL_ROOT", "127.0.0.1:notaport", 1);
  EXPECT_EQ(expectFailure().code(), shoalInvalidArgument);
}

}  // namespace
}  // namespace shoal
