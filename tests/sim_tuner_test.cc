// The tuner's hierarchical model with NICs per node: the cross-node phase
// of hier runs one ring per local rank, so its bandwidth term is carried by
// min(k, ranks per node) links of a node, not by one. The simulator's
// profiles pass their NIC count (tuningFromProfile), and a tuning file can
// set it ("nics <per node>").
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "core/error.h"
#include "core/tuner.h"
#include "sim/predict.h"

namespace shoal {
namespace {

CollArgs allreduceArgs(size_t count, const std::vector<std::string>& hosts) {
  return CollArgs{CollKind::kAllReduce,
                  0,
                  static_cast<int>(hosts.size()),
                  count,
                  shoalFloat32,
                  shoalSum,
                  0,
                  false,
                  512 << 10,
                  &hosts};
}

std::vector<std::string> blockHosts(int nodes, int perNode) {
  std::vector<std::string> h;
  for (int r = 0; r < nodes * perNode; ++r) h.push_back("node" + std::to_string(r / perNode));
  return h;
}

TEST(SimTuner, ParsesNicsPerNode) {
  TuningParams p = defaultTuning("verbs");
  EXPECT_EQ(p.nicsPerNode, 1);  // the model before NIC counts: one link per node
  parseTuningText("nics 8  # one per GPU\n", "verbs", "t", &p);
  EXPECT_EQ(p.nicsPerNode, 8);
  parseTuningText("nics 0\n", "verbs", "t", &p);
  EXPECT_EQ(p.nicsPerNode, 0);
  for (const char* bad : {"nics", "nics -1", "nics 2 3", "nics x"}) {
    try {
      parseTuningText(std::string("\n") + bad, "verbs", "f.txt", &p);
      ADD_FAILURE() << "accepted: " << bad;
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("f.txt:2"), std::string::npos) << e.what();
    }
  }
}

// Only the cross-node bandwidth term changes: by S * 2(N-1)/N * beta * (1 - 1/k).
TEST(SimTuner, HierCrossNodeBandwidthSplitsOverTheNodesNics) {
  const int nodes = 16, m = 8;
  const auto hosts = blockHosts(nodes, m);
  const CollArgs a = allreduceArgs(size_t{1} << 28, hosts);
  const double S = 4.0 * (size_t{1} << 28);
  TuningParams p = defaultTuning("verbs");
  const double one = predictSeconds(a, "hier", p);
  for (int k : {2, 4, 8}) {
    p.nicsPerNode = k;
    const double want = one - 2.0 * (nodes - 1) / nodes * S * p.inter.beta * (1.0 - 1.0 / k);
    EXPECT_NEAR(predictSeconds(a, "hier", p), want, 1e-12 * one) << k << " NICs";
  }
  p.nicsPerNode = 8;
  const double eight = predictSeconds(a, "hier", p);
  p.nicsPerNode = 0;  // one per rank
  EXPECT_DOUBLE_EQ(predictSeconds(a, "hier", p), eight);
  p.nicsPerNode = 32;  // more NICs than ranks: the ranks' rings use at most m
  EXPECT_DOUBLE_EQ(predictSeconds(a, "hier", p), eight);
  // The flat algorithms do not depend on it.
  for (const char* flat : {"ring", "tree", "rhd", "rd"}) {
    p.nicsPerNode = 1;
    const double t1 = predictSeconds(a, flat, p);
    p.nicsPerNode = 0;
    EXPECT_DOUBLE_EQ(predictSeconds(a, flat, p), t1) << flat;
  }
}

TEST(SimTuner, ProfilesPassTheirNicCount) {
  sim::Profile prof = sim::namedProfile("ndr400");
  EXPECT_EQ(sim::tuningFromProfile(prof).nicsPerNode, prof.nicsPerNode);
  sim::setProfileField(&prof, "nicsPerNode=1");
  EXPECT_EQ(sim::tuningFromProfile(prof).nicsPerNode, 1);
}

}  // namespace
}  // namespace shoal
