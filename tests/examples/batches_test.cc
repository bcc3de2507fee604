// Global batches and shards: every rank derives the same batches, the shards
// of a batch cover it exactly once, and each epoch visits every sample once.
#include "common/batches.h"

#include <gtest/gtest.h>

#include <vector>

namespace train {
namespace {

TEST(BatchScheduleTest, ShardsPartitionEveryBatchSize) {
  for (int ranks = 1; ranks <= 9; ++ranks) {
    for (size_t size : {0, 1, 3, 7, 96, 128, 129}) {
      size_t next = 0;
      for (int r = 0; r < ranks; ++r) {
        const auto [lo, hi] = BatchSchedule::shard(size, r, ranks);
        EXPECT_EQ(lo, next) << "size " << size << " rank " << r << "/" << ranks;
        EXPECT_LE(hi - lo, size / ranks + 1);
        EXPECT_GE(hi - lo, size / ranks);
        next = hi;
      }
      EXPECT_EQ(next, size) << "size " << size << " over " << ranks << " ranks";
    }
  }
}

TEST(BatchScheduleTest, EpochVisitsEverySampleOnceWithShortLastBatch) {
  BatchSchedule s(1000, 128, 42);
  ASSERT_EQ(s.stepsPerEpoch(), 8u);
  std::vector<int> seen(1000, 0);
  for (size_t step = 0; step < 8; ++step) {
    const auto b = s.globalBatch(3, step);
    EXPECT_EQ(b.size(), step < 7 ? 128u : 1000u - 7 * 128);
    for (uint32_t i : b) {
      ASSERT_LT(i, 1000u);
      ++seen[i];
    }
  }
  for (size_t i = 0; i < seen.size(); ++i) EXPECT_EQ(seen[i], 1) << "sample " << i;
}

TEST(BatchScheduleTest, SameSeedSameBatchesEpochsDiffer) {
  BatchSchedule a(500, 50, 7), b(500, 50, 7), c(500, 50, 8);
  // b is asked out of order: the order of calls must not matter.
  const auto b1 = b.globalBatch(1, 4);
  const auto b0 = b.globalBatch(0, 4);
  EXPECT_EQ(a.globalBatch(0, 4), b0);
  EXPECT_EQ(a.globalBatch(1, 4), b1);
  EXPECT_NE(a.globalBatch(0, 4), a.globalBatch(1, 4));
  EXPECT_NE(a.globalBatch(0, 4), c.globalBatch(0, 4));
}

TEST(BatchScheduleTest, StepPastEpochThrows) {
  BatchSchedule s(100, 30, 1);
  EXPECT_EQ(s.stepsPerEpoch(), 4u);
  EXPECT_EQ(s.globalBatch(0, 3).size(), 10u);
  EXPECT_THROW(s.globalBatch(0, 4), std::out_of_range);
}

}  // namespace
}  // namespace train
