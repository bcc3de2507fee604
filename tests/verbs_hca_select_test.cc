// SHOAL_IB_HCA parsing and matching (NCCL's grammar); needs no RDMA device.
#include <gtest/gtest.h>

#include "shoal/build_config.h"

#if SHOAL_WITH_VERBS_ENABLED
#include "transports/verbs/hca_select.h"

namespace {

using shoal::transport::verbs::HcaFilter;

TEST(VerbsHcaSelect, EmptySelectsEverything) {
  HcaFilter f = HcaFilter::parse("");
  EXPECT_TRUE(f.entries.empty());
  EXPECT_TRUE(f.selects("mlx5_0", 1));
  EXPECT_TRUE(f.selects("rxe0", 2));
}

TEST(VerbsHcaSelect, PrefixMatchWithPorts) {
  HcaFilter f = HcaFilter::parse("mlx5_1:1,rxe");
  ASSERT_EQ(f.entries.size(), 2u);
  EXPECT_EQ(f.entries[0].device, "mlx5_1");
  EXPECT_EQ(f.entries[0].port, 1);
  EXPECT_EQ(f.entries[1].device, "rxe");
  EXPECT_EQ(f.entries[1].port, 0);
  EXPECT_FALSE(f.exclude);
  EXPECT_FALSE(f.exact);
  EXPECT_TRUE(f.selects("mlx5_1", 1));
  EXPECT_FALSE(f.selects("mlx5_1", 2));
  EXPECT_TRUE(f.selects("mlx5_10", 1));  // prefix
  EXPECT_FALSE(f.selects("mlx5_0", 1));
  EXPECT_TRUE(f.selects("rxe0", 1));
  EXPECT_TRUE(f.selects("rxe1", 3));
}

TEST(VerbsHcaSelect, ExactNames) {
  HcaFilter f = HcaFilter::parse("=mlx5_1");
  EXPECT_TRUE(f.exact);
  EXPECT_TRUE(f.selects("mlx5_1", 1));
  EXPECT_FALSE(f.selects("mlx5_10", 1));
}

TEST(VerbsHcaSelect, ExclusionInEitherPrefixOrder) {
  for (const char* spec : {"^=mlx5_0:1", "=^mlx5_0:1"}) {
    HcaFilter f = HcaFilter::parse(spec);
    EXPECT_TRUE(f.exclude) << spec;
    EXPECT_TRUE(f.exact) << spec;
    EXPECT_FALSE(f.selects("mlx5_0", 1)) << spec;
    EXPECT_TRUE(f.selects("mlx5_0", 2)) << spec;
    EXPECT_TRUE(f.selects("mlx5_00", 1)) << spec;
    EXPECT_TRUE(f.selects("rxe0", 1)) << spec;
  }
}

TEST(VerbsHcaSelect, EmptyItemsIgnored) {
  HcaFilter f = HcaFilter::parse("^,rxe0,,");
  ASSERT_EQ(f.entries.size(), 1u);
  EXPECT_EQ(f.entries[0].device, "rxe0");
  EXPECT_FALSE(f.selects("rxe0", 1));
  EXPECT_TRUE(f.selects("rxe1", 1));
}

}  // namespace
#else
TEST(VerbsHcaSelect, NotBuilt) { GTEST_SKIP() << "verbs transport not built into this shoal"; }
#endif
