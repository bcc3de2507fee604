// Binomial tree reduce: in round k the ranks whose relative rank has bit k
// set (and no lower one) send their partial result 2^k ranks toward the root,
// which folds it into its own. ceil(log2 n) rounds; for small messages.
// Ranks other than the root accumulate in scratch, never in the receive
// buffer (which matters on the root only).
#include "algorithms/algorithm.h"
#include "algorithms/binomial_tree.h"
#include "algorithms/schedule_builder.h"

namespace shoal::algorithms {

Schedule treeReduce(const CollArgs& a) {
  Schedule s;
  ScheduleBuilder b(s, a);
  const size_t es = b.elemSize();
  const bool isRoot = a.rank == a.root;
  if (a.count == 0) return s;
  const BinomialTree tree(a.rank, a.root, a.nranks);
  const BufId accBuf = isRoot ? BufId::kRecv : BufId::kScratch;
  if (!isRoot && !tree.children.empty()) b.needScratch(a.count * es);
  if (isRoot && tree.children.empty()) b.copy({BufId::kRecv, 0}, {BufId::kSend, 0}, a.count * es);
  forEachChunk(0, a.count, b.chunkElems(), [&](size_t o, size_t c) {
    BufRef acc{BufId::kSend, o * es};
    for (int child : tree.children) {
      b.recvReduce(child, {accBuf, o * es}, acc, c * es);
      acc = {accBuf, o * es};
    }
    if (tree.parent >= 0) {
      b.send(tree.parent, acc, c * es);
    } else if (a.op == shoalAvg && a.nranks > 1) {
      b.avg({BufId::kRecv, o * es}, c * es);
    }
  });
  return s;
}

}  // namespace shoal::algorithms
