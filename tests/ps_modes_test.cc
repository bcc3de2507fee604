// Parameter-server consistency modes and update rules, exact results:
// asynchronous pushes all land (the final value is the sum of every push),
// bounded staleness is never exceeded (the server's recorded maximum lead of a
// worker over the slowest one stays within the bound, and reaches it when one
// worker races ahead), and the sgd and momentum rules match a reference
// computed with the same float operations. Also: ranks that disagree on the
// options fail init with both settings named.
#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <string>
#include <thread>
#include <vector>

#include "shoal/ps.h"
#include "util/multiprocess.h"
#include "util/ps_values.h"

namespace {

using shoal::test::runRanks;

using shoal::test::psGradient;

shoalPsOptions options(shoalPsMode_t mode, shoalPsUpdate_t update) {
  shoalPsOptions o{};
  o.mode = mode;
  o.staleness = 2;
  o.update = update;
  o.learningRate = 0.5;
  o.momentum = 0.5;
  o.partitionBytes = 64 * 1024;
  o.timeoutSeconds = 60;
  return o;
}

shoalPs_t init(int rank, int n, const shoalUniqueId& id, bool worker, const shoalPsOptions& o) {
  shoalPs_t ps = nullptr;
  shoalResult_t r =
      shoalPsInitRank(&ps, n, id, rank, worker ? shoalPsRoleWorker : shoalPsRoleServer, &o);
  EXPECT_EQ(r, shoalSuccess) << shoalPsGetLastError(nullptr);
  return ps;
}

// Pulls until every partition reached `version` (async modes: the number of
// pushes applied), then returns the value.
std::vector<float> pullAtVersion(shoalPs_t ps, uint64_t key, size_t count, uint64_t version) {
  std::vector<float> out(count);
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  for (;;) {
    shoalPsHandle_t h;
    EXPECT_EQ(shoalPsPull(ps, key, out.data(), count, shoalFloat32, &h), shoalSuccess);
    uint64_t v = 0;
    EXPECT_EQ(shoalPsWait(ps, h, &v), shoalSuccess) << shoalPsGetLastError(ps);
    if (v >= version) {
      EXPECT_EQ(v, version);
      return out;
    }
    if (std::chrono::steady_clock::now() > deadline) {
      ADD_FAILURE() << "key " << key << " stayed at version " << v << ", want " << version;
      return out;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
}

// The server side of a test: waits until it accepted `pushes`, returns its stats.
shoalPsServerStats waitForPushes(shoalPs_t ps, uint64_t pushes) {
  shoalPsServerStats s{};
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (std::chrono::steady_clock::now() < deadline) {
    EXPECT_EQ(shoalPsGetServerStats(ps, &s), shoalSuccess);
    if (s.pushesAccepted >= pushes) return s;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  ADD_FAILURE() << "server accepted " << s.pushesAccepted << " pushes, want " << pushes;
  return s;
}

TEST(PsAsync, EveryPushLandsExactlyOnce) {
  const int workers = 3, servers = 2, rounds = 10;
  const size_t count = 50021;  // four 64 KiB partitions, the last one short
  auto results = runRanks(workers + servers, [&](int rank, int n, const shoalUniqueId& id) {
    shoalPs_t ps = init(rank, n, id, rank < workers, options(shoalPsAsync, shoalPsUpdateSum));
    ASSERT_NE(ps, nullptr);
    if (rank < workers) {
      std::vector<float> g(count);
      for (int r = 1; r <= rounds; ++r) {
        for (size_t i = 0; i < count; ++i) g[i] = psGradient(rank, r, 5, i);
        shoalPsHandle_t h;
        ASSERT_EQ(shoalPsPush(ps, 5, g.data(), count, shoalFloat32, &h), shoalSuccess);
        ASSERT_EQ(shoalPsWait(ps, h, nullptr), shoalSuccess) << shoalPsGetLastError(ps);
      }
      auto out = pullAtVersion(ps, 5, count, static_cast<uint64_t>(workers * rounds));
      for (size_t i = 0; i < count; ++i) {
        float want = 0;
        for (int r = 1; r <= rounds; ++r) {
          for (int w = 0; w < workers; ++w) want += psGradient(w, r, 5, i);
        }
        ASSERT_EQ(out[i], want) << "element " << i;
      }
    }
    ASSERT_EQ(shoalPsFinalize(ps), shoalSuccess) << shoalPsGetLastError(nullptr);
  });
  shoal::test::expectAllRanksPassed(results);
}

// Worker 0 pushes as fast as it can, worker 2 slowly: the server holds worker
// 0 at `staleness` pushes ahead and records that lead.
TEST(PsBoundedStaleness, LeadNeverExceedsTheBound) {
  const int workers = 3, rounds = 24;
  const size_t count = 1000;
  auto results = runRanks(workers + 1, [&](int rank, int n, const shoalUniqueId& id) {
    shoalPsOptions o = options(shoalPsBoundedStaleness, shoalPsUpdateSum);
    shoalPs_t ps = init(rank, n, id, rank < workers, o);
    ASSERT_NE(ps, nullptr);
    if (rank < workers) {
      std::vector<float> g(count);
      for (int r = 1; r <= rounds; ++r) {
        for (size_t i = 0; i < count; ++i) g[i] = psGradient(rank, r, 8, i);
        shoalPsHandle_t h;
        ASSERT_EQ(shoalPsPush(ps, 8, g.data(), count, shoalFloat32, &h), shoalSuccess);
        uint64_t version = 0;
        ASSERT_EQ(shoalPsWait(ps, h, &version), shoalSuccess) << shoalPsGetLastError(ps);
        EXPECT_GE(version, static_cast<uint64_t>(r));
        if (rank == 2) std::this_thread::sleep_for(std::chrono::milliseconds(10));
        if (rank == 1) std::this_thread::sleep_for(std::chrono::milliseconds(2));
      }
      auto out = pullAtVersion(ps, 8, count, static_cast<uint64_t>(workers * rounds));
      for (size_t i = 0; i < count; ++i) {
        float want = 0;
        for (int r = 1; r <= rounds; ++r) {
          for (int w = 0; w < workers; ++w) want += psGradient(w, r, 8, i);
        }
        ASSERT_EQ(out[i], want) << "element " << i;
      }
    } else {
      shoalPsServerStats s = waitForPushes(ps, static_cast<uint64_t>(workers * rounds));
      EXPECT_LE(s.maxLead, o.staleness) << "a worker ran further ahead than the bound";
      EXPECT_EQ(s.maxLead, o.staleness) << "the fast worker never reached the bound: the test "
                                           "did not exercise the hold";
    }
    ASSERT_EQ(shoalPsFinalize(ps), shoalSuccess) << shoalPsGetLastError(nullptr);
  });
  shoal::test::expectAllRanksPassed(results);
}

// sync rounds with sgd (lr 0.5) and momentum (mu 0.5, lr 0.5): powers of two
// on small integers, so the reference is exact.
class PsUpdate : public testing::TestWithParam<shoalPsUpdate_t> {};

TEST_P(PsUpdate, MatchesReference) {
  const shoalPsUpdate_t update = GetParam();
  const int workers = 2, servers = 2, rounds = 4;
  const size_t count = 30011;
  auto results = runRanks(workers + servers, [&](int rank, int n, const shoalUniqueId& id) {
    shoalPsOptions o = options(shoalPsSync, update);
    shoalPs_t ps = init(rank, n, id, rank < workers, o);
    ASSERT_NE(ps, nullptr);
    if (rank < workers) {
      std::vector<float> g(count), out(count), value(count, 0.0f), m(count, 0.0f);
      const float lr = static_cast<float>(o.learningRate), mu = static_cast<float>(o.momentum);
      for (int r = 1; r <= rounds; ++r) {
        for (size_t i = 0; i < count; ++i) g[i] = psGradient(rank, r, 3, i);
        shoalPsHandle_t h;
        ASSERT_EQ(shoalPsPushPull(ps, 3, g.data(), out.data(), count, shoalFloat32, &h),
                  shoalSuccess);
        uint64_t version = 0;
        ASSERT_EQ(shoalPsWait(ps, h, &version), shoalSuccess) << shoalPsGetLastError(ps);
        EXPECT_EQ(version, static_cast<uint64_t>(r));
        for (size_t i = 0; i < count; ++i) {
          float sum = 0;
          for (int w = 0; w < workers; ++w) sum += psGradient(w, r, 3, i);
          if (update == shoalPsUpdateSgd) {
            value[i] -= lr * sum;
          } else {
            m[i] = mu * m[i] + sum;
            value[i] -= lr * m[i];
          }
          ASSERT_EQ(out[i], value[i]) << "round " << r << " element " << i;
        }
      }
      // The rules need floating point; an integer key is refused by the server.
      std::vector<int32_t> ints(10, 1);
      shoalPsHandle_t h;
      ASSERT_EQ(shoalPsPush(ps, 4, ints.data(), ints.size(), shoalInt32, &h), shoalSuccess);
      EXPECT_EQ(shoalPsWait(ps, h, nullptr), shoalInvalidUsage);
      EXPECT_NE(std::string(shoalPsGetLastError(ps)).find("float32 or float64"), std::string::npos)
          << shoalPsGetLastError(ps);
    }
    ASSERT_EQ(shoalPsFinalize(ps), shoalSuccess) << shoalPsGetLastError(nullptr);
  });
  shoal::test::expectAllRanksPassed(results);
}

INSTANTIATE_TEST_SUITE_P(Rules, PsUpdate, testing::Values(shoalPsUpdateSgd, shoalPsUpdateMomentum),
                         [](const testing::TestParamInfo<shoalPsUpdate_t>& info) {
                           return std::string(info.param == shoalPsUpdateSgd ? "sgd" : "momentum");
                         });

TEST(PsInit, RanksDisagreeingOnOptionsFail) {
  auto results = runRanks(2, [&](int rank, int n, const shoalUniqueId& id) {
    shoalPsOptions o = options(shoalPsSync, shoalPsUpdateSum);
    if (rank == 1) o.mode = shoalPsAsync;
    shoalPs_t ps = nullptr;
    EXPECT_EQ(
        shoalPsInitRank(&ps, n, id, rank, rank == 0 ? shoalPsRoleWorker : shoalPsRoleServer, &o),
        shoalInvalidUsage);
    EXPECT_NE(std::string(shoalPsGetLastError(nullptr)).find("options differ"), std::string::npos)
        << shoalPsGetLastError(nullptr);
    EXPECT_EQ(ps, nullptr);
  });
  shoal::test::expectAllRanksPassed(results);
}

TEST(PsInit, BadArguments) {
  auto results = runRanks(2, [&](int rank, int n, const shoalUniqueId& id) {
    shoalPsOptions o = options(shoalPsSync, shoalPsUpdateSum);
    shoalPs_t ps = nullptr;
    ASSERT_EQ(
        shoalPsInitRank(&ps, n, id, rank, rank == 0 ? shoalPsRoleWorker : shoalPsRoleServer, &o),
        shoalSuccess)
        << shoalPsGetLastError(nullptr);
    float x[4] = {1, 2, 3, 4};
    shoalPsHandle_t h;
    if (rank == 0) {
      EXPECT_EQ(shoalPsPush(ps, 1, nullptr, 4, shoalFloat32, &h), shoalInvalidArgument);
      EXPECT_EQ(shoalPsPush(ps, 1, x, 4, static_cast<shoalDataType_t>(77), &h),
                shoalInvalidArgument);
      EXPECT_EQ(shoalPsPushPull(ps, 1, x, x + 1, 3, shoalFloat32, &h), shoalInvalidArgument);
      EXPECT_NE(std::string(shoalPsGetLastError(ps)).find("overlap"), std::string::npos);
      EXPECT_EQ(shoalPsWait(ps, 12345, nullptr), shoalInvalidArgument);
      // A key keeps the size of its first use.
      ASSERT_EQ(shoalPsPush(ps, 1, x, 4, shoalFloat32, &h), shoalSuccess);
      ASSERT_EQ(shoalPsWait(ps, h, nullptr), shoalSuccess) << shoalPsGetLastError(ps);
      ASSERT_EQ(shoalPsPush(ps, 1, x, 3, shoalFloat32, &h), shoalSuccess);
      EXPECT_EQ(shoalPsWait(ps, h, nullptr), shoalInvalidArgument);
      EXPECT_NE(std::string(shoalPsGetLastError(ps)).find("first used"), std::string::npos)
          << shoalPsGetLastError(ps);
    } else {
      EXPECT_EQ(shoalPsPush(ps, 1, x, 4, shoalFloat32, &h), shoalInvalidUsage);
      EXPECT_NE(std::string(shoalPsGetLastError(ps)).find("no worker"), std::string::npos);
    }
    ASSERT_EQ(shoalPsFinalize(ps), shoalSuccess) << shoalPsGetLastError(nullptr);
  });
  shoal::test::expectAllRanksPassed(results);
}

}  // namespace
