// Pipelined chain broadcast: the root streams chunks to root+1, which
// forwards each chunk to root+2 as soon as it has landed, and so on. Every
// link carries the data once, so for large messages the time approaches one
// transfer of the data plus n-2 chunk times.
#include "algorithms/algorithm.h"
#include "algorithms/schedule_builder.h"

namespace shoal::algorithms {

Schedule ringBroadcast(const CollArgs& a) {
  Schedule s;
  ScheduleBuilder b(s, a);
  const size_t es = b.elemSize();
  const int n = a.nranks;
  const int me = relativeRank(a.rank, a.root, n);
  if (a.count == 0) return s;
  const int next = absoluteRank(me + 1, a.root, n);
  const int prev = absoluteRank(me - 1 + n, a.root, n);
  if (me == 0) b.copy({BufId::kRecv, 0}, {BufId::kSend, 0}, a.count * es);
  // Not marked Step::land: the root's link is the bottleneck, and over shm
  // landing would move every copy onto the root (one cross-memory-attach
  // write instead of two copies the root and its child make side by side):
  // measured 2x slower at 2 ranks, 64 MiB (perf/RESULTS.md).
  forEachChunk(0, a.count, b.chunkElems(), [&](size_t o, size_t c) {
    if (me == 0) {
      if (n > 1) b.send(next, {BufId::kSend, o * es}, c * es);
      return;
    }
    b.recv(prev, {BufId::kRecv, o * es}, c * es);
    if (me < n - 1) b.send(next, {BufId::kRecv, o * es}, c * es);
  });
  return s;
}

}  // namespace shoal::algorithms
