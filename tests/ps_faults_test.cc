// Parameter-server failures, over shm and UCX: a worker killed mid-job is
// reported by the server (naming its rank); in sync mode the other workers'
// next round fails with an error naming it, in async mode they go on and the
// value holds exactly what was accepted. A server killed mid-job makes the
// workers' operations fail, naming that server, well within the deadline.
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <string>
#include <thread>
#include <vector>

#include "shoal/ps.h"
#include "util/fault_case.h"
#include "util/multiprocess.h"
#include "util/ps_values.h"

namespace {

using shoal::test::expectOnlyVictimKilled;
using shoal::test::expectOutcome;
using shoal::test::runRanks;
using shoal::test::timedCall;

// Key 0's values: what a worker pushes in round r.
float gradient(int w, int r, size_t i) { return shoal::test::psGradient(w, r, 0, i); }

constexpr double kTimeout = 20;

shoalPsOptions options(shoalPsMode_t mode) {
  shoalPsOptions o{};
  o.mode = mode;
  o.staleness = 2;
  o.update = shoalPsUpdateSum;
  o.partitionBytes = 64 * 1024;
  o.timeoutSeconds = kTimeout;
  return o;
}

shoalPsServerStats waitStats(shoalPs_t ps, int deadWorkers, uint64_t pushes) {
  shoalPsServerStats s{};
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (std::chrono::steady_clock::now() < deadline) {
    EXPECT_EQ(shoalPsGetServerStats(ps, &s), shoalSuccess);
    if (s.deadWorkers >= deadWorkers && s.pushesAccepted >= pushes) return s;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  ADD_FAILURE() << "server saw " << s.deadWorkers << " dead workers and " << s.pushesAccepted
                << " pushes, want " << deadWorkers << " and " << pushes;
  return s;
}

// Joins the job as a server when rank >= firstServer; nullptr (and a
// failure) if that fails.
shoalPs_t join(int n, const shoalUniqueId& id, int rank, int firstServer, shoalPsOptions o) {
  shoalPs_t ps = nullptr;
  int role = rank < firstServer ? shoalPsRoleWorker : shoalPsRoleServer;
  if (shoalPsInitRank(&ps, n, id, rank, role, &o) != shoalSuccess) {
    ADD_FAILURE() << "rank " << rank << ": " << shoalPsGetLastError(nullptr);
    return nullptr;
  }
  return ps;
}

// One push_pull of key 1 (a push where out is null), submitted and waited
// for, and how it ended.
shoal::test::CallOutcome run(shoalPs_t ps, const std::vector<float>& g, std::vector<float>* out) {
  return timedCall(
      [&] {
        shoalPsHandle_t h;
        shoalResult_t r =
            out ? shoalPsPushPull(ps, 1, g.data(), out->data(), g.size(), shoalFloat32, &h)
                : shoalPsPush(ps, 1, g.data(), g.size(), shoalFloat32, &h);
        return r == shoalSuccess ? shoalPsWait(ps, h, nullptr) : r;
      },
      [&] { return std::string(shoalPsGetLastError(ps)); });
}

class PsFaults : public testing::TestWithParam<std::string> {
 protected:
  shoal::test::MultiProcessOptions mp() const { return shoal::test::faultRun(GetParam(), 120); }
};

// Sync: workers 0, 1, 2 and server 3; worker 2 dies after round 1.
TEST_P(PsFaults, WorkerDiesSyncOthersGetAnError) {
  SHOAL_SKIP_UNLESS_USABLE(GetParam());
  const size_t count = 1000;
  auto results = runRanks(
      4,
      [&](int rank, int n, const shoalUniqueId& id) {
        shoalPs_t ps = join(n, id, rank, 3, options(shoalPsSync));
        ASSERT_NE(ps, nullptr);
        if (rank == 3) {
          shoalPsServerStats s = waitStats(ps, 1, 3);
          EXPECT_EQ(s.deadWorkers, 1);
          EXPECT_EQ(s.roundsCompleted, 1u);
          ASSERT_EQ(shoalPsFinalize(ps), shoalSuccess) << shoalPsGetLastError(nullptr);
          return;
        }
        std::vector<float> g(count), out(count);
        for (size_t i = 0; i < count; ++i) g[i] = gradient(rank, 1, i);
        auto first = run(ps, g, &out);
        ASSERT_EQ(first.code, shoalSuccess) << first.error;
        for (size_t i = 0; i < count; ++i) {
          ASSERT_EQ(out[i], gradient(0, 1, i) + gradient(1, 1, i) + gradient(2, 1, i));
        }
        if (rank == 2) raise(SIGKILL);
        expectOutcome(run(ps, g, &out), shoalRemoteError, {"worker rank 2 died", "server rank 3"},
                      kTimeout / 2);
        // Later operations on the broken job fail the same way at once.
        expectOutcome(run(ps, g, nullptr), shoalRemoteError, {"worker rank 2 died"}, 1.0);
        ASSERT_EQ(shoalPsFinalize(ps), shoalSuccess) << shoalPsGetLastError(nullptr);
      },
      mp());
  expectOnlyVictimKilled(results, 2);
}

// Async: worker 2 dies after one push; workers 0 and 1 push five more times
// each, and the value holds exactly the 13 accepted pushes.
TEST_P(PsFaults, WorkerDiesAsyncOthersProceed) {
  SHOAL_SKIP_UNLESS_USABLE(GetParam());
  const size_t count = 20000;  // two partitions
  auto results = runRanks(
      4,
      [&](int rank, int n, const shoalUniqueId& id) {
        shoalPs_t ps = join(n, id, rank, 3, options(shoalPsAsync));
        ASSERT_NE(ps, nullptr);
        if (rank == 3) {
          shoalPsServerStats s = waitStats(ps, 1, 13 * 2);
          EXPECT_EQ(s.deadWorkers, 1);
          ASSERT_EQ(shoalPsFinalize(ps), shoalSuccess) << shoalPsGetLastError(nullptr);
          return;
        }
        std::vector<float> g(count);
        const int pushes = rank == 2 ? 1 : 6;
        for (int r = 1; r <= pushes; ++r) {
          for (size_t i = 0; i < count; ++i) g[i] = gradient(rank, r, i);
          shoalPsHandle_t h;
          ASSERT_EQ(shoalPsPush(ps, 1, g.data(), count, shoalFloat32, &h), shoalSuccess);
          ASSERT_EQ(shoalPsWait(ps, h, nullptr), shoalSuccess) << shoalPsGetLastError(ps);
        }
        if (rank == 2) raise(SIGKILL);
        if (rank == 0) {
          std::vector<float> out(count);
          auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
          uint64_t version = 0;
          while (version < 13 && std::chrono::steady_clock::now() < deadline) {
            shoalPsHandle_t h;
            ASSERT_EQ(shoalPsPull(ps, 1, out.data(), count, shoalFloat32, &h), shoalSuccess);
            ASSERT_EQ(shoalPsWait(ps, h, &version), shoalSuccess) << shoalPsGetLastError(ps);
            if (version < 13) std::this_thread::sleep_for(std::chrono::milliseconds(5));
          }
          ASSERT_EQ(version, 13u);
          for (size_t i = 0; i < count; ++i) {
            float want = gradient(2, 1, i);
            for (int r = 1; r <= 6; ++r) want += gradient(0, r, i) + gradient(1, r, i);
            ASSERT_EQ(out[i], want) << "element " << i;
          }
        }
        ASSERT_EQ(shoalPsFinalize(ps), shoalSuccess) << shoalPsGetLastError(nullptr);
      },
      mp());
  expectOnlyVictimKilled(results, 2);
}

// Workers 0, 1; servers 2, 3 share the key's four partitions. Server 3 dies
// after round 1; round 2 fails on both workers naming it.
TEST_P(PsFaults, ServerDiesWorkersGetAnErrorNamingIt) {
  SHOAL_SKIP_UNLESS_USABLE(GetParam());
  const size_t count = 50021;
  auto results = runRanks(
      4,
      [&](int rank, int n, const shoalUniqueId& id) {
        shoalPs_t ps = join(n, id, rank, 2, options(shoalPsSync));
        ASSERT_NE(ps, nullptr);
        if (rank >= 2) {
          int index = -1, servers = 0;
          ASSERT_EQ(shoalPsServerIndex(ps, &index, &servers), shoalSuccess);
          ASSERT_EQ(servers, 2);
          if (rank == 3) {
            // Both workers' round-1 pushes of this server's partitions.
            waitStats(ps, 0, 2 * 2);
            raise(SIGKILL);
          }
          ASSERT_EQ(shoalPsFinalize(ps), shoalSuccess) << shoalPsGetLastError(nullptr);
          return;
        }
        std::vector<float> g(count, 1.0f), out(count);
        auto first = run(ps, g, &out);
        ASSERT_EQ(first.code, shoalSuccess) << first.error;
        for (size_t i = 0; i < count; ++i) ASSERT_EQ(out[i], 2.0f);
        std::this_thread::sleep_for(std::chrono::milliseconds(300));
        expectOutcome(run(ps, g, &out), shoalRemoteError, {"server rank 3"}, kTimeout);
        ASSERT_EQ(shoalPsFinalize(ps), shoalSuccess) << shoalPsGetLastError(nullptr);
      },
      mp());
  expectOnlyVictimKilled(results, 3);
}

// A server that stops answering without dying (SIGSTOP): the worker's
// operation fails with shoalTimeout naming it once the deadline passes.
TEST(PsFaultsHang, StoppedServerTimesOutNamingIt) {
  int fds[2];
  ASSERT_EQ(pipe(fds), 0);
  const double timeout = 2;
  auto results = runRanks(
      2,
      [&](int rank, int n, const shoalUniqueId& id) {
        shoalPsOptions o = options(shoalPsSync);
        o.timeoutSeconds = timeout;
        shoalPs_t ps = join(n, id, rank, 1, o);
        ASSERT_NE(ps, nullptr);
        if (rank == 1) {
          waitStats(ps, 0, 1);
          pid_t me = getpid();
          ASSERT_EQ(write(fds[1], &me, sizeof(me)), static_cast<ssize_t>(sizeof(me)));
          raise(SIGSTOP);
          ADD_FAILURE() << "the stopped server was resumed";
          return;
        }
        std::vector<float> g(100, 1.0f), out(100);
        auto first = run(ps, g, &out);
        ASSERT_EQ(first.code, shoalSuccess) << first.error;
        pid_t server = 0;
        ASSERT_EQ(read(fds[0], &server, sizeof(server)), static_cast<ssize_t>(sizeof(server)));
        // Give the server time to stop before the next round.
        std::this_thread::sleep_for(std::chrono::milliseconds(200));
        expectOutcome(run(ps, g, &out), shoalTimeout, {"server ranks {1}"}, timeout + 3,
                      timeout * 0.9);
        kill(server, SIGKILL);  // nothing else would end it
        ASSERT_EQ(shoalPsFinalize(ps), shoalSuccess) << shoalPsGetLastError(nullptr);
      },
      shoal::test::faultRun("shm", 60));
  close(fds[0]);
  close(fds[1]);
  expectOnlyVictimKilled(results, 1);
}

INSTANTIATE_TEST_SUITE_P(Transports, PsFaults, testing::Values("shm", "ucx"),
                         [](const testing::TestParamInfo<std::string>& info) {
                           return info.param;
                         });

}  // namespace
