// Pipelined chain reduce toward the root: rank root-1 (the chain's tail)
// streams its input, and each rank on the way folds its own chunk into every
// chunk it receives and forwards it, until the root folds the last one into
// its receive buffer. Every link carries the data once. Ranks other than the
// root may not touch the receive buffer, so partial chunks pass through a few
// scratch slots used in turn.
#include <algorithm>

#include "algorithms/algorithm.h"
#include "algorithms/schedule_builder.h"

namespace shoal::algorithms {

Schedule ringReduce(const CollArgs& a) {
  Schedule s;
  ScheduleBuilder b(s, a);
  const size_t es = b.elemSize();
  const size_t ce = b.chunkElems();
  const int n = a.nranks;
  const int me = relativeRank(a.rank, a.root, n);
  if (planWithoutPeers(b, a)) return s;
  constexpr size_t kSlots = 4;
  const size_t chunks = (a.count + ce - 1) / ce;
  const size_t slots = std::min(kSlots, chunks);
  const int toward = absoluteRank(me - 1 + n, a.root, n);  // next rank toward the root
  const int from = absoluteRank(me + 1, a.root, n);
  if (me > 0 && me < n - 1) b.needScratch(slots * ce * es);
  size_t k = 0;
  forEachChunk(0, a.count, ce, [&](size_t o, size_t c) {
    const BufRef mine{BufId::kSend, o * es};
    if (me == n - 1) {
      b.send(toward, mine, c * es);
    } else if (me == 0) {
      b.recvReduce(from, {BufId::kRecv, o * es}, mine, c * es);
      if (a.op == shoalAvg) b.avg({BufId::kRecv, o * es}, c * es);
    } else {
      const BufRef slot{BufId::kScratch, (k % slots) * ce * es};
      b.recvReduce(from, slot, mine, c * es);
      b.send(toward, slot, c * es);
    }
    ++k;
  });
  return s;
}

}  // namespace shoal::algorithms
