// The executor's step-by-step loop (Executor::runInOrder, SHOAL_INORDER) for
// schedules flagged Schedule::inOrder: recursive doubling allreduce and the
// dissemination barrier. Its messages are the general loop's, so here the
// even ranks run it and the odd ranks the general loop (SHOAL_INORDER=0),
// and every element is checked on every rank. Sizes span one chunk, as many
// chunks per peer as there are slots (still step by step) and more (the
// general loop on every rank); the same call repeats (short signatures,
// credits handed back with the data) and alternates with others (full
// signatures). Also: a mismatch and a peer that is gone, both named.
#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <string>
#include <vector>

#include "util/multiprocess.h"
#include "util/reference.h"

namespace {

constexpr size_t kChunk = 4096;  // SHOAL_CHUNK_SIZE here
constexpr int kSlots = 4;        // SHOAL_SLOTS here

struct Case {
  const char* transport;  // shm, ucx, or verbs (Soft-RoCE in the rxe guests)
  int ranks;
};

class InOrder : public ::testing::TestWithParam<Case> {
 protected:
  void SetUp() override {
    std::string why;
    const char* t = GetParam().transport;
    if (!shoal::test::transportUsable(t, &why)) GTEST_SKIP() << t << ": " << why;
  }
  shoal::test::MultiProcessOptions options() const {
    shoal::test::MultiProcessOptions o;
    o.env["SHOAL_TRANSPORT"] = GetParam().transport;
    o.env["SHOAL_ALGO"] = "allreduce:rd";
    o.env["SHOAL_CHUNK_SIZE"] = std::to_string(kChunk);
    o.env["SHOAL_SLOTS"] = std::to_string(kSlots);
    o.timeoutSeconds = 240;
    return o;
  }
  // body(rank, n, comm) on n ranks; odd ranks run the general loop.
  template <class Body>
  void onRanks(int n, const shoal::test::MultiProcessOptions& o, Body body) const {
    auto results = shoal::test::runRanks(
        n,
        [&](int rank, int size, const shoalUniqueId& id) {
          setenv("SHOAL_INORDER", rank % 2 == 0 ? "1" : "0", 1);
          shoalComm_t comm = nullptr;
          ASSERT_EQ(shoalCommInitRank(&comm, size, id, rank), shoalSuccess)
              << shoalGetLastError(nullptr);
          ASSERT_EQ(shoalCommSetTimeout(comm, 60), shoalSuccess);
          body(rank, size, comm);
          ASSERT_EQ(shoalCommDestroy(comm), shoalSuccess) << shoalGetLastError(nullptr);
        },
        o);
    shoal::test::expectAllRanksPassed(results);
  }
};

// One allreduce, checked element by element against the reference.
void allReduceChecked(int rank, int n, shoalComm_t comm, size_t count, shoalDataType_t t,
                      shoalRedOp_t op, bool inPlace) {
  const size_t es = t == shoalFloat ? 4 : 1;
  std::vector<char> send(count * es + 1), recv(count * es + 1), want(count * es + 1);
  shoal::test::fillExpected(want.data(), count, t, op, n);
  shoal::test::fillInput(send.data(), count, t, op, rank);
  void* out = inPlace ? send.data() : recv.data();
  ASSERT_EQ(shoalAllReduce(send.data(), out, count, t, op, comm, nullptr), shoalSuccess)
      << shoalGetLastError(comm);
  ASSERT_STREQ(shoalCommLastAlgorithm(comm), "rd");
  ASSERT_EQ(shoal::test::compare(out, want.data(), count, t), "")
      << "rank " << rank << " of " << n << ": count " << count << " type " << t << " op " << op
      << " in place " << inPlace;
}

TEST_P(InOrder, MixedLoopsEveryElement) {
  const Case c = GetParam();
  for (int n : {c.ranks, c.ranks + 1}) {
    onRanks(n, options(), [](int rank, int size, shoalComm_t comm) {
      // 1 element; a chunk and a bit; exactly the slots' worth of chunks per
      // peer; one chunk more than that (general loop everywhere).
      const size_t counts[] = {1, kChunk / 4 + 3, kSlots * kChunk / 4, (kSlots + 1) * kChunk / 4};
      for (size_t count : counts) {
        for (bool inPlace : {false, true}) {
          // The same call three times in a row, then others between.
          for (int rep = 0; rep < 3; ++rep)
            allReduceChecked(rank, size, comm, count, shoalFloat, shoalSum, inPlace);
          allReduceChecked(rank, size, comm, count, shoalFloat, shoalAvg, inPlace);
          allReduceChecked(rank, size, comm, count * 4 + 1, shoalInt8, shoalMax, inPlace);
          ASSERT_EQ(shoalBarrier(comm, nullptr), shoalSuccess) << shoalGetLastError(comm);
        }
      }
      // Many small calls in a row: credits go back only with the data.
      for (int rep = 0; rep < 200; ++rep)
        allReduceChecked(rank, size, comm, 2, shoalFloat, shoalSum, rep % 2 == 0);
    });
  }
}

TEST_P(InOrder, MismatchedCountsNamedOnEveryRank) {
  onRanks(GetParam().ranks, options(), [](int rank, int size, shoalComm_t comm) {
    allReduceChecked(rank, size, comm, 8, shoalFloat, shoalSum, false);
    std::vector<float> buf(16, 1.0f);
    const size_t count = rank == 1 ? 16 : 8;
    const shoalResult_t r =
        shoalAllReduce(buf.data(), buf.data(), count, shoalFloat, shoalSum, comm, nullptr);
    const std::string msg = shoalGetLastError(comm);
    // Ranks 0 and 1 compare their calls directly; the others hear of it from
    // their partners' notices.
    if (rank <= 1) {
      EXPECT_EQ(r, shoalInvalidUsage) << "rank " << rank << ": " << msg;
    }
    EXPECT_NE(r, shoalSuccess) << "rank " << rank;
    EXPECT_NE(msg.find("mismatched collective calls"), std::string::npos)
        << "rank " << rank << ": " << msg;
    EXPECT_NE(msg.find("rank 1"), std::string::npos) << "rank " << rank << ": " << msg;
    shoalCommAbort(comm);
    // Aborted: destroy must not be called again by onRanks.
    _exit(::testing::Test::HasFailure() ? 1 : 0);
  });
}

TEST_P(InOrder, PeerGoneIsNamedWithinSeconds) {
  onRanks(GetParam().ranks, options(), [](int rank, int size, shoalComm_t comm) {
    allReduceChecked(rank, size, comm, 8, shoalFloat, shoalSum, false);
    if (rank == 1) {
      // Gone after a call that went step by step; first its last writes
      // reach their peers (UCX drops what is in flight when a process ends).
      usleep(300 * 1000);
      _exit(0);
    }
    std::vector<float> buf(8, 1.0f);
    const auto start = std::chrono::steady_clock::now();
    const shoalResult_t r =
        shoalAllReduce(buf.data(), buf.data(), 8, shoalFloat, shoalSum, comm, nullptr);
    const double secs =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    const std::string msg = shoalGetLastError(comm);
    EXPECT_EQ(r, shoalRemoteError) << "rank " << rank << ": " << msg;
    EXPECT_NE(msg.find("rank 1"), std::string::npos) << "rank " << rank << ": " << msg;
    EXPECT_LT(secs, 30) << "rank " << rank << " noticed only after " << secs << " s: " << msg;
    shoalCommAbort(comm);
    _exit(::testing::Test::HasFailure() ? 1 : 0);
  });
}

INSTANTIATE_TEST_SUITE_P(Transports, InOrder,
                         ::testing::Values(Case{"shm", 2}, Case{"shm", 4}, Case{"ucx", 2},
                                           Case{"ucx", 4}, Case{"verbs", 2}, Case{"verbs", 4}),
                         [](const ::testing::TestParamInfo<Case>& i) {
                           return std::string(i.param.transport) + "_" +
                                  std::to_string(i.param.ranks) + "ranks";
                         });

}  // namespace
