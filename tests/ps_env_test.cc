// shoalPsInitFromEnv: roles from SHOAL_ROLE with shoal's launch variables, and
// from ps-lite's DMLC_* variables with a scheduler process that only hosts the
// rendezvous. Each job then does one exact push_pull round.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdlib>
#include <string>
#include <vector>

#include "shoal/ps.h"
#include "util/multiprocess.h"

namespace {

// A port that was free a moment ago on loopback.
int freePort() {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0) return -1;
  socklen_t len = sizeof(a);
  getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  close(fd);
  return ntohs(a.sin_port);
}

// One round on a running job: every worker pushes (index + 1) and must read
// the sum over all workers.
void oneRound(shoalPs_t ps) {
  int roles = 0;
  ASSERT_EQ(shoalPsRoles(ps, &roles), shoalSuccess);
  if (roles & shoalPsRoleWorker) {
    int index = -1, workers = 0;
    ASSERT_EQ(shoalPsWorkerIndex(ps, &index, &workers), shoalSuccess);
    std::vector<float> g(777, static_cast<float>(index + 1)), out(777);
    shoalPsHandle_t h;
    ASSERT_EQ(shoalPsPushPull(ps, 1, g.data(), out.data(), g.size(), shoalFloat32, &h),
              shoalSuccess);
    uint64_t version = 0;
    ASSERT_EQ(shoalPsWait(ps, h, &version), shoalSuccess) << shoalPsGetLastError(ps);
    EXPECT_EQ(version, 1u);
    for (float v : out) ASSERT_EQ(v, static_cast<float>(workers * (workers + 1) / 2));
  }
}

TEST(PsEnv, ShoalRole) {
  const int port = freePort();
  ASSERT_GT(port, 0);
  shoal::test::MultiProcessOptions mp;
  mp.env["SHOAL_ROOT"] = "127.0.0.1:" + std::to_string(port);
  mp.env["SHOAL_SECRET"] = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
  mp.env["SHOAL_WORLD_SIZE"] = "3";
  auto results = shoal::test::runRanks(
      3,
      [](int rank, int, const shoalUniqueId&) {
        setenv("SHOAL_RANK", std::to_string(rank).c_str(), 1);
        setenv("SHOAL_ROLE", rank == 0 ? "server" : rank == 1 ? "worker" : "both", 1);
        shoalPs_t ps = nullptr;
        ASSERT_EQ(shoalPsInitFromEnv(&ps), shoalSuccess) << shoalPsGetLastError(nullptr);
        int index = -1, servers = 0;
        ASSERT_EQ(shoalPsServerIndex(ps, &index, &servers), shoalSuccess);
        EXPECT_EQ(servers, 2);
        oneRound(ps);
        ASSERT_EQ(shoalPsFinalize(ps), shoalSuccess) << shoalPsGetLastError(nullptr);
      },
      mp);
  shoal::test::expectAllRanksPassed(results);
}

TEST(PsEnv, DmlcVariablesWithScheduler) {
  const int port = freePort();
  ASSERT_GT(port, 0);
  shoal::test::MultiProcessOptions mp;
  mp.env["DMLC_NUM_WORKER"] = "2";
  mp.env["DMLC_NUM_SERVER"] = "1";
  mp.env["DMLC_PS_ROOT_URI"] = "127.0.0.1";
  mp.env["DMLC_PS_ROOT_PORT"] = std::to_string(port);
  mp.env["SHOAL_SECRET"] = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";
  auto results = shoal::test::runRanks(
      4,
      [](int index, int, const shoalUniqueId&) {
        // index 0: scheduler; 1, 2: workers 0 and 1; 3: server 0.
        if (index == 0) {
          setenv("DMLC_ROLE", "scheduler", 1);
        } else if (index <= 2) {
          setenv("DMLC_ROLE", "worker", 1);
          setenv("DMLC_WORKER_ID", std::to_string(index - 1).c_str(), 1);
        } else {
          setenv("DMLC_ROLE", "server", 1);
          setenv("DMLC_SERVER_ID", "0", 1);
        }
        shoalPs_t ps = nullptr;
        ASSERT_EQ(shoalPsInitFromEnv(&ps), shoalSuccess) << shoalPsGetLastError(nullptr);
        int roles = -1;
        ASSERT_EQ(shoalPsRoles(ps, &roles), shoalSuccess);
        EXPECT_EQ(roles, index == 0 ? 0 : index <= 2 ? shoalPsRoleWorker : shoalPsRoleServer);
        oneRound(ps);
        ASSERT_EQ(shoalPsFinalize(ps), shoalSuccess) << shoalPsGetLastError(nullptr);
      },
      mp);
  shoal::test::expectAllRanksPassed(results);
}

TEST(PsEnv, MissingVariablesAreNamed) {
  auto results = shoal::test::runRanks(1, [](int, int, const shoalUniqueId&) {
    unsetenv("SHOAL_ROLE");
    unsetenv("DMLC_ROLE");
    shoalPs_t ps = nullptr;
    EXPECT_EQ(shoalPsInitFromEnv(&ps), shoalInvalidUsage);
    EXPECT_NE(std::string(shoalPsGetLastError(nullptr)).find("SHOAL_ROLE"), std::string::npos);
    setenv("DMLC_ROLE", "server", 1);
    setenv("DMLC_NUM_WORKER", "1", 1);
    setenv("DMLC_NUM_SERVER", "1", 1);
    setenv("DMLC_PS_ROOT_URI", "127.0.0.1", 1);
    setenv("DMLC_PS_ROOT_PORT", "9", 1);
    unsetenv("DMLC_SERVER_ID");
    unsetenv("SHOAL_RANK");
    EXPECT_EQ(shoalPsInitFromEnv(&ps), shoalInvalidUsage);
    EXPECT_NE(std::string(shoalPsGetLastError(nullptr)).find("DMLC_SERVER_ID"), std::string::npos)
        << shoalPsGetLastError(nullptr);
    EXPECT_EQ(ps, nullptr);
  });
  shoal::test::expectAllRanksPassed(results);
}

}  // namespace
