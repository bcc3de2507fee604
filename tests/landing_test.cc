// Direct placement (Step::land): large chunks of ring allreduce's allgather
// half, ring allgather, rhd's allgather levels and the hierarchical
// allreduce's allgathers land in the receiver's buffer instead of a staging
// slot (shm: cross-memory attach; verbs: an RDMA write into the registered
// buffer, run in the rxe guest).
// Every element checked, in and out of place, with chunks at the size
// threshold and tails below it, and on shm with one rank that refuses
// landings (SHOAL_SHM_CMA=0), whose peers then use its slots.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <csignal>
#include <cstdlib>
#include <functional>
#include <string>
#include <vector>

#include "core/schedule.h"
#include "util/multiprocess.h"
#include "util/reference.h"

namespace {

constexpr size_t kChunk = shoal::kLandMinBytes;

struct Case {
  const char* transport;  // shm, or verbs (Soft-RoCE in the rxe guests)
  int ranks;
  int refusingRank;  // -1: every rank grants landings (shm: SHOAL_SHM_CMA=0 refuses)
};

// A float sum allreduce out of place and in place, every element checked,
// run by the algorithm named.
void allReduceBothPlacements(int rank, int size, shoalComm_t comm, size_t count, const char* algo) {
  std::vector<float> send(count), recv(count), want(count);
  shoal::test::fillExpected(want.data(), count, shoalFloat, shoalSum, size);
  for (bool inPlace : {false, true}) {
    shoal::test::fillInput(send.data(), count, shoalFloat, shoalSum, rank);
    float* out = inPlace ? send.data() : recv.data();
    ASSERT_EQ(shoalAllReduce(send.data(), out, count, shoalFloat, shoalSum, comm, nullptr),
              shoalSuccess)
        << shoalGetLastError(comm);
    ASSERT_STREQ(shoalCommLastAlgorithm(comm), algo);
    ASSERT_EQ(shoal::test::compare(out, want.data(), count, shoalFloat), "")
        << "rank " << rank << " of " << size << " in place " << inPlace;
  }
}

class Landing : public ::testing::TestWithParam<Case> {
 protected:
  void SetUp() override {
    std::string why;
    const char* t = GetParam().transport;
    if (!shoal::test::transportUsable(t, &why)) GTEST_SKIP() << t << ": " << why;
  }
  shoal::test::MultiProcessOptions options() const {
    shoal::test::MultiProcessOptions o;
    o.env["SHOAL_TRANSPORT"] = GetParam().transport;
    o.env["SHOAL_ALGO"] = "ring";
    o.env["SHOAL_CHUNK_SIZE"] = std::to_string(kChunk);
    return o;
  }
  // Runs body(rank, n, comm) on n ranks, each with its own communicator.
  void onRanks(int n, const shoal::test::MultiProcessOptions& o,
               const std::function<void(int, int, shoalComm_t)>& body) const {
    onRanksWith(
        n, o, [](int, int) {}, body);
  }
  // The same, with before(rank, n) run ahead of the communicator's init.
  void onRanksWith(int n, const shoal::test::MultiProcessOptions& o,
                   const std::function<void(int, int)>& before,
                   const std::function<void(int, int, shoalComm_t)>& body) const {
    const int refusing = GetParam().refusingRank;
    auto results = shoal::test::runRanks(
        n,
        [&](int rank, int size, const shoalUniqueId& id) {
          before(rank, size);
          if (rank == refusing) setenv("SHOAL_SHM_CMA", "0", 1);
          shoalComm_t comm = nullptr;
          ASSERT_EQ(shoalCommInitRank(&comm, size, id, rank), shoalSuccess)
              << shoalGetLastError(nullptr);
          body(rank, size, comm);
          ASSERT_EQ(shoalCommDestroy(comm), shoalSuccess) << shoalGetLastError(nullptr);
        },
        o);
    shoal::test::expectAllRanksPassed(results);
  }
};

TEST_P(Landing, RingAllReduceEveryElement) {
  onRanks(GetParam().ranks, options(), [](int rank, int n, shoalComm_t comm) {
    // Segments of three full chunks plus a tail below the threshold, and
    // one count whose segments are exactly one chunk.
    for (size_t perSeg : {3 * kChunk + 12, kChunk}) {
      for (shoalDataType_t t : {shoalFloat, shoalInt8}) {
        const size_t es = t == shoalFloat ? 4 : 1;
        const size_t count = perSeg / es * static_cast<size_t>(n) + (t == shoalInt8 ? 3 : 1);
        std::vector<char> send(count * es), recv(count * es), want(count * es);
        shoal::test::fillExpected(want.data(), count, t, shoalSum, n);
        for (bool inPlace : {false, true}) {
          SCOPED_TRACE(::testing::Message() << "rank " << rank << " count " << count << " type "
                                            << t << " in place " << inPlace);
          shoal::test::fillInput(send.data(), count, t, shoalSum, rank);
          void* out = inPlace ? send.data() : recv.data();
          ASSERT_EQ(shoalAllReduce(send.data(), out, count, t, shoalSum, comm, nullptr),
                    shoalSuccess)
              << shoalGetLastError(comm);
          ASSERT_EQ(shoal::test::compare(out, want.data(), count, t), "");
        }
      }
    }
  });
}

// Past 16 MiB per segment ring emits its steps as a wavefront (allgather
// chunks interleaved with reduce-scatter ones, ring_allreduce.cc): another
// order of messages on the wire and of landing answers. Segments just past
// the threshold, a count that does not divide evenly, both placements.
TEST_P(Landing, RingWavefrontEveryElement) {
  onRanks(GetParam().ranks, options(), [](int rank, int n, shoalComm_t comm) {
    const size_t count = ((size_t{16} << 20) + 4096) / 4 * static_cast<size_t>(n) + 1;
    allReduceBothPlacements(rank, n, comm, count, "ring");
  });
}

TEST_P(Landing, RingAllGatherEveryElement) {
  onRanks(GetParam().ranks, options(), [](int rank, int n, shoalComm_t comm) {
    const size_t count = (2 * kChunk + 40) / 4;  // floats per rank: two chunks and a tail
    std::vector<float> send(count), recv(count * static_cast<size_t>(n)), want(recv.size());
    for (int r = 0; r < n; ++r) {
      for (size_t i = 0; i < count; ++i)
        want[static_cast<size_t>(r) * count + i] = static_cast<float>(r * 1000 + i % 997);
    }
    for (size_t i = 0; i < count; ++i) send[i] = want[static_cast<size_t>(rank) * count + i];
    for (int round = 0; round < 2; ++round) {
      std::fill(recv.begin(), recv.end(), -1.0f);
      ASSERT_EQ(shoalAllGather(send.data(), recv.data(), count, shoalFloat, comm, nullptr),
                shoalSuccess)
          << shoalGetLastError(comm);
      ASSERT_EQ(shoal::test::compare(recv.data(), want.data(), recv.size(), shoalFloat), "")
          << "rank " << rank << " round " << round;
    }
  });
}

// rhd's allgather levels and its fix-up result (3 and 5 ranks), and both
// broadcasts from every root (not marked, see broadcast_ring.cc, but run
// between calls that land), with chunks that land and tails that do not.
TEST_P(Landing, RhdAllReduceAndBroadcastsEveryElement) {
  const Case c = GetParam();
  for (int n : {c.ranks, c.ranks + 1}) {
    for (const char* bcast : {"ring", "tree"}) {
      shoal::test::MultiProcessOptions o = options();
      o.env["SHOAL_ALGO"] = std::string("allreduce:rhd;broadcast:") + bcast;
      onRanks(n, o, [](int rank, int size, shoalComm_t comm) {
        const size_t count = (5 * kChunk + 20) / 4 * static_cast<size_t>(size);
        allReduceBothPlacements(rank, size, comm, count, "rhd");
        std::vector<float> send(count), recv(count);
        for (int root = 0; root < size; ++root) {
          for (size_t i = 0; i < count; ++i)
            send[i] = rank == root ? static_cast<float>((root + 1) * 7 + i % 1009) : -1.0f;
          std::fill(recv.begin(), recv.end(), -2.0f);
          ASSERT_EQ(
              shoalBroadcast(send.data(), recv.data(), count, shoalFloat, root, comm, nullptr),
              shoalSuccess)
              << shoalGetLastError(comm);
          for (size_t i = 0; i < count; ++i) {
            ASSERT_EQ(recv[i], static_cast<float>((root + 1) * 7 + i % 1009))
                << "rank " << rank << " of " << size << " root " << root << " element " << i;
          }
        }
      });
    }
  }
}

// The hierarchical allreduce's allgathers (across nodes, then inside each)
// land like ring's: two faked nodes over shm (SHOAL_HOST_ID, shm allowed
// across them), one more rank than the other where the count is odd.
TEST_P(Landing, HierAllReduceOnTwoNodesEveryElement) {
  const Case c = GetParam();
  if (std::string(c.transport) != "shm") GTEST_SKIP() << "faked nodes over shm only";
  const int n = c.ranks + 2;
  shoal::test::MultiProcessOptions o = options();
  o.env["SHOAL_ALGO"] = "allreduce:hier";
  o.env["SHOAL_SHM_FAKE_HOSTS"] = "1";
  onRanksWith(
      n, o,
      [](int rank, int size) {
        setenv("SHOAL_HOST_ID", (rank < (size + 1) / 2 ? "nodeA" : "nodeB"), 1);
      },
      [](int rank, int size, shoalComm_t comm) {
        allReduceBothPlacements(rank, size, comm, (4 * kChunk + 28) / 4 * static_cast<size_t>(size),
                                "hier");
      });
}

// A rank that dies in the allgather half: its left neighbour may be waiting
// for its landing answer, or writing into its memory, and its right neighbour
// for its data. Both fail the call with an error naming it, well before the
// deadline, and nothing hangs.
TEST(LandingFaults, PeerDeadInTheAllGatherHalfIsNamed) {
  std::string why;
  if (!shoal::test::transportUsable("shm", &why)) GTEST_SKIP() << "shm: " << why;
  shoal::test::MultiProcessOptions o;
  o.env["SHOAL_TRANSPORT"] = "shm";
  o.env["SHOAL_ALGO"] = "ring";
  o.env["SHOAL_CHUNK_SIZE"] = std::to_string(kChunk);
  o.env["SHOAL_TEST_KILL_AT"] = "allgather:1";
  o.timeoutSeconds = 120;
  auto results = shoal::test::runRanks(
      3,
      [&](int rank, int n, const shoalUniqueId& id) {
        shoalComm_t comm = nullptr;
        ASSERT_EQ(shoalCommInitRank(&comm, n, id, rank), shoalSuccess)
            << shoalGetLastError(nullptr);
        ASSERT_EQ(shoalCommSetTimeout(comm, 60), shoalSuccess);
        const size_t count = 8 * kChunk / 4 * static_cast<size_t>(n);
        std::vector<float> buf(count, 1.0f);
        const auto start = std::chrono::steady_clock::now();
        shoalResult_t r =
            shoalAllReduce(buf.data(), buf.data(), count, shoalFloat, shoalSum, comm, nullptr);
        const double secs =
            std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
        EXPECT_NE(r, shoalSuccess) << "rank " << rank;
        const std::string msg = shoalGetLastError(comm);
        EXPECT_NE(msg.find("rank 1"), std::string::npos) << "rank " << rank << ": " << msg;
        EXPECT_LT(secs, 30) << "rank " << rank << " noticed only after " << secs << " s: " << msg;
        shoalCommAbort(comm);
      },
      o);
  ASSERT_EQ(results.size(), 3u);
  for (const auto& res : results) {
    if (res.rank == 1) {
      EXPECT_EQ(res.exitCode, -SIGKILL) << res.what;
    } else {
      EXPECT_EQ(res.exitCode, 0) << "rank " << res.rank << ": " << res.what;
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Transports, Landing,
                         ::testing::Values(Case{"shm", 2, -1}, Case{"shm", 3, -1},
                                           Case{"shm", 4, -1}, Case{"shm", 2, 0}, Case{"shm", 3, 1},
                                           Case{"verbs", 2, -1}, Case{"verbs", 3, -1}),
                         [](const ::testing::TestParamInfo<Case>& i) {
                           return std::string(i.param.transport) + "_" +
                                  std::to_string(i.param.ranks) + "ranks" +
                                  (i.param.refusingRank >= 0
                                       ? "_rank" + std::to_string(i.param.refusingRank) + "Refuses"
                                       : std::string());
                         });

}  // namespace
