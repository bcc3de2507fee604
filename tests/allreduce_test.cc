// Allreduce over every transport x world size x count x dtype x op, in place
// and out of place; every element of every rank is checked.
#include <gtest/gtest.h>

#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "transports/device.h"
#include "util/multiprocess.h"
#include "util/reduction_buffers.h"
#include "util/reference.h"
#include "util/transport_matrix.h"

namespace {

using shoal::test::runRanks;
using shoal::test::TransportRanks;

void skipIfUnusable(const std::string& transport) {
  std::string why;
  if (!shoal::test::transportUsable(transport, &why)) {
    GTEST_SKIP() << "transport " << transport << " is not usable here: " << why;
  }
}

// scripts/sanitize.sh runs this matrix once per algorithm with
// SHOAL_ALGO=allreduce:<name>; then every call that moves data must have run
// that algorithm (hier is left out there: on one host it falls back).
std::string forcedAllReduce() {
  const char* v = getenv("SHOAL_ALGO");
  const std::string prefix = "allreduce:";
  if (!v || std::string(v).rfind(prefix, 0) != 0) return "";
  return std::string(v).substr(prefix.size());
}

class AllReduceMatrix : public testing::TestWithParam<TransportRanks> {};

TEST_P(AllReduceMatrix, EveryCountTypeOpAndPlacement) {
  const auto& p = GetParam();
  skipIfUnusable(p.transport);
  if (IsSkipped()) return;
  if (p.transport == "shm" && getenv("SHOAL_HOST_ID")) GTEST_SKIP() << "shm needs one host";
  const std::vector<size_t> counts = {0, 1, 3, 1000, (1u << 20) + 7};
  shoal::test::MultiProcessOptions opts;
  opts.env["SHOAL_TRANSPORT"] = p.transport;
  const std::string forced = forcedAllReduce();
  auto results = runRanks(
      p.nranks,
      [&](int rank, int n, const shoalUniqueId& id) {
        shoalComm_t comm = nullptr;
        ASSERT_EQ(shoalCommInitRank(&comm, n, id, rank), shoalSuccess)
            << shoalGetLastError(nullptr);
        ASSERT_STREQ(shoalCommTransportName(comm), p.transport.c_str());
        for (size_t count : counts) {
          for (auto t : shoal::test::allTypes()) {
            for (auto op : shoal::test::allOps()) {
              shoal::test::ReductionBuffers b(count, t, op, rank, n);
              for (bool inPlace : {false, true}) {
                b.reset();
                void* out = inPlace ? b.send.data() : b.recv.data();
                ASSERT_EQ(shoalAllReduce(b.send.data(), out, count, t, op, comm, nullptr),
                          shoalSuccess)
                    << shoalGetLastError(comm);
                std::string diff = shoal::test::compare(out, b.want.data(), count, t);
                ASSERT_EQ(diff, "") << "rank " << rank << " count " << count << " type " << t
                                    << " op " << op << (inPlace ? " in place" : " out of place");
                if (!inPlace) {
                  ASSERT_TRUE(b.sendUnchanged()) << "send buffer modified";
                }
                if (count > 0 && !forced.empty()) {
                  ASSERT_STREQ(shoalCommLastAlgorithm(comm), forced.c_str());
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

INSTANTIATE_TEST_SUITE_P(Transports, AllReduceMatrix,
                         testing::ValuesIn(shoal::test::everyTransportAndWorldSize()),
                         shoal::test::transportRanksName);

}  // namespace
