// Binomial tree broadcast: in round k every rank that has the data sends it
// 2^k ranks further (relative to the root), so all ranks have it after
// ceil(log2 n) rounds. Chunks are pipelined through the tree. Suits small
// messages, where the chain's n-1 hops of latency dominate.
#include "algorithms/algorithm.h"
#include "algorithms/schedule_builder.h"

namespace shoal::algorithms {

Schedule treeBroadcast(const CollArgs& a) {
  Schedule s;
  ScheduleBuilder b(s, a);
  const size_t es = b.elemSize();
  const int n = a.nranks;
  const int me = relativeRank(a.rank, a.root, n);
  if (a.count == 0) return s;
  // The parent clears this rank's lowest set bit; children set lower bits.
  int mask = 1;
  while (mask < n && !(me & mask)) mask <<= 1;
  const int parent = me == 0 ? -1 : absoluteRank(me - mask, a.root, n);
  std::vector<int> children;
  for (int m = mask >> 1; m >= 1; m >>= 1) {
    if (me + m < n) children.push_back(absoluteRank(me + m, a.root, n));
  }
  if (me == 0) b.copy({BufId::kRecv, 0}, {BufId::kSend, 0}, a.count * es);
  const BufId from = me == 0 ? BufId::kSend : BufId::kRecv;
  forEachChunk(0, a.count, b.chunkElems(), [&](size_t o, size_t c) {
    if (parent >= 0) b.recv(parent, {BufId::kRecv, o * es}, c * es);
    for (int child : children) b.send(child, {from, o * es}, c * es);
  });
  return s;
}

}  // namespace shoal::algorithms
