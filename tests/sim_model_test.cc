// The cluster simulator (src/sim): it must move exactly the messages the
// algorithms' schedules list, its shortcuts (node symmetry, simulating one
// period of ranks) must not change the answer, and its ndr400 profile must
// land where published NCCL ring figures are.
#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

#include "algorithms/algorithm.h"
#include "core/error.h"
#include "sim/predict.h"

namespace shoal::sim {
namespace {

struct Counts {
  std::vector<uint64_t> sentMsgs, sentBytes, recvMsgs, recvBytes;
};

// Straight from the algorithm code: what each rank's schedule sends and receives.
Counts countSchedules(const Cluster& c, const WorkloadSpec& spec) {
  const int n = c.ranks();
  const auto hosts = hostIds(c);
  const auto* algo = algorithms::findAlgorithm(spec.kind, spec.algorithm);
  Counts k;
  k.sentMsgs.assign(n, 0);
  k.sentBytes.assign(n, 0);
  k.recvMsgs.assign(n, 0);
  k.recvBytes.assign(n, 0);
  for (int r = 0; r < n; ++r) {
    Schedule s = algo->plan(collArgsFor(spec, r, n, hosts));
    for (const Step& x : s.steps) {
      if (x.kind == StepKind::kSend) {
        ++k.sentMsgs[r];
        k.sentBytes[r] += x.bytes;
      } else if (x.kind == StepKind::kRecv || x.kind == StepKind::kRecvReduce) {
        ++k.recvMsgs[r];
        k.recvBytes[r] += x.bytes;
      }
    }
  }
  return k;
}

WorkloadSpec allreduce(const std::string& algo, size_t count, int symmetry = 1) {
  WorkloadSpec s;
  s.algorithm = algo;
  s.count = count;
  s.symmetry = symmetry;
  return s;
}

EngineOptions engineOptions(bool fold = true) {
  EngineOptions o;
  o.slots = slotsFromConfig();
  o.fold = fold;
  return o;
}

void expectCountsMatch(const Cluster& c, const WorkloadSpec& spec) {
  SCOPED_TRACE(spec.algorithm + " on " + std::to_string(c.nodes) + "x" +
               std::to_string(c.ranksPerNode) + ", count " + std::to_string(spec.count));
  const Counts want = countSchedules(c, spec);
  const Prediction got = predict(c, spec, namedProfile("ndr400"), engineOptions());
  EXPECT_EQ(got.run.sentMsgs, want.sentMsgs);
  EXPECT_EQ(got.run.sentBytes, want.sentBytes);
  EXPECT_EQ(got.run.recvMsgs, want.recvMsgs);
  EXPECT_EQ(got.run.recvBytes, want.recvBytes);
  EXPECT_GT(got.seconds, 0);
}

TEST(SimModel, MessageCountsMatchTheSchedules) {
  // Uneven splits (1000 elements over 12 ranks), several chunks per segment
  // (3 MiB), a size that leaves most ring segments empty (5 elements), and
  // a node-symmetric one that the engine folds to one node (8 nodes).
  for (const char* algo : {"ring", "tree", "hier"}) {
    expectCountsMatch({3, 4}, allreduce(algo, 1000));
    expectCountsMatch({3, 4}, allreduce(algo, 5));
    expectCountsMatch({4, 2}, allreduce(algo, 3 << 18));
    expectCountsMatch({8, 4}, allreduce(algo, 1 << 16));
  }
}

TEST(SimModel, RingSendsTwoNMinusOneOverNOfTheData) {
  const Cluster c{4, 4};
  const int n = c.ranks();
  const size_t count = 16 * 4096;  // divides evenly into 16 segments
  const size_t bytes = count * 4;
  const Prediction p =
      predict(c, allreduce("ring", count), namedProfile("ndr400"), engineOptions());
  for (int r = 0; r < n; ++r) {
    EXPECT_EQ(p.run.sentBytes[r], 2 * (n - 1) * bytes / n) << "rank " << r;
    EXPECT_EQ(p.run.recvBytes[r], 2 * (n - 1) * bytes / n) << "rank " << r;
    EXPECT_EQ(p.run.sentMsgs[r], 2u * (n - 1)) << "rank " << r;  // one chunk per segment
  }
}

TEST(SimModel, SymmetryAndFoldingGiveTheSameTimeAsEveryRank) {
  const Profile prof = namedProfile("ndr400");
  const Cluster c{8, 4};
  for (const char* algo : {"ring", "hier"}) {
    SCOPED_TRACE(algo);
    const size_t count = 1 << 16;
    Workload sym = buildWorkload(c, allreduce(algo, count, 1));
    WorkloadSpec threeThreads = allreduce(algo, count, 0);
    threeThreads.threads = 3;
    Workload all = buildWorkload(c, threeThreads);
    WorkloadSpec oneThread = allreduce(algo, count, 0);
    oneThread.threads = 1;
    Workload serial = buildWorkload(c, oneThread);
    ASSERT_EQ(sym.period, c.ranksPerNode) << sym.how;
    ASSERT_EQ(all.period, c.ranks());
    for (int r = 0; r < c.ranks(); ++r) {
      EXPECT_TRUE(sym.templates[sym.templateOf[r]] == all.templates[all.templateOf[r]])
          << "rank " << r;
      EXPECT_TRUE(serial.templates[serial.templateOf[r]] == all.templates[all.templateOf[r]])
          << "rank " << r;
    }
    const RunResult folded = simulate(sym, prof, engineOptions(true));
    const RunResult full = simulate(all, prof, engineOptions(false));
    EXPECT_EQ(folded.simulatedRanks, c.ranksPerNode);
    EXPECT_EQ(full.simulatedRanks, c.ranks());
    EXPECT_NEAR(folded.seconds, full.seconds, 1e-12 * full.seconds);
  }
}

// Recursive halving-doubling and doubling pair rank r with r XOR 2^k: not
// translation-symmetric, but rank l + k (k a multiple of the node size) is
// rank l with every peer XORed by k (for rhd with ranges of several
// messages too, because it orders them by which half the next level keeps). Using that (templates
// of node 0, one node or leaf of ranks simulated) must give every rank's own peers and schedule,
// and the all-ranks time, message counts and bytes, with and without a spine and with a shared NIC.
TEST(SimModel, ExchangeSymmetryAndFoldingGiveTheSameTimeAsEveryRank) {
  Profile spine = namedProfile("ndr400");
  setProfileField(&spine, "leafNodes=2");
  setProfileField(&spine, "oversub=4");
  Profile shared = namedProfile("ndr400");
  setProfileField(&shared, "nicsPerNode=1");
  struct Case {
    const char* algo;
    Cluster c;
    size_t count;
    const Profile* prof;
    int simulated;
  };
  const Profile flat = namedProfile("ndr400");
  for (const Case& k :
       {Case{"rhd", {16, 8}, 1 << 12, &flat, 8}, Case{"rd", {8, 4}, 1 << 10, &flat, 4},
        Case{"rhd", {8, 2}, 1 << 8, &spine, 4}, Case{"rhd", {4, 4}, 1 << 12, &shared, 4},
        // Ranges of several messages (4 MiB: 4 chunks at the first level)
        // and of parts of one (the last levels), 16 MiB on a spine.
        Case{"rhd", {16, 8}, 1 << 20, &flat, 8}, Case{"rhd", {8, 4}, 1 << 22, &spine, 8},
        Case{"rd", {8, 2}, 1 << 20, &flat, 2}}) {
    SCOPED_TRACE(std::string(k.algo) + " " + std::to_string(k.c.nodes) + "x" +
                 std::to_string(k.c.ranksPerNode));
    Workload sym = buildWorkload(k.c, allreduce(k.algo, k.count, 1));
    Workload all = buildWorkload(k.c, allreduce(k.algo, k.count, 0));
    ASSERT_TRUE(sym.xorMap) << sym.how;
    ASSERT_EQ(sym.period, k.c.ranksPerNode);
    ASSERT_FALSE(all.xorMap);
    for (int r = 0; r < k.c.ranks(); ++r) {
      const Template& a = sym.templates[sym.templateOf[r]];
      const Template& b = all.templates[all.templateOf[r]];
      ASSERT_EQ(a.steps.size(), b.steps.size()) << "rank " << r;
      for (size_t i = 0; i < a.steps.size(); ++i) {
        const SimStep &x = a.steps[i], &y = b.steps[i];
        EXPECT_TRUE(x.kind == y.kind && x.chan == y.chan && x.bytes == y.bytes &&
                    x.dep[0] == y.dep[0] && x.dep[1] == y.dep[1])
            << "rank " << r << " step " << i;
      }
      ASSERT_EQ(a.peers.size(), b.peers.size()) << "rank " << r;
      for (size_t ch = 0; ch < a.peers.size(); ++ch)
        EXPECT_EQ(peerOf(sym, r, ch), peerOf(all, r, ch)) << "rank " << r << " channel " << ch;
    }
    const RunResult folded = simulate(sym, *k.prof, engineOptions(true));
    const RunResult full = simulate(all, *k.prof, engineOptions(false));
    EXPECT_EQ(folded.simulatedRanks, k.simulated);
    EXPECT_EQ(full.simulatedRanks, k.c.ranks());
    EXPECT_NEAR(folded.seconds, full.seconds, 1e-12 * full.seconds);
    EXPECT_EQ(folded.sentMsgs, full.sentMsgs);
    EXPECT_EQ(folded.sentBytes, full.sentBytes);
    EXPECT_EQ(folded.recvMsgs, full.recvMsgs);
    EXPECT_EQ(folded.recvBytes, full.recvBytes);
  }
  // Not a power of two: rhd's fix-up ranks break the symmetry, and it must
  // not be assumed.
  Workload odd = buildWorkload({6, 4}, allreduce("rhd", 1 << 12, 1));
  EXPECT_FALSE(odd.xorMap) << odd.how;
  EXPECT_EQ(odd.period, 24);
}

// Published NCCL ring allreduce results on NDR InfiniBand reach 46-48 GB/s
// bus bandwidth per 400 Gb/s NIC (92-96% of the 50 GB/s line rate) from
// two nodes up. A flat ring crosses each node boundary through one NIC, so
// its busbw is one NIC's. The model must land within 10% of that band.
TEST(SimModel, NdrRingBusBandwidthMatchesPublishedNccl) {
  const Profile prof = namedProfile("ndr400");
  struct Case {
    Cluster c;
    size_t bytes;
  };
  for (const Case& k : {Case{{2, 8}, size_t{1} << 30}, Case{{4, 1}, size_t{1} << 30},
                        Case{{16, 8}, size_t{256} << 20}}) {
    const Prediction p = predict(k.c, allreduce("ring", k.bytes / 4), prof, engineOptions());
    SCOPED_TRACE(std::to_string(k.c.nodes) + "x" + std::to_string(k.c.ranksPerNode));
    EXPECT_GE(p.busBw, 46.0 * 0.9);
    EXPECT_LE(p.busBw, 48.0 * 1.1);
  }
}

// Small sizes are latency: a 2-rank ring of one element per rank is a
// reduce-scatter message, then an allgather message that depends on it,
// and the allgather send completes when the write's acknowledgement is
// back. Each costs a step on the sender, the wire latency, and a step on
// the receiver.
TEST(SimModel, SmallRingIsTheSumOfItsLatencies) {
  const Profile prof = namedProfile("ndr400");
  const Prediction p = predict({2, 1}, allreduce("ring", 2), prof, engineOptions());
  const double us = 1e-6;
  const double want = 3 * prof.stepUs * us + 3 * prof.nicLatUs * us;
  EXPECT_NEAR(p.seconds, want, 0.02 * want);
  // And a tree beats the flat ring at 8 bytes once there are many ranks.
  const Prediction ring = predict({16, 8}, allreduce("ring", 2), prof, engineOptions());
  const Prediction tree = predict({16, 8}, allreduce("tree", 2), prof, engineOptions());
  EXPECT_LT(tree.seconds * 5, ring.seconds);
}

// Eight ranks behind one NIC queue on it: hier's eight cross-node rings then
// share one link, while a flat ring only ever has one flow per NIC.
TEST(SimModel, SharedNicSerializesTheNodesTraffic) {
  Profile own = namedProfile("ndr400");
  Profile shared = own;
  setProfileField(&shared, "nicsPerNode=1");
  const Cluster c{4, 8};
  const size_t count = size_t{64} << 20;  // 256 MiB
  const double hierOwn = predict(c, allreduce("hier", count), own, engineOptions()).seconds;
  const double hierShared = predict(c, allreduce("hier", count), shared, engineOptions()).seconds;
  const double ringOwn = predict(c, allreduce("ring", count), own, engineOptions()).seconds;
  const double ringShared = predict(c, allreduce("ring", count), shared, engineOptions()).seconds;
  EXPECT_GT(hierShared, 3 * hierOwn);
  EXPECT_NEAR(ringShared, ringOwn, 1e-9 * ringOwn);
}

// An oversubscribed spine slows what crosses leaves: with 2 nodes x 2 ranks
// per leaf and 4:1 uplinks (one NIC's worth), hier's two cross-node rings
// share an uplink, the flat ring's single flow does not notice. Folding must
// still give the all-ranks answer when the period is a leaf, not a node.
TEST(SimModel, OversubscribedSpineSlowsAndFoldsByLeaf) {
  Profile flat = namedProfile("ndr400");
  Profile spine = flat;
  setProfileField(&spine, "leafNodes=2");
  setProfileField(&spine, "oversub=4");
  const Cluster c{8, 2};
  const size_t big = size_t{16} << 20;  // 64 MiB
  const auto opts = engineOptions(false);
  const double hierFlat = predict(c, allreduce("hier", big, 0), flat, opts).seconds;
  const double hierSpine = predict(c, allreduce("hier", big, 0), spine, opts).seconds;
  const double ringFlat = predict(c, allreduce("ring", big, 0), flat, opts).seconds;
  const double ringSpine = predict(c, allreduce("ring", big, 0), spine, opts).seconds;
  EXPECT_GT(hierSpine, 1.5 * hierFlat);
  EXPECT_NEAR(ringSpine, ringFlat, 1e-9 * ringFlat);
  // Sizes at which both are exactly node-symmetric.
  for (const auto& [algo, count] : {std::pair<const char*, size_t>{"ring", big},
                                    std::pair<const char*, size_t>{"hier", size_t{1} << 16}}) {
    SCOPED_TRACE(algo);
    Workload sym = buildWorkload(c, allreduce(algo, count, 1));
    Workload all = buildWorkload(c, allreduce(algo, count, 0));
    ASSERT_EQ(sym.period, c.ranksPerNode) << sym.how;
    const RunResult folded = simulate(sym, spine, engineOptions(true));
    const RunResult full = simulate(all, spine, engineOptions(false));
    EXPECT_EQ(folded.simulatedRanks, 4);  // one leaf: 2 nodes x 2 ranks
    EXPECT_NEAR(folded.seconds, full.seconds, 1e-12 * full.seconds);
  }
}

// A schedule whose receive is never sent must be reported, not hang or
// produce a time.
TEST(SimModel, ReportsADeadlock) {
  Workload w;
  w.cluster = {2, 1};
  w.spec = allreduce("broken", 1);
  Schedule s;
  Step recv{StepKind::kRecv, 1};
  recv.bytes = 4;
  s.add(recv);
  Schedule other;
  Step recv2{StepKind::kRecv, 0};
  recv2.bytes = 4;
  other.add(recv2);
  w.templates = {toTemplate(s, 0, 2), toTemplate(other, 1, 2)};
  w.templateOf = {0, 1};
  w.period = 2;
  try {
    simulate(w, namedProfile("ndr400"), engineOptions());
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("deadlocks: rank 0 finished 0 of 1 steps"),
              std::string::npos)
        << e.what();
  }
}

}  // namespace
}  // namespace shoal::sim
