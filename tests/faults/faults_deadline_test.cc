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

#include "util/multiprocess.h"

namespace {

using shoal::test::runRanks;

double since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

// Rank 1 joins the communicator but never calls the collective.
TEST(FaultsDeadline, TimeoutNamesOperationSequenceAlgorithmAndMissingRank) {
  shoal::test::MultiProcessOptions opts;
  opts.env["SHOAL_TIMEOUT"] = "60";  // the per-communicator setting must win
  opts.env["SHOAL_ALGO"] = "ring";
  opts.timeoutSeconds = 60;
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
        ASSERT_EQ(shoalAllReduce(buf.data(), buf.data(), buf.size(), shoalFloat32, shoalSum, comm,
                                 nullptr),
                  shoalSuccess);
        if (rank == 1) {
          std::this_thread::sleep_for(std::chrono::seconds(4));  // alive, silent
          shoalCommAbort(comm);
          return;
        }
        auto t0 = std::chrono::steady_clock::now();
        shoalResult_t r = shoalAllReduce(buf.data(), buf.data(), buf.size(), shoalFloat32, shoalSum,
                                         comm, nullptr);
        double secs = since(t0);
        std::string msg = shoalGetLastError(comm);
        EXPECT_EQ(r, shoalTimeout) << msg;
        EXPECT_GE(secs, 0.9);
        EXPECT_LT(secs, 3.0);
        EXPECT_NE(msg.find("rank 0: allreduce #2 (ring over "), std::string::npos) << msg;
        EXPECT_NE(msg.find("waiting for ranks {1}"), std::string::npos) << msg;
        // The communicator refuses further work, naming the first error.
        EXPECT_EQ(shoalAllReduce(buf.data(), buf.data(), 1, shoalFloat32, shoalSum, comm, nullptr),
                  shoalInvalidUsage);
        msg = shoalGetLastError(comm);
        EXPECT_NE(msg.find("unusable after an earlier error"), std::string::npos) << msg;
        EXPECT_NE(msg.find("waiting for ranks {1}"), std::string::npos) << msg;
        EXPECT_EQ(shoalCommDestroy(comm), shoalSuccess);
      },
      opts);
  shoal::test::expectAllRanksPassed(results);
}

// A rank stuck in a collective whose peer never comes: another thread aborts
// after 200 ms and the call returns within about a second.
TEST(FaultsDeadline, AbortFromAnotherThreadEndsAStuckCall) {
  shoal::test::MultiProcessOptions opts;
  opts.env["SHOAL_TIMEOUT"] = "60";
  // The automatic choice: its agreement over the bootstrap mesh happens when
  // the communicator is built, so the first call waits only where abort
  // reaches it.
  opts.env["SHOAL_ALGO"] = "";
  opts.timeoutSeconds = 60;
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
        std::vector<double> buf(4096, 2.0);
        auto t0 = std::chrono::steady_clock::now();
        shoalResult_t r = shoalAllReduce(buf.data(), buf.data(), buf.size(), shoalFloat64, shoalSum,
                                         comm, nullptr);
        double secs = since(t0);
        // comm is gone: the message is the calling thread's.
        std::string msg = shoalGetLastError(nullptr);
        aborter.join();
        EXPECT_EQ(abortResult.load(), shoalSuccess);
        EXPECT_EQ(r, shoalInvalidUsage) << msg;
        EXPECT_NE(msg.find("aborted by shoalCommAbort while waiting for ranks {1}"),
                  std::string::npos)
            << msg;
        EXPECT_NE(msg.find("allreduce #1"), std::string::npos) << msg;
        EXPECT_GE(secs, 0.15);
        EXPECT_LT(secs, 1.2);
        // The handle is dead now: refused, never dereferenced.
        EXPECT_EQ(shoalAllReduce(buf.data(), buf.data(), 1, shoalFloat64, shoalSum, comm, nullptr),
                  shoalInvalidUsage);
        EXPECT_NE(std::string(shoalGetLastError(nullptr)).find("not a live communicator"),
                  std::string::npos);
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
  shoal::test::MultiProcessOptions opts;
  opts.env["SHOAL_TIMEOUT"] = "30";
  opts.env["SHOAL_ALGO"] = "ring";  // the executor's wait, not the tuner's agreement
  opts.timeoutSeconds = 60;
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
