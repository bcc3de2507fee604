// Allreduce of more than 256 MiB per rank: many chunks per segment and a
// segment size that is not a multiple of the chunk, every element checked.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <vector>

#include "util/multiprocess.h"
#include "util/reference.h"

namespace {

TEST(AllReduceLarge, Over256MiBPerRank) {
  const size_t count = (size_t{64} << 20) + 3;  // int32: 256 MiB + 12 bytes
  for (const std::string& transport : shoal::test::usableTransports()) {
    if (transport == "verbs") continue;  // the rxe guests run a smaller matrix
    SCOPED_TRACE(transport);
    shoal::test::MultiProcessOptions opts;
    opts.env["SHOAL_TRANSPORT"] = transport;
    auto results = shoal::test::runRanks(
        3,
        [&](int rank, int n, const shoalUniqueId& id) {
          shoalComm_t comm = nullptr;
          ASSERT_EQ(shoalCommInitRank(&comm, n, id, rank), shoalSuccess)
              << shoalGetLastError(nullptr);
          std::vector<int32_t> data(count), want(count);
          for (auto op : {shoalSum, shoalMax}) {
            shoal::test::fillInput(data.data(), count, shoalInt32, op, rank);
            shoal::test::fillExpected(want.data(), count, shoalInt32, op, n);
            ASSERT_EQ(
                shoalAllReduce(data.data(), data.data(), count, shoalInt32, op, comm, nullptr),
                shoalSuccess)
                << shoalGetLastError(comm);
            ASSERT_EQ(shoal::test::compare(data.data(), want.data(), count, shoalInt32), "")
                << "rank " << rank;
          }
          ASSERT_EQ(shoalCommDestroy(comm), shoalSuccess);
        },
        opts);
    shoal::test::expectAllRanksPassed(results);
  }
}

}  // namespace
