// Mismatch detection (issue 9): each collective's first message to a peer
// carries the call's fingerprint (operation, count, datatype, op, root,
// sequence, algorithm), and a rank that receives one differing from its own
// call returns shoalInvalidUsage naming both ranks and both calls. One case
// per field, over shm (the fingerprint rides as a note with the first write)
// and UCX (a control message ahead of the data). The count case is in
// allreduce_errors_test.cc (MismatchedCallsAreReported, 3 ranks).
#include <gtest/gtest.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <ostream>
#include <string>
#include <vector>

#include "util/multiprocess.h"

namespace {

using shoal::test::runRanks;

// The buffers every case may use: in, out (room for allgather's two blocks)
// and an int32 pair of the same element count.
struct Buffers {
  std::vector<float> in = std::vector<float>(64, 1.0f);
  std::vector<float> out = std::vector<float>(128, 0.0f);
  std::vector<int32_t> inInt = std::vector<int32_t>(64, 1);
  std::vector<int32_t> outInt = std::vector<int32_t>(64, 0);
};

using Call = std::function<shoalResult_t(shoalComm_t, Buffers&)>;

struct MismatchCase {
  std::string name;
  Call rank0, rank1;
  // How the error describes each rank's call, up to the algorithm's name
  // (the automatic choice may differ by operation).
  std::string described0, described1;
};

shoalResult_t allreduceFloatSum(shoalComm_t comm, Buffers& b) {
  return shoalAllReduce(b.in.data(), b.out.data(), 64, shoalFloat32, shoalSum, comm, nullptr);
}

const char* kAllReduceFloatSum = "allreduce #2 (count 64, float, sum, root 0, ";

std::vector<MismatchCase> cases() {
  return {
      {"operation", allreduceFloatSum,
       [](shoalComm_t comm, Buffers& b) {
         return shoalAllGather(b.in.data(), b.out.data(), 64, shoalFloat32, comm, nullptr);
       },
       kAllReduceFloatSum, "allgather #2 (count 64, float, sum, root 0, "},
      {"datatype", allreduceFloatSum,
       [](shoalComm_t comm, Buffers& b) {
         return shoalAllReduce(b.inInt.data(), b.outInt.data(), 64, shoalInt32, shoalSum, comm,
                               nullptr);
       },
       kAllReduceFloatSum, "allreduce #2 (count 64, int32, sum, root 0, "},
      {"op", allreduceFloatSum,
       [](shoalComm_t comm, Buffers& b) {
         return shoalAllReduce(b.in.data(), b.out.data(), 64, shoalFloat32, shoalMax, comm,
                               nullptr);
       },
       kAllReduceFloatSum, "allreduce #2 (count 64, float, max, root 0, "},
  };
}

// A different root. With two ranks each side either only sends (broadcast:
// both act as root) or only receives (reduce), so these pass only because a
// rank also sends its fingerprint, as a control message, to a peer it sends
// no data to, and waits for the fingerprint of a peer it receives nothing
// from.
std::vector<MismatchCase> rootCases() {
  return {
      {"broadcast_root",
       [](shoalComm_t comm, Buffers& b) {
         return shoalBroadcast(b.in.data(), b.out.data(), 64, shoalFloat32, 0, comm, nullptr);
       },
       [](shoalComm_t comm, Buffers& b) {
         return shoalBroadcast(b.in.data(), b.out.data(), 64, shoalFloat32, 1, comm, nullptr);
       },
       "broadcast #2 (count 64, float, sum, root 0, ",
       "broadcast #2 (count 64, float, sum, root 1, "},
      {"reduce_root",
       [](shoalComm_t comm, Buffers& b) {
         return shoalReduce(b.in.data(), b.out.data(), 64, shoalFloat32, shoalSum, 0, comm,
                            nullptr);
       },
       [](shoalComm_t comm, Buffers& b) {
         return shoalReduce(b.in.data(), b.out.data(), 64, shoalFloat32, shoalSum, 1, comm,
                            nullptr);
       },
       "reduce #2 (count 64, float, sum, root 0, ", "reduce #2 (count 64, float, sum, root 1, "},
  };
}

struct Param {
  std::string transport;
  MismatchCase c;
};

std::vector<Param> params(const std::vector<MismatchCase>& which) {
  std::vector<Param> v;
  for (const char* t : {"shm", "ucx"}) {
    for (auto& c : which) v.push_back({t, c});
  }
  return v;
}

std::string paramName(const testing::TestParamInfo<Param>& p) {
  return p.param.transport + "_" + p.param.c.name;
}

// gtest would print the case's bytes otherwise.
void PrintTo(const Param& p, std::ostream* os) { *os << p.transport << " " << p.c.name; }

class Mismatch : public testing::TestWithParam<Param> {};

// Both ranks send to and receive from each other in every case, so each sees
// the other's fingerprint (or first learns of the mismatch from the other's
// abort notice): shoalInvalidUsage on both, naming both calls, well within
// the deadline; the communicator refuses work afterwards.
TEST_P(Mismatch, BothRanksGetInvalidUsageNamingBothCalls) {
  const Param& p = GetParam();
  SHOAL_SKIP_UNLESS_USABLE(p.transport);
  shoal::test::MultiProcessOptions opts;
  opts.env["SHOAL_TRANSPORT"] = p.transport;
  opts.env["SHOAL_TIMEOUT"] = "30";
  opts.timeoutSeconds = 60;
  auto results = runRanks(
      2,
      [&](int rank, int n, const shoalUniqueId& id) {
        shoalComm_t comm = nullptr;
        ASSERT_EQ(shoalCommInitRank(&comm, n, id, rank), shoalSuccess)
            << shoalGetLastError(nullptr);
        Buffers b;
        // One matching call first, so the mismatched one is #2.
        ASSERT_EQ(allreduceFloatSum(comm, b), shoalSuccess) << shoalGetLastError(comm);
        for (size_t i = 0; i < 64; ++i) ASSERT_EQ(b.out[i], 2.0f) << i;
        auto t0 = std::chrono::steady_clock::now();
        shoalResult_t r = rank == 0 ? p.c.rank0(comm, b) : p.c.rank1(comm, b);
        double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        std::string msg = shoalGetLastError(comm);
        EXPECT_EQ(r, shoalInvalidUsage) << msg;
        EXPECT_NE(msg.find("mismatched collective calls"), std::string::npos) << msg;
        EXPECT_NE(msg.find("rank 0 called " + p.c.described0), std::string::npos) << msg;
        EXPECT_NE(msg.find("rank 1 called " + p.c.described1), std::string::npos) << msg;
        EXPECT_LT(secs, 10.0) << msg;
        float f = 0;
        EXPECT_EQ(shoalAllReduce(&f, &f, 1, shoalFloat32, shoalSum, comm, nullptr),
                  shoalInvalidUsage);
        EXPECT_NE(std::string(shoalGetLastError(comm)).find("unusable after an earlier error"),
                  std::string::npos)
            << shoalGetLastError(comm);
        EXPECT_EQ(shoalCommDestroy(comm), shoalSuccess);
      },
      opts);
  shoal::test::expectAllRanksPassed(results);
}

INSTANTIATE_TEST_SUITE_P(Fields, Mismatch, testing::ValuesIn(params(cases())), paramName);
INSTANTIATE_TEST_SUITE_P(Roots, Mismatch, testing::ValuesIn(params(rootCases())), paramName);

}  // namespace
