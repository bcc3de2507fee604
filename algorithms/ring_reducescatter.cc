// Ring reduce-scatter: block b travels from rank b+1 around the ring to rank
// b, each rank on the way folding in its own part, so every rank sends and
// receives (n-1)/n of the input. Partial results in flight live in two
// scratch blocks used in turn: the block received at one step is forwarded
// at the next, while the following one arrives in the other scratch block.
#include "algorithms/algorithm.h"
#include "algorithms/ring_blocks.h"
#include "algorithms/schedule_builder.h"

namespace shoal::algorithms {

Schedule ringReduceScatter(const CollArgs& a) {
  Schedule s;
  ScheduleBuilder b(s, a);
  const size_t es = b.elemSize();
  const size_t ce = b.chunkElems();
  const int n = a.nranks;
  const int r = a.rank;
  const RingBlocks ring(a, es);
  const size_t block = ring.blockBytes;
  if (a.count == 0) return s;
  if (n == 1) {
    b.copy({BufId::kRecv, 0}, {BufId::kSend, 0}, block);
    return s;
  }
  if (n > 2) b.needScratch(2 * block);
  for (int st = 0; st < n - 1; ++st) {
    // Send block r-1-st: this rank's own input at step 0, afterwards the
    // partial received at the previous step.
    const int out = r - 1 - st;
    forEachChunk(0, a.count, ce, [&](size_t o, size_t c) {
      BufRef src =
          st == 0 ? BufRef{BufId::kSend, ring.offset(out) + o * es}
                  : BufRef{BufId::kScratch, static_cast<size_t>((st - 1) % 2) * block + o * es};
      b.send(ring.right, src, c * es);
    });
    // Receive block r-2-st; the last one is this rank's own block.
    const int in = r - 2 - st;
    const bool last = st == n - 2;
    forEachChunk(0, a.count, ce, [&](size_t o, size_t c) {
      BufRef dst = last ? BufRef{BufId::kRecv, o * es}
                        : BufRef{BufId::kScratch, static_cast<size_t>(st % 2) * block + o * es};
      b.recvReduce(ring.left, dst, {BufId::kSend, ring.offset(in) + o * es}, c * es);
    });
  }
  if (a.op == shoalAvg) {
    forEachChunk(0, a.count, ce, [&](size_t o, size_t c) {
      b.avg({BufId::kRecv, o * es}, c * es);
    });
  }
  return s;
}

}  // namespace shoal::algorithms
