// The C++ layer (shoal/ps.hpp) over a real one-worker, one-server job: typed
// push/pull/pushPull on containers, versions, explicit registration and
// deregistration of a pull buffer (a pull after deregistering registers
// again), and failures surfacing as shoal::Exception with the library's message.
#include <gtest/gtest.h>

#include <cstdint>
#include <string>
#include <vector>

#include "shoal/ps.hpp"
#include "util/multiprocess.h"

namespace {

TEST(PsCppApi, TypedPushPullOnContainers) {
  auto results = shoal::test::runRanks(2, [](int rank, int n, const shoalUniqueId& raw) {
    shoal::ps::Options o{};
    o.mode = shoalPsSync;
    o.update = shoalPsUpdateSum;
    o.partitionBytes = 4096;
    o.timeoutSeconds = 60;
    shoal::ps::ParameterServer ps(shoal::UniqueId(raw), n, rank,
                                  rank == 0 ? shoal::ps::Role::Worker : shoal::ps::Role::Server,
                                  &o);
    EXPECT_EQ(ps.isWorker(), rank == 0);
    EXPECT_EQ(ps.isServer(), rank == 1);
    if (rank == 0) {
      EXPECT_EQ(ps.workerIndex(), std::make_pair(0, 1));
      std::vector<double> grad(3000), out(3000, -1.0);
      ps.registerBuffer(out.data(), out.size() * sizeof(double));
      for (int r = 1; r <= 3; ++r) {
        for (size_t i = 0; i < grad.size(); ++i) grad[i] = static_cast<double>(i) * r;
        auto h = ps.pushPull(11, grad, out);
        EXPECT_EQ(ps.wait(h), static_cast<uint64_t>(r));
        for (size_t i = 0; i < out.size(); ++i) ASSERT_EQ(out[i], static_cast<double>(i) * r);
      }
      ps.deregisterBuffer(out.data());
      std::fill(out.begin(), out.end(), -1.0);
      auto h = ps.pull(11, out);
      EXPECT_EQ(ps.wait(h), 3u);
      for (size_t i = 0; i < out.size(); ++i) ASSERT_EQ(out[i], static_cast<double>(i) * 3);
      // Integer keys work with the sum rule; a size change is refused.
      std::vector<int64_t> counts = {1, 2, 3};
      ps.wait(ps.push(12, counts));
      std::vector<int64_t> back(3);
      EXPECT_EQ(ps.wait(ps.pull(12, back)), 1u);
      EXPECT_EQ(back, counts);
      std::vector<int64_t> shorter = {1};
      auto bad = ps.push(12, shorter);
      try {
        ps.wait(bad);
        ADD_FAILURE() << "a push changing the key's size was accepted";
      } catch (const shoal::Exception& e) {
        EXPECT_EQ(e.code(), shoalInvalidArgument);
        EXPECT_NE(std::string(e.what()).find("first used"), std::string::npos) << e.what();
      }
      EXPECT_THROW(ps.deregisterBuffer(counts.data()), shoal::Exception);  // never registered
    } else {
      std::vector<float> x(2);
      EXPECT_THROW(ps.push(1, x), shoal::Exception);
    }
    ps.finalize();
    EXPECT_THROW(ps.roles(), shoal::Exception);
  });
  shoal::test::expectAllRanksPassed(results);
}

}  // namespace
