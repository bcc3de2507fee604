// Allreduce over every transport x world size x count x dtype x op, in place
// and out of place; every element of every rank is checked.
#include <gtest/gtest.h>

#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "transports/device.h"
#include "util/multiprocess.h"
#include "util/reference.h"

namespace {

using shoal::test::runRanks;

struct MatrixParam {
  std::string transport;
  int nranks;
};

std::string paramName(const testing::TestParamInfo<MatrixParam>& p) {
  return p.param.transport + "_" + std::to_string(p.param.nranks) + "ranks";
}

void skipIfUnusable(const std::string& transport) {
  std::string why;
  if (!shoal::test::transportUsable(transport, &why)) {
    GTEST_SKIP() << "transport " << transport << " is not usable here: " << why;
  }
}

class AllReduceMatrix : public testing::TestWithParam<MatrixParam> {};

TEST_P(AllReduceMatrix, EveryCountTypeOpAndPlacement) {
  const auto& p = GetParam();
  skipIfUnusable(p.transport);
  if (IsSkipped()) return;
  if (p.transport == "shm" && getenv("SHOAL_HOST_ID")) GTEST_SKIP() << "shm needs one host";
  const std::vector<size_t> counts = {0, 1, 3, 1000, (1u << 20) + 7};
  shoal::test::MultiProcessOptions opts;
  opts.env["SHOAL_TRANSPORT"] = p.transport;
  auto results = runRanks(
      p.nranks,
      [&](int rank, int n, const shoalUniqueId& id) {
        shoalComm_t comm = nullptr;
        ASSERT_EQ(shoalCommInitRank(&comm, n, id, rank), shoalSuccess)
            << shoalGetLastError(nullptr);
        ASSERT_STREQ(shoalCommTransportName(comm), p.transport.c_str());
        for (size_t count : counts) {
          for (auto t : shoal::test::allTypes()) {
            const size_t bytes = count * shoal::test::typeSize(t);
            std::vector<char> send(bytes + 1), recv(bytes + 1), want(bytes + 1), input(bytes + 1);
            for (auto op : shoal::test::allOps()) {
              shoal::test::fillExpected(want.data(), count, t, op, n);
              shoal::test::fillInput(input.data(), count, t, op, rank);
              for (bool inPlace : {false, true}) {
                memcpy(send.data(), input.data(), bytes);
                void* out = inPlace ? send.data() : recv.data();
                if (!inPlace) memset(recv.data(), 0x5a, bytes);
                ASSERT_EQ(shoalAllReduce(send.data(), out, count, t, op, comm, nullptr),
                          shoalSuccess)
                    << shoalGetLastError(comm);
                std::string diff = shoal::test::compare(out, want.data(), count, t);
                ASSERT_EQ(diff, "") << "rank " << rank << " count " << count << " type " << t
                                    << " op " << op << (inPlace ? " in place" : " out of place");
                if (!inPlace) {
                  ASSERT_EQ(memcmp(input.data(), send.data(), bytes), 0) << "send buffer modified";
                }
              }
            }
          }
        }
        ASSERT_EQ(shoalCommDestroy(comm), shoalSuccess);
      },
      opts);
  shoal::test::expectAllRanksPassed(results);
}

std::vector<MatrixParam> matrix() {
  std::vector<MatrixParam> v;
  for (const char* t : {"shm", "ucx", "verbs"}) {
    for (int n = 1; n <= 8; ++n) v.push_back({t, n});
  }
  return v;
}

INSTANTIATE_TEST_SUITE_P(Transports, AllReduceMatrix, testing::ValuesIn(matrix()), paramName);

}  // namespace
