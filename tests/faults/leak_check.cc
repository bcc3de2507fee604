// The fault matrix's leak checks (tests/util/fault_case.h) must see what is
// left: a descriptor, a thread, a transport mapping, shared memory left by a
// process that exited; and a live communicator must show up as held until it
// is destroyed, so that a check finding nothing after destroy means something.
// Built into faults_matrix_test (ctest faults_leak_check).
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/ipc.h>
#include <sys/mman.h>
#include <sys/shm.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <string>
#include <thread>

#include "util/fault_case.h"
#include "util/multiprocess.h"

namespace {

using shoal::test::leakedSince;
using shoal::test::processResources;
using shoal::test::resourcesHeldSince;

TEST(LeakCheck, SeesDescriptorsThreadsAndMappings) {
  const auto before = processResources();
  EXPECT_EQ(resourcesHeldSince(before, processResources()), "");
  int p[2];
  ASSERT_EQ(pipe(p), 0);
  std::atomic<bool> stop{false};
  std::thread t([&] {
    while (!stop) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  });
  int fd = memfd_create("shoal-shm", MFD_CLOEXEC);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(ftruncate(fd, 4096), 0);
  void* m = mmap(nullptr, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  ASSERT_NE(m, MAP_FAILED);
  EXPECT_EQ(resourcesHeldSince(before, processResources()),
            "fds +1 /memfd:shoal-shm (deleted), +2 pipe; threads +1; mappings +1 memfd:shoal");
  close(fd);
  EXPECT_EQ(resourcesHeldSince(before, processResources()),
            "fds +2 pipe; threads +1; mappings +1 memfd:shoal");
  munmap(m, 4096);
  close(p[0]);
  close(p[1]);
  stop = true;
  t.join();
  EXPECT_EQ(leakedSince(before, 1.0), "");
}

TEST(LeakCheck, SeesSharedMemoryAnExitedProcessLeft) {
  const auto before = shoal::test::sharedMemoryObjects();
  const std::string name = "/shoal-leakcheck-" + std::to_string(getpid());
  pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    int fd = shm_open(name.c_str(), O_CREAT | O_RDWR, 0600);
    int seg = shmget(IPC_PRIVATE, 4096, IPC_CREAT | 0600);
    if (fd >= 0 && seg < 0) shm_unlink(name.c_str());
    if (fd < 0 && seg >= 0) shmctl(seg, IPC_RMID, nullptr);
    _exit(fd >= 0 && seg >= 0 ? 0 : 1);
  }
  int status = 0;
  ASSERT_EQ(waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFEXITED(status));
  if (WEXITSTATUS(status) != 0) GTEST_SKIP() << "no POSIX or SysV shared memory here";
  std::string left = shoal::test::sharedMemoryLeftBy(before, {child});
  EXPECT_NE(left.find("/dev/shm" + name), std::string::npos) << left;
  EXPECT_NE(left.find("SysV shm "), std::string::npos) << left;
  EXPECT_NE(left.find("of pid " + std::to_string(child)), std::string::npos) << left;
  shm_unlink(name.c_str());
  for (const auto& [seg, cpid] : shoal::test::sharedMemoryObjects().sysvCreator) {
    if (cpid == child) shmctl(atoi(seg.substr(seg.find('/') + 1).c_str()), IPC_RMID, nullptr);
  }
  EXPECT_EQ(shoal::test::sharedMemoryLeftBy(before, {child}), "");
}

// A live communicator holds sockets and transport memory; destroy gives it all back.
TEST(LeakCheck, LiveCommunicatorIsHeldUntilDestroyed) {
  shoal::test::MultiProcessOptions opts;
  opts.env["SHOAL_TRANSPORT"] = "shm";
  opts.env["SHOAL_TIMEOUT"] = "30";
  opts.env["UCX_WARN_UNUSED_ENV_VARS"] = "n";
  opts.timeoutSeconds = 60;
  auto results = shoal::test::runRanks(
      2,
      [](int rank, int n, const shoalUniqueId& id) {
        const auto before = processResources();
        shoalComm_t comm = nullptr;
        ASSERT_EQ(shoalCommInitRank(&comm, n, id, rank), shoalSuccess)
            << shoalGetLastError(nullptr);
        int32_t v = rank + 1;
        ASSERT_EQ(shoalAllReduce(&v, &v, 1, shoalInt32, shoalSum, comm, nullptr), shoalSuccess)
            << shoalGetLastError(comm);
        EXPECT_EQ(v, 3);
        std::string held = resourcesHeldSince(before, processResources());
        EXPECT_NE(held.find("socket"), std::string::npos) << "rank " << rank << ": " << held;
        EXPECT_NE(held.find("mappings +"), std::string::npos) << "rank " << rank << ": " << held;
        ASSERT_EQ(shoalCommDestroy(comm), shoalSuccess) << shoalGetLastError(nullptr);
        EXPECT_EQ(leakedSince(before, 2.0), "") << "rank " << rank;
      },
      opts);
  shoal::test::expectAllRanksPassed(results);
}

}  // namespace
