// Deadlines and aborts with real processes: a collective that a peer never
// joins ends with shoalTimeout naming who it waited for; shoalCommAbort from
// another thread ends it promptly; a broken communicator refuses more work.
#include <dirent.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "util/fault_case.h"
#include "util/multiprocess.h"

namespace {

using shoal::test::expectOutcome;
using shoal::test::faultRun;
using shoal::test::runRanks;
using shoal::test::timedCall;

// A float sum over count elements of buf in place.
shoalResult_t sum(std::vector<float>& buf, size_t count, shoalComm_t comm) {
  return shoalAllReduce(buf.data(), buf.data(), count, shoalFloat32, shoalSum, comm, nullptr);
}

// Rank 1 joins the communicator but never calls the collective.
TEST(FaultsDeadline, TimeoutNamesOperationSequenceAlgorithmAndMissingRank) {
  // SHOAL_TIMEOUT 60: the per-communicator setting must win.
  auto opts = faultRun("", 60, {{"SHOAL_TIMEOUT", "60"}, {"SHOAL_ALGO", "ring"}});
  auto results = runRanks(
      2,
      [](int rank, int n, const shoalUniqueId& id) {
        shoalComm_t comm = nullptr;
        ASSERT_EQ(shoalCommInitRank(&comm, n, id, rank), shoalSuccess)
            << shoalGetLastError(nullptr);
        EXPECT_EQ(shoalCommSetTimeout(comm, 0.0), shoalInvalidArgument);
        EXPECT_EQ(shoalCommSetTimeout(comm, -1.0), shoalInvalidArgument);
        ASSERT_EQ(shoalCommSetTimeout(comm, 1.0), shoalSuccess);
        std::vector<float> buf(1000, 1.0f);
        // One good call so the stuck one is #2.
        ASSERT_EQ(sum(buf, buf.size(), comm), shoalSuccess);
        if (rank == 1) {
          std::this_thread::sleep_for(std::chrono::seconds(4));  // alive, silent
          shoalCommAbort(comm);
          return;
        }
        auto lastError = [&] { return std::string(shoalGetLastError(comm)); };
        expectOutcome(timedCall([&] { return sum(buf, buf.size(), comm); }, lastError),
                      shoalTimeout, {"rank 0: allreduce #2 (ring over ", "waiting for ranks {1}"},
                      3.0, 0.9);
        // The communicator refuses further work at once, naming the first error.
        expectOutcome(timedCall([&] { return sum(buf, 1, comm); }, lastError), shoalInvalidUsage,
                      {"unusable after an earlier error", "waiting for ranks {1}"}, 1.0);
        EXPECT_EQ(shoalCommDestroy(comm), shoalSuccess);
      },
      opts);
  shoal::test::expectAllRanksPassed(results);
}

// SHOAL_TIMEOUT alone (no shoalCommSetTimeout) bounds a collective: rank 1
// stays silent for longer, and rank 0 gets shoalTimeout after 2 s, not at
// the 300 s default.
TEST(FaultsDeadline, EnvironmentTimeoutAppliesWithoutPerCommunicatorSetting) {
  auto opts = faultRun("", 60, {{"SHOAL_TIMEOUT", "2"}, {"SHOAL_ALGO", "ring"}});
  auto results = runRanks(
      2,
      [](int rank, int n, const shoalUniqueId& id) {
        shoalComm_t comm = nullptr;
        ASSERT_EQ(shoalCommInitRank(&comm, n, id, rank), shoalSuccess)
            << shoalGetLastError(nullptr);
        std::vector<float> buf(1000, 1.0f);
        if (rank == 1) {
          std::this_thread::sleep_for(std::chrono::seconds(5));  // alive, silent
          shoalCommAbort(comm);
          return;
        }
        auto lastError = [&] { return std::string(shoalGetLastError(comm)); };
        expectOutcome(
            timedCall([&] { return sum(buf, buf.size(), comm); }, lastError), shoalTimeout,
            {"rank 0: allreduce #1 (ring over ", "deadline passed", "waiting for ranks {1}"}, 4.0,
            1.9);
        EXPECT_EQ(shoalCommDestroy(comm), shoalSuccess);
      },
      opts);
  shoal::test::expectAllRanksPassed(results);
}

// A rank stuck in a collective whose peer never comes: another thread aborts
// after 200 ms and the call returns within about a second.
TEST(FaultsDeadline, AbortFromAnotherThreadEndsAStuckCall) {
  // The automatic choice (SHOAL_ALGO ""): its agreement over the bootstrap
  // mesh happens when the communicator is built, so the first call waits
  // only where abort reaches it.
  auto opts = faultRun("", 60, {{"SHOAL_TIMEOUT", "60"}, {"SHOAL_ALGO", ""}});
  auto results = runRanks(
      2,
      [](int rank, int n, const shoalUniqueId& id) {
        shoalComm_t comm = nullptr;
        ASSERT_EQ(shoalCommInitRank(&comm, n, id, rank), shoalSuccess)
            << shoalGetLastError(nullptr);
        if (rank == 1) {
          std::this_thread::sleep_for(std::chrono::seconds(3));
          EXPECT_EQ(shoalCommAbort(comm), shoalSuccess);
          return;
        }
        std::atomic<shoalResult_t> abortResult{shoalInProgress};
        std::thread aborter([&] {
          std::this_thread::sleep_for(std::chrono::milliseconds(200));
          abortResult = shoalCommAbort(comm);
        });
        std::vector<float> buf(4096, 2.0f);
        // comm is gone after the abort: the message is the calling thread's.
        auto lastError = [] { return std::string(shoalGetLastError(nullptr)); };
        auto stuck = timedCall([&] { return sum(buf, buf.size(), comm); }, lastError);
        aborter.join();
        EXPECT_EQ(abortResult.load(), shoalSuccess);
        expectOutcome(stuck, shoalInvalidUsage,
                      {"aborted by shoalCommAbort while waiting for ranks {1}", "allreduce #1"},
                      1.2, 0.15);
        // The handle is dead now: refused, never dereferenced.
        expectOutcome(timedCall([&] { return sum(buf, 1, comm); }, lastError), shoalInvalidUsage,
                      {"not a live communicator"}, 1.0);
      },
      opts);
  shoal::test::expectAllRanksPassed(results);
}

// Runs in a fresh process (started by the test below) so that SHOAL_WATCHDOG
// and SHOAL_DEBUG_FILE are in the environment when the library loads. Rank 1
// joins the collective 2 s late: rank 0's watchdog (0.5 s) warns, naming it,
// and the collective still completes with the right result.
TEST(FaultsDeadline, WatchdogChild) {
  if (!getenv("SHOAL_FAULTS_WATCHDOG_CHILD"))
    GTEST_SKIP() << "run by WatchdogWarnsNamingTheMissingRank";
  // ring: the executor's wait, not the tuner's agreement
  auto opts = faultRun("", 60, {{"SHOAL_TIMEOUT", "30"}, {"SHOAL_ALGO", "ring"}});
  auto results = runRanks(
      2,
      [](int rank, int n, const shoalUniqueId& id) {
        shoalComm_t comm = nullptr;
        ASSERT_EQ(shoalCommInitRank(&comm, n, id, rank), shoalSuccess)
            << shoalGetLastError(nullptr);
        std::vector<int32_t> buf(256, rank + 1);
        if (rank == 1) std::this_thread::sleep_for(std::chrono::seconds(2));
        ASSERT_EQ(
            shoalAllReduce(buf.data(), buf.data(), buf.size(), shoalInt32, shoalSum, comm, nullptr),
            shoalSuccess)
            << shoalGetLastError(comm);
        for (int32_t v : buf) ASSERT_EQ(v, 3);
        EXPECT_EQ(shoalCommDestroy(comm), shoalSuccess);
      },
      opts);
  shoal::test::expectAllRanksPassed(results);
}

TEST(FaultsDeadline, WatchdogWarnsNamingTheMissingRank) {
  if (getenv("SHOAL_FAULTS_WATCHDOG_CHILD")) GTEST_SKIP() << "the child runs WatchdogChild only";
  char dirTemplate[] = "/tmp/shoal-watchdog-XXXXXX";
  ASSERT_NE(mkdtemp(dirTemplate), nullptr);
  std::string dir = dirTemplate;
  char self[4096];
  ssize_t len = readlink("/proc/self/exe", self, sizeof(self) - 1);
  ASSERT_GT(len, 0);
  self[len] = '\0';
  std::string cmd =
      "SHOAL_FAULTS_WATCHDOG_CHILD=1 SHOAL_WATCHDOG=0.5 SHOAL_DEBUG=WARN "
      "SHOAL_DEBUG_FILE=" +
      dir + "/log.%p '" + std::string(self) + "' --gtest_filter=FaultsDeadline.WatchdogChild > " +
      dir + "/child.out 2>&1";
  int rc = system(cmd.c_str());
  std::string all;
  DIR* d = opendir(dir.c_str());
  ASSERT_NE(d, nullptr);
  std::vector<std::string> files;
  while (dirent* e = readdir(d)) {
    if (e->d_name[0] != '.') files.push_back(dir + "/" + e->d_name);
  }
  closedir(d);
  int warnings = 0;
  std::string warning;
  for (const auto& f : files) {
    std::ifstream in(f);
    std::stringstream ss;
    ss << in.rdbuf();
    all += "== " + f + "\n" + ss.str();
    std::string line;
    std::istringstream lines(ss.str());
    while (std::getline(lines, line)) {
      if (line.find("watchdog:") != std::string::npos && f.find("/log.") != std::string::npos) {
        ++warnings;
        warning = line;
      }
    }
    unlink(f.c_str());
  }
  rmdir(dir.c_str());
  EXPECT_EQ(rc, 0) << all;
  EXPECT_EQ(warnings, 1) << all;
  EXPECT_NE(warning.find("WARN"), std::string::npos) << warning;
  EXPECT_NE(warning.find("rank 0: watchdog: allreduce #1 ("), std::string::npos) << warning;
  EXPECT_NE(warning.find("waiting for ranks {1}"), std::string::npos) << warning;
}

}  // namespace
