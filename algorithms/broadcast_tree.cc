// Binomial tree broadcast: in round k every rank that has the data sends it
// 2^k ranks further (relative to the root), so all ranks have it after
// ceil(log2 n) rounds. Chunks are pipelined through the tree. Suits small
// messages, where the chain's n-1 hops of latency dominate.
#include "algorithms/algorithm.h"
#include "algorithms/binomial_tree.h"
#include "algorithms/schedule_builder.h"

namespace shoal::algorithms {

Schedule treeBroadcast(const CollArgs& a) {
  Schedule s;
  ScheduleBuilder b(s, a);
  const size_t es = b.elemSize();
  const bool isRoot = a.rank == a.root;
  if (a.count == 0) return s;
  const BinomialTree tree(a.rank, a.root, a.nranks);
  if (isRoot) b.copy({BufId::kRecv, 0}, {BufId::kSend, 0}, a.count * es);
  const BufId from = isRoot ? BufId::kSend : BufId::kRecv;
  // Not marked Step::land, for the reason broadcast_ring.cc gives.
  forEachChunk(0, a.count, b.chunkElems(), [&](size_t o, size_t c) {
    if (tree.parent >= 0) b.recv(tree.parent, {BufId::kRecv, o * es}, c * es);
    // Farthest child first: its subtree is the largest.
    for (auto child = tree.children.rbegin(); child != tree.children.rend(); ++child) {
      b.send(*child, {from, o * es}, c * es);
    }
  });
  return s;
}

}  // namespace shoal::algorithms
