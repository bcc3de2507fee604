// Every argument check of the C API (documented in include/shoal/shoal.h):
// each bad call returns its documented code and message, touches no buffer,
// and leaves the communicator usable; handles used after destroy are refused.
#include <gtest/gtest.h>
#include <stdint.h>

#include <atomic>
#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "util/multiprocess.h"

namespace {

using shoal::test::runRanks;

std::string lastError(shoalComm_t comm) { return shoalGetLastError(comm); }

#define EXPECT_REFUSED(call, code, comm, text)                                                    \
  do {                                                                                            \
    EXPECT_EQ((call), (code)) << #call;                                                           \
    EXPECT_NE(lastError(comm).find(text), std::string::npos) << #call << ": " << lastError(comm); \
  } while (0)

TEST(ApiValidation, NullPointersOutsideACommunicator) {
  EXPECT_REFUSED(shoalGetVersion(nullptr), shoalInvalidArgument, nullptr, "version is NULL");
  EXPECT_REFUSED(shoalGetUniqueId(nullptr), shoalInvalidArgument, nullptr, "uniqueId is NULL");
  shoalUniqueId id{};
  EXPECT_REFUSED(shoalCommInitRank(nullptr, 1, id, 0), shoalInvalidArgument, nullptr,
                 "comm is NULL");
  EXPECT_REFUSED(shoalCommInitFromEnv(nullptr), shoalInvalidArgument, nullptr, "comm is NULL");
  EXPECT_REFUSED(shoalCommDestroy(nullptr), shoalInvalidArgument, nullptr, "comm is NULL");
  EXPECT_REFUSED(shoalCommAbort(nullptr), shoalInvalidArgument, nullptr, "comm is NULL");
  EXPECT_REFUSED(shoalCommSetTimeout(nullptr, 1.0), shoalInvalidArgument, nullptr, "comm is NULL");
  int x = 0;
  EXPECT_REFUSED(shoalCommCount(nullptr, &x), shoalInvalidArgument, nullptr, "NULL");
  EXPECT_REFUSED(shoalCommUserRank(nullptr, &x), shoalInvalidArgument, nullptr, "NULL");
  float f = 0;
  EXPECT_REFUSED(shoalAllReduce(&f, &f, 1, shoalFloat32, shoalSum, nullptr, nullptr),
                 shoalInvalidArgument, nullptr, "allreduce: comm is NULL");
  EXPECT_REFUSED(shoalBarrier(nullptr, nullptr), shoalInvalidArgument, nullptr,
                 "barrier: comm is NULL");
  EXPECT_STREQ(shoalCommLastAlgorithm(nullptr), "none");
  EXPECT_STREQ(shoalCommTransportName(nullptr), "none");
  // An id that no shoalGetUniqueId produced.
  shoalComm_t comm = nullptr;
  EXPECT_EQ(shoalCommInitRank(&comm, 1, id, 0), shoalInvalidArgument);
  EXPECT_EQ(comm, nullptr);
}

// Two ranks, so the reducescatter/allgather size factor is 2. Every call
// below is refused before any communication, on both ranks alike.
TEST(ApiValidation, BadArgumentsAreRefusedAndTheCommunicatorStillWorks) {
  shoal::test::MultiProcessOptions opts;
  opts.env["SHOAL_TIMEOUT"] = "30";
  auto results = runRanks(
      2,
      [](int rank, int n, const shoalUniqueId& id) {
        shoalComm_t comm = nullptr;
        ASSERT_EQ(shoalCommInitRank(&comm, n, id, rank), shoalSuccess)
            << shoalGetLastError(nullptr);
        int got = -1;
        EXPECT_REFUSED(shoalCommCount(comm, nullptr), shoalInvalidArgument, nullptr, "NULL");
        EXPECT_REFUSED(shoalCommUserRank(comm, nullptr), shoalInvalidArgument, nullptr, "NULL");
        ASSERT_EQ(shoalCommCount(comm, &got), shoalSuccess);
        EXPECT_EQ(got, 2);
        std::vector<float> a(64, 7.0f), b(64, -1.0f);
        const std::vector<float> untouched = b;

        // NULL buffers with a non-zero count, per collective and role.
        EXPECT_REFUSED(
            shoalReduceScatter(nullptr, b.data(), 4, shoalFloat32, shoalSum, comm, nullptr),
            shoalInvalidArgument, comm, "reducescatter: sendbuff is NULL with count 4");
        EXPECT_REFUSED(shoalAllGather(a.data(), nullptr, 4, shoalFloat32, comm, nullptr),
                       shoalInvalidArgument, comm, "allgather: recvbuff is NULL with count 4");
        // Only the root's sendbuff (broadcast) or recvbuff (reduce) matters, so
        // only that rank is refused; the other rank does not call.
        if (rank == 0) {
          EXPECT_REFUSED(shoalBroadcast(nullptr, b.data(), 4, shoalFloat32, 0, comm, nullptr),
                         shoalInvalidArgument, comm, "broadcast: sendbuff is NULL with count 4");
        } else {
          EXPECT_REFUSED(
              shoalReduce(a.data(), nullptr, 4, shoalFloat32, shoalSum, 1, comm, nullptr),
              shoalInvalidArgument, comm, "reduce: recvbuff is NULL with count 4");
        }
        // NULL where it does not matter is accepted, as in NCCL.
        ASSERT_EQ(shoalBroadcast(rank == 0 ? a.data() : nullptr, b.data(), 4, shoalFloat32, 0, comm,
                                 nullptr),
                  shoalSuccess)
            << lastError(comm);
        EXPECT_EQ(b[3], 7.0f);
        ASSERT_EQ(shoalReduce(a.data(), rank == 1 ? b.data() : nullptr, 4, shoalFloat32, shoalSum,
                              1, comm, nullptr),
                  shoalSuccess)
            << lastError(comm);
        if (rank == 1) {
          EXPECT_EQ(b[3], 14.0f);
        }
        b = untouched;

        // count * sizeof(type) (times nranks where the buffer holds every rank's
        // block) must fit in the address space.
        const size_t justOver = static_cast<size_t>(PTRDIFF_MAX) / sizeof(double) / 2 + 1;
        EXPECT_REFUSED(
            shoalAllReduce(a.data(), b.data(), SIZE_MAX / 2, shoalFloat32, shoalSum, comm, nullptr),
            shoalInvalidArgument, comm, "overflows the address space");
        EXPECT_REFUSED(shoalAllGather(a.data(), b.data(), justOver, shoalFloat64, comm, nullptr),
                       shoalInvalidArgument, comm, "allgather: count");
        EXPECT_REFUSED(
            shoalReduceScatter(a.data(), b.data(), justOver, shoalFloat64, shoalMax, comm, nullptr),
            shoalInvalidArgument, comm, "overflows the address space");
        // Overlap that is not NCCL's in-place form.
        EXPECT_REFUSED(
            shoalAllReduce(a.data(), a.data() + 1, 8, shoalFloat32, shoalSum, comm, nullptr),
            shoalInvalidArgument, comm, "overlap without being in place");
        if (rank == 0) {
          EXPECT_REFUSED(shoalBroadcast(a.data() + 2, a.data(), 8, shoalFloat32, 0, comm, nullptr),
                         shoalInvalidArgument, comm, "overlap");
        }
        // reducescatter in place means recvbuff == sendbuff + rank * recvcount.
        EXPECT_REFUSED(shoalReduceScatter(a.data(), a.data() + (1 - rank) * 4 + 1, 4, shoalFloat32,
                                          shoalSum, comm, nullptr),
                       shoalInvalidArgument, comm, "overlap");
        // allgather in place means sendbuff == recvbuff + rank * sendcount.
        EXPECT_REFUSED(shoalAllGather(b.data() + 1, b.data(), 4, shoalFloat32, comm, nullptr),
                       shoalInvalidArgument, comm, "overlap");

        // Invalid type, op and root.
        EXPECT_REFUSED(shoalAllReduce(a.data(), b.data(), 4, static_cast<shoalDataType_t>(-1),
                                      shoalSum, comm, nullptr),
                       shoalInvalidArgument, comm, "invalid datatype -1");
        EXPECT_REFUSED(
            shoalAllReduce(a.data(), b.data(), 4, shoalNumTypes, shoalSum, comm, nullptr),
            shoalInvalidArgument, comm, "invalid datatype 10");
        EXPECT_REFUSED(
            shoalReduce(a.data(), b.data(), 4, shoalFloat32, shoalNumOps, 0, comm, nullptr),
            shoalInvalidArgument, comm, "invalid reduction op 5");
        EXPECT_REFUSED(shoalBroadcast(a.data(), b.data(), 4, shoalFloat32, 2, comm, nullptr),
                       shoalInvalidArgument, comm, "root 2 is outside [0, 2)");
        EXPECT_REFUSED(
            shoalReduce(a.data(), b.data(), 4, shoalFloat32, shoalSum, -1, comm, nullptr),
            shoalInvalidArgument, comm, "root -1 is outside [0, 2)");
        EXPECT_REFUSED(shoalCommSetTimeout(comm, 1.0 / 0.0), shoalInvalidArgument, comm,
                       "must be positive and finite");
        EXPECT_EQ(b, untouched) << "a refused call wrote into recvbuff";

        // NCCL's in-place forms are accepted and give exact results.
        std::vector<float> rs = {1.0f + rank, 2.0f + rank, 3.0f + rank, 4.0f + rank};
        ASSERT_EQ(shoalReduceScatter(rs.data(), rs.data() + rank * 2, 2, shoalFloat32, shoalSum,
                                     comm, nullptr),
                  shoalSuccess)
            << lastError(comm);
        EXPECT_EQ(rs[rank * 2], 2.0f * (1 + 2 * rank) + 1.0f);
        EXPECT_EQ(rs[rank * 2 + 1], 2.0f * (2 + 2 * rank) + 1.0f);
        std::vector<int32_t> ag = {-1, -1, -1, -1};
        ag[rank * 2] = 10 * rank;
        ag[rank * 2 + 1] = 10 * rank + 1;
        ASSERT_EQ(shoalAllGather(ag.data() + rank * 2, ag.data(), 2, shoalInt32, comm, nullptr),
                  shoalSuccess)
            << lastError(comm);
        EXPECT_EQ(ag, (std::vector<int32_t>{0, 1, 10, 11}));
        EXPECT_EQ(shoalCommDestroy(comm), shoalSuccess);
      },
      opts);
  shoal::test::expectAllRanksPassed(results);
}

// What is detectable after destroy: every call with the old handle is
// refused as long as no newer communicator was given the same address.
TEST(ApiValidation, UseAfterDestroyIsRefused) {
  auto results = runRanks(1, [](int rank, int n, const shoalUniqueId& id) {
    shoalComm_t comm = nullptr;
    ASSERT_EQ(shoalCommInitRank(&comm, n, id, rank), shoalSuccess) << shoalGetLastError(nullptr);
    // A call first: this thread's next claim on comm then takes the short
    // way (no live-set lookup), which must see the destroy too.
    float f = 1;
    ASSERT_EQ(shoalAllReduce(&f, &f, 1, shoalFloat32, shoalSum, comm, nullptr), shoalSuccess);
    ASSERT_EQ(shoalCommDestroy(comm), shoalSuccess);
    int x = 0;
    const char* text = "not a live communicator";
    EXPECT_REFUSED(shoalAllReduce(&f, &f, 1, shoalFloat32, shoalSum, comm, nullptr),
                   shoalInvalidUsage, nullptr, text);
    EXPECT_REFUSED(shoalBarrier(comm, nullptr), shoalInvalidUsage, nullptr, text);
    EXPECT_REFUSED(shoalCommCount(comm, &x), shoalInvalidUsage, nullptr, text);
    EXPECT_REFUSED(shoalCommUserRank(comm, &x), shoalInvalidUsage, nullptr, text);
    EXPECT_REFUSED(shoalCommSetTimeout(comm, 5), shoalInvalidUsage, nullptr, text);
    EXPECT_REFUSED(shoalCommDestroy(comm), shoalInvalidUsage, nullptr,
                   "shoalCommDestroy: comm is not a live");
    EXPECT_REFUSED(shoalCommAbort(comm), shoalInvalidUsage, nullptr,
                   "shoalCommAbort: comm is not a live");
    EXPECT_STREQ(shoalCommLastAlgorithm(comm), "none");
    EXPECT_STREQ(shoalCommTransportName(comm), "none");
  });
  shoal::test::expectAllRanksPassed(results);
}

// Communicators are not thread-safe: a second thread calling in while a call
// runs is refused instead of corrupting the channels.
TEST(ApiValidation, ConcurrentCallOnOneCommunicatorIsRefused) {
  shoal::test::MultiProcessOptions opts;
  opts.env["SHOAL_TIMEOUT"] = "30";
  auto results = runRanks(
      2,
      [](int rank, int n, const shoalUniqueId& id) {
        shoalComm_t comm = nullptr;
        ASSERT_EQ(shoalCommInitRank(&comm, n, id, rank), shoalSuccess)
            << shoalGetLastError(nullptr);
        std::vector<float> buf(32, 1.0f + rank);
        if (rank == 1) {
          // Joins late, so rank 0's call is still running while its second
          // thread tries to get in.
          std::this_thread::sleep_for(std::chrono::milliseconds(600));
        } else {
          std::thread other([&] {
            std::this_thread::sleep_for(std::chrono::milliseconds(200));
            float f = 0;
            EXPECT_EQ(shoalAllReduce(&f, &f, 1, shoalFloat32, shoalSum, comm, nullptr),
                      shoalInvalidUsage);
            EXPECT_NE(
                std::string(shoalGetLastError(nullptr)).find("another thread is inside a call"),
                std::string::npos)
                << shoalGetLastError(nullptr);
          });
          ASSERT_EQ(shoalAllReduce(buf.data(), buf.data(), buf.size(), shoalFloat32, shoalSum, comm,
                                   nullptr),
                    shoalSuccess)
              << lastError(comm);
          other.join();
        }
        if (rank == 1) {
          ASSERT_EQ(shoalAllReduce(buf.data(), buf.data(), buf.size(), shoalFloat32, shoalSum, comm,
                                   nullptr),
                    shoalSuccess)
              << lastError(comm);
        }
        for (float v : buf) EXPECT_EQ(v, 3.0f);
        EXPECT_EQ(shoalCommDestroy(comm), shoalSuccess);
      },
      opts);
  shoal::test::expectAllRanksPassed(results);
}

}  // namespace
