// Long runs of small calls, as a training loop makes them: what the per-call
// fast paths must get right. Credits a receiver holds back between calls
// (returned in batches) must never stall a sender that runs ahead; the plan
// reused for a repeated call must follow a changed SHOAL_ALGO and survive
// the plan cache's eviction. Every element of every call is checked.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <functional>
#include <string>
#include <vector>

#include "util/multiprocess.h"

namespace {

struct Param {
  std::string transport;
  int nranks;
};

std::string paramName(const testing::TestParamInfo<Param>& p) {
  return p.param.transport + "_" + std::to_string(p.param.nranks) + "ranks";
}

class RepeatedCalls : public testing::TestWithParam<Param> {
 protected:
  void SetUp() override {
    std::string why;
    if (!shoal::test::transportUsable(GetParam().transport, &why)) {
      GTEST_SKIP() << "transport " << GetParam().transport << " is not usable here: " << why;
    }
  }
  shoal::test::MultiProcessOptions options() const {
    shoal::test::MultiProcessOptions o;
    o.timeoutSeconds = 120;
    o.env["SHOAL_TRANSPORT"] = GetParam().transport;
    o.env["SHOAL_TIMEOUT"] = "30";
    return o;
  }
  // Runs body(comm, rank, n) in every rank on a fresh communicator.
  void onEveryRank(const std::function<void(shoalComm_t, int, int)>& body) {
    auto results = shoal::test::runRanks(
        GetParam().nranks,
        [&](int rank, int n, const shoalUniqueId& id) {
          shoalComm_t comm = nullptr;
          ASSERT_EQ(shoalCommInitRank(&comm, n, id, rank), shoalSuccess)
              << shoalGetLastError(nullptr);
          body(comm, rank, n);
          if (testing::Test::HasFatalFailure()) return;
          ASSERT_EQ(shoalCommDestroy(comm), shoalSuccess);
        },
        options());
    shoal::test::expectAllRanksPassed(results);
  }
};

// The root only sends, so it runs ahead of the others as far as their
// credits let it; a rank that pauses now and then makes it wait for them.
TEST_P(RepeatedCalls, BroadcastsFromARootThatRunsAhead) {
  const int calls = 1500;
  onEveryRank([&](shoalComm_t comm, int rank, int n) {
    std::vector<int32_t> buf(8);
    for (int c = 0; c < calls; ++c) {
      const int root = c % 7 == 6 ? n - 1 : 0;
      for (size_t i = 0; i < buf.size(); ++i) {
        buf[i] = rank == root ? c * 100 + static_cast<int32_t>(i) : -1;
      }
      ASSERT_EQ(shoalBroadcast(buf.data(), buf.data(), buf.size(), shoalInt32, root, comm, nullptr),
                shoalSuccess)
          << "call " << c << ": " << shoalGetLastError(comm);
      for (size_t i = 0; i < buf.size(); ++i) {
        ASSERT_EQ(buf[i], c * 100 + static_cast<int32_t>(i))
            << "rank " << rank << " call " << c << " element " << i;
      }
      if (rank == n - 1 && c % 200 == 100) usleep(20000);
    }
  });
}

// One shape called again and again while SHOAL_ALGO changes under it, and
// more shapes than the plan cache holds, twice over.
TEST_P(RepeatedCalls, AllReducesAcrossAlgorithmsAndManyShapes) {
  onEveryRank([&](shoalComm_t comm, int rank, int n) {
    auto check = [&](size_t count, int call, const char* algo) {
      std::vector<int64_t> send(count), recv(count, -7);
      for (size_t i = 0; i < count; ++i)
        send[i] = (rank + 1) * 1000 + call + static_cast<int64_t>(i);
      ASSERT_EQ(
          shoalAllReduce(send.data(), recv.data(), count, shoalInt64, shoalSum, comm, nullptr),
          shoalSuccess)
          << "count " << count << " call " << call << ": " << shoalGetLastError(comm);
      const int64_t ranks = n;
      for (size_t i = 0; i < count; ++i) {
        ASSERT_EQ(recv[i],
                  1000 * ranks * (ranks + 1) / 2 + ranks * (call + static_cast<int64_t>(i)))
            << "rank " << rank << " count " << count << " call " << call << " element " << i;
      }
      if (algo && count > 0) {
        ASSERT_STREQ(shoalCommLastAlgorithm(comm), algo);
      }
    };
    int call = 0;
    for (const char* algo : {"ring", "tree", "rd", "rhd", "ring"}) {
      setenv("SHOAL_ALGO", (std::string("allreduce:") + algo).c_str(), 1);
      for (int r = 0; r < 40; ++r) check(5, call++, algo);
    }
    unsetenv("SHOAL_ALGO");
    for (int round = 0; round < 2; ++round) {
      for (size_t count = 1; count <= 80; ++count) check(count, call++, nullptr);
    }
  });
}

std::vector<Param> params() {
  std::vector<Param> v;
  for (const char* t : {"shm", "ucx", "verbs"}) {
    for (int n : {2, 3}) v.push_back({t, n});
  }
  return v;
}

INSTANTIATE_TEST_SUITE_P(Transports, RepeatedCalls, testing::ValuesIn(params()), paramName);

}  // namespace
