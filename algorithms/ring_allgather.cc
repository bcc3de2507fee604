// Ring allgather: at step t each rank forwards to its right the block it
// received at step t-1 (its own at step 0), so every block visits every rank
// once and each rank sends and receives (n-1)/n of the output.
#include "algorithms/algorithm.h"
#include "algorithms/ring_blocks.h"
#include "algorithms/schedule_builder.h"

namespace shoal::algorithms {

Schedule ringAllGather(const CollArgs& a) {
  Schedule s;
  ScheduleBuilder b(s, a);
  const size_t es = b.elemSize();
  const size_t ce = b.chunkElems();
  const RingBlocks ring(a, es);
  const int r = a.rank;
  if (a.count == 0) return s;
  // In place, the executor hands the receive buffer over as the send buffer,
  // so this rank's block sits at its own offset already.
  const BufRef own = a.inPlace ? BufRef{BufId::kRecv, ring.offset(r)} : BufRef{BufId::kSend, 0};
  b.copy({BufId::kRecv, ring.offset(r)}, own, ring.blockBytes);
  for (int t = 0; t < a.nranks - 1; ++t) {
    const int out = r - t;
    forEachChunk(0, a.count, ce, [&](size_t o, size_t c) {
      BufRef src = t == 0 ? BufRef{own.buf, own.offset + o * es}
                          : BufRef{BufId::kRecv, ring.offset(out) + o * es};
      b.markLanding(b.send(ring.right, src, c * es));
    });
    const int in = r - t - 1;
    forEachChunk(0, a.count, ce, [&](size_t o, size_t c) {
      // Placed directly where large: nothing of this call wrote or read the
      // block before, so the receiver answers at once.
      b.markLanding(b.recv(ring.left, {BufId::kRecv, ring.offset(in) + o * es}, c * es));
    });
  }
  return s;
}

}  // namespace shoal::algorithms
