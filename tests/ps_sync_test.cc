// Parameter server in synchronous mode, exact results: W workers and S servers
// (separate processes) over every usable transport push, pull and push_pull
// keys of several sizes (a few elements, a size that is no multiple of the
// partition size, and 64 MiB on a few combinations) for several rounds; every
// element of every pull must equal the sum of that round's pushes, and every
// version the round number. Verbs variants skip without an RDMA device.
#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <string>
#include <tuple>
#include <vector>

#include "shoal/ps.h"
#include "util/multiprocess.h"
#include "util/ps_rank.h"
#include "util/ps_values.h"

namespace {

using shoal::test::psCheckRound;
using shoal::test::psGradient;
using shoal::test::psInitRank;
using shoal::test::psRoleOf;
using shoal::test::runRanks;

shoalPsOptions syncOptions(size_t partitionBytes) {
  shoalPsOptions o{};
  o.mode = shoalPsSync;
  o.staleness = 0;
  o.update = shoalPsUpdateSum;
  o.learningRate = 0;
  o.momentum = 0;
  o.partitionBytes = partitionBytes;
  o.timeoutSeconds = 60;
  return o;
}

// Ranks 0..W-1 are workers, W..W+S-1 servers. Each worker: a pull before any
// push (zeros, version 0), then rounds alternating push + pull and push_pull.
void runSync(const std::string& transport, int workers, int servers,
             const std::vector<size_t>& counts, size_t partitionBytes, int rounds) {
  shoal::test::MultiProcessOptions mp;
  mp.env["SHOAL_TRANSPORT"] = transport;
  mp.timeoutSeconds = 240;
  auto results = runRanks(
      workers + servers,
      [&](int rank, int n, const shoalUniqueId& id) {
        const bool isWorker = rank < workers;
        shoalPs_t ps = nullptr;
        ASSERT_NO_FATAL_FAILURE(
            psInitRank(&ps, n, id, rank, psRoleOf(rank, workers), syncOptions(partitionBytes)));
        int index = -1, count = 0;
        ASSERT_EQ(shoalPsWorkerIndex(ps, &index, &count), shoalSuccess);
        EXPECT_EQ(count, workers);
        EXPECT_EQ(index, isWorker ? rank : -1);
        if (isWorker) {
          std::vector<std::vector<float>> grads(counts.size()), outs(counts.size());
          for (size_t k = 0; k < counts.size(); ++k) {
            grads[k].resize(counts[k]);
            outs[k].assign(counts[k], -1.0f);
          }
          // Round 0: every key reads as zeros at version 0.
          std::vector<shoalPsHandle_t> h(counts.size());
          for (size_t k = 0; k < counts.size(); ++k) {
            ASSERT_EQ(shoalPsPull(ps, k + 1, outs[k].data(), counts[k], shoalFloat32, &h[k]),
                      shoalSuccess)
                << shoalPsGetLastError(ps);
          }
          for (size_t k = 0; k < counts.size(); ++k) {
            uint64_t version = 99;
            ASSERT_EQ(shoalPsWait(ps, h[k], &version), shoalSuccess) << shoalPsGetLastError(ps);
            EXPECT_EQ(version, 0u);
            ASSERT_EQ(psCheckRound(outs[k], workers, 0, k + 1), "");
          }
          for (int r = 1; r <= rounds; ++r) {
            // All keys in flight at once, as a training step would.
            for (size_t k = 0; k < counts.size(); ++k) {
              for (size_t i = 0; i < counts[k]; ++i) grads[k][i] = psGradient(rank, r, k + 1, i);
              std::fill(outs[k].begin(), outs[k].end(), -1.0f);
            }
            std::vector<shoalPsHandle_t> push(counts.size()), pull(counts.size());
            for (size_t k = 0; k < counts.size(); ++k) {
              if (r % 2 == 1) {
                ASSERT_EQ(
                    shoalPsPush(ps, k + 1, grads[k].data(), counts[k], shoalFloat32, &push[k]),
                    shoalSuccess)
                    << shoalPsGetLastError(ps);
                ASSERT_EQ(shoalPsPull(ps, k + 1, outs[k].data(), counts[k], shoalFloat32, &pull[k]),
                          shoalSuccess)
                    << shoalPsGetLastError(ps);
              } else {
                ASSERT_EQ(shoalPsPushPull(ps, k + 1, grads[k].data(), outs[k].data(), counts[k],
                                          shoalFloat32, &pull[k]),
                          shoalSuccess)
                    << shoalPsGetLastError(ps);
              }
            }
            for (size_t k = 0; k < counts.size(); ++k) {
              uint64_t version = 0;
              if (r % 2 == 1) {
                ASSERT_EQ(shoalPsWait(ps, push[k], &version), shoalSuccess)
                    << shoalPsGetLastError(ps);
                EXPECT_EQ(version, static_cast<uint64_t>(r)) << "push joined the wrong round";
              }
              ASSERT_EQ(shoalPsWait(ps, pull[k], &version), shoalSuccess)
                  << shoalPsGetLastError(ps);
              EXPECT_EQ(version, static_cast<uint64_t>(r));
              ASSERT_EQ(psCheckRound(outs[k], workers, r, k + 1), "");
            }
          }
        }
        ASSERT_EQ(shoalPsFinalize(ps), shoalSuccess) << shoalPsGetLastError(nullptr);
      },
      mp);
  shoal::test::expectAllRanksPassed(results);
}

constexpr size_t kTestPartition = 64 * 1024;  // small, so a modest size spans several
// 3 elements; 50021 floats = 200084 bytes: four partitions, the last one short.
const std::vector<size_t> kSmallCounts = {3, 50021};

using Shape = std::tuple<std::string, int, int>;  // transport, workers, servers

class PsSync : public testing::TestWithParam<Shape> {};

TEST_P(PsSync, EveryRoundIsTheExactSum) {
  auto [transport, workers, servers] = GetParam();
  SHOAL_SKIP_UNLESS_USABLE(transport);
  runSync(transport, workers, servers, kSmallCounts, kTestPartition, 3);
}

std::string shapeName(const testing::TestParamInfo<Shape>& info) {
  return std::get<0>(info.param) + "_" + std::to_string(std::get<1>(info.param)) + "w" +
         std::to_string(std::get<2>(info.param)) + "s";
}

INSTANTIATE_TEST_SUITE_P(Shm, PsSync,
                         testing::Combine(testing::Values("shm"), testing::Range(1, 7),
                                          testing::Range(1, 4)),
                         shapeName);
INSTANTIATE_TEST_SUITE_P(Ucx, PsSync,
                         testing::Combine(testing::Values("ucx"), testing::Range(1, 7),
                                          testing::Range(1, 4)),
                         shapeName);
INSTANTIATE_TEST_SUITE_P(Verbs, PsSync,
                         testing::Combine(testing::Values("verbs"), testing::Values(2),
                                          testing::Values(2)),
                         shapeName);

// 64 MiB in the default 4 MiB partitions, spread over the servers.
class PsSyncLarge : public testing::TestWithParam<Shape> {};

TEST_P(PsSyncLarge, SixtyFourMiB) {
  auto [transport, workers, servers] = GetParam();
  SHOAL_SKIP_UNLESS_USABLE(transport);
  runSync(transport, workers, servers, {3, (64u << 20) / sizeof(float)}, 4u << 20, 2);
}

INSTANTIATE_TEST_SUITE_P(Shm, PsSyncLarge, testing::Values(Shape{"shm", 2, 2}, Shape{"shm", 4, 1}),
                         shapeName);
INSTANTIATE_TEST_SUITE_P(Ucx, PsSyncLarge, testing::Values(Shape{"ucx", 2, 2}), shapeName);
INSTANTIATE_TEST_SUITE_P(Verbs, PsSyncLarge, testing::Values(Shape{"verbs", 2, 2}), shapeName);

// A rank that is worker and server at once: every rank both.
TEST(PsSyncBoth, EveryRankWorkerAndServer) {
  SHOAL_SKIP_UNLESS_USABLE("shm");
  shoal::test::MultiProcessOptions mp;
  mp.env["SHOAL_TRANSPORT"] = "shm";
  const int n = 3;
  const size_t count = 40000;
  auto results = runRanks(
      n,
      [&](int rank, int size, const shoalUniqueId& id) {
        shoalPs_t ps = nullptr;
        ASSERT_NO_FATAL_FAILURE(
            psInitRank(&ps, size, id, rank, shoalPsRoleBoth, syncOptions(kTestPartition)));
        std::vector<float> grad(count), out(count);
        for (int r = 1; r <= 3; ++r) {
          for (size_t i = 0; i < count; ++i) grad[i] = psGradient(rank, r, 9, i);
          shoalPsHandle_t h;
          ASSERT_EQ(shoalPsPushPull(ps, 9, grad.data(), out.data(), count, shoalFloat32, &h),
                    shoalSuccess);
          uint64_t version = 0;
          ASSERT_EQ(shoalPsWait(ps, h, &version), shoalSuccess) << shoalPsGetLastError(ps);
          EXPECT_EQ(version, static_cast<uint64_t>(r));
          ASSERT_EQ(psCheckRound(out, n, r, 9), "");
        }
        ASSERT_EQ(shoalPsFinalize(ps), shoalSuccess) << shoalPsGetLastError(nullptr);
      },
      mp);
  shoal::test::expectAllRanksPassed(results);
}

}  // namespace
