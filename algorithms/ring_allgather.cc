// Ring allgather: at step t each rank forwards to its right the block it
// received at step t-1 (its own at step 0), so every block visits every rank
// once and each rank sends and receives (n-1)/n of the output.
#include "algorithms/algorithm.h"
#include "algorithms/schedule_builder.h"

namespace shoal::algorithms {

Schedule ringAllGather(const CollArgs& a) {
  Schedule s;
  ScheduleBuilder b(s, a);
  const size_t es = b.elemSize();
  const size_t ce = b.chunkElems();
  const int n = a.nranks;
  const int r = a.rank;
  const size_t block = a.count * es;
  if (a.count == 0) return s;
  auto off = [&](int blk) { return static_cast<size_t>(((blk % n) + n) % n) * block; };
  // In place, the executor hands the receive buffer over as the send buffer,
  // so this rank's block sits at its own offset already.
  const BufRef own = a.inPlace ? BufRef{BufId::kRecv, off(r)} : BufRef{BufId::kSend, 0};
  b.copy({BufId::kRecv, off(r)}, own, block);
  const int right = (r + 1) % n;
  const int left = (r + n - 1) % n;
  for (int t = 0; t < n - 1; ++t) {
    const int out = r - t;
    forEachChunk(0, a.count, ce, [&](size_t o, size_t c) {
      BufRef src =
          t == 0 ? BufRef{own.buf, own.offset + o * es} : BufRef{BufId::kRecv, off(out) + o * es};
      b.send(right, src, c * es);
    });
    const int in = r - t - 1;
    forEachChunk(0, a.count, ce, [&](size_t o, size_t c) {
      b.recv(left, {BufId::kRecv, off(in) + o * es}, c * es);
    });
  }
  return s;
}

}  // namespace shoal::algorithms
