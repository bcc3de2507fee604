// A peer that misuses the GPU slot protocol (core/ipc_slots.h) is refused,
// with an error naming it, on any machine: no GPU is needed to send the
// messages (SHOAL_TEST_FAKE_GPU_SLOTS makes rank 1 send them). One rank
// repeats half of a slot announcement; another flags its chunks as written
// into the receiver's GPU slot, which the receiver never offered. The
// receiver's call fails well before the deadline with an error naming rank 1,
// and nothing hangs on either side.
#include <gtest/gtest.h>

#include <chrono>
#include <string>
#include <vector>

#include "util/multiprocess.h"

namespace {

struct Misuse {
  const char* mode;
  const char* refusal;  // what rank 0's error must say
};

class FaultsGpuSlots : public ::testing::TestWithParam<Misuse> {};

TEST_P(FaultsGpuSlots, RefusedNamingTheRank) {
  std::string why;
  if (!shoal::test::transportUsable("shm", &why)) GTEST_SKIP() << "shm: " << why;
  const Misuse m = GetParam();
  shoal::test::MultiProcessOptions o;
  o.timeoutSeconds = 120;
  o.env["SHOAL_TRANSPORT"] = "shm";
  o.env["SHOAL_TEST_FAKE_GPU_SLOTS"] = std::string("1:") + m.mode;
  auto results = shoal::test::runRanks(
      2,
      [&](int rank, int n, const shoalUniqueId& id) {
        shoalComm_t comm = nullptr;
        ASSERT_EQ(shoalCommInitRank(&comm, n, id, rank), shoalSuccess)
            << shoalGetLastError(nullptr);
        ASSERT_EQ(shoalCommSetTimeout(comm, 60), shoalSuccess);
        std::vector<float> buf(1000, 1.0f);
        const auto start = std::chrono::steady_clock::now();
        const shoalResult_t r =
            shoalAllReduce(buf.data(), buf.data(), buf.size(), shoalFloat, shoalSum, comm, nullptr);
        const double secs =
            std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
        const std::string msg = shoalGetLastError(comm);
        // Rank 1 may have finished its half before rank 0 refused it: it
        // only has to return, one way or the other, and soon.
        EXPECT_LT(secs, 30) << "rank " << rank << " returned only after " << secs << " s: " << msg;
        if (rank == 0) {
          EXPECT_EQ(r, shoalRemoteError) << msg;
          EXPECT_NE(msg.find(m.refusal), std::string::npos) << msg;
          EXPECT_NE(msg.find("from rank 1"), std::string::npos) << msg;
        }
        shoalCommAbort(comm);
      },
      o);
  shoal::test::expectAllRanksPassed(results);
}

INSTANTIATE_TEST_SUITE_P(
    Modes, FaultsGpuSlots,
    ::testing::Values(Misuse{"announce", "unexpected GPU slot announcement (part 0)"},
                      Misuse{"write", "claims to be in a GPU slot this rank never offered it"}),
    [](const ::testing::TestParamInfo<Misuse>& i) { return std::string(i.param.mode); });

}  // namespace
