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
  // Every transfer is plain and every receive writes memory nothing else of
  // the call touched, so large chunks land in place (Step::land).
  auto mark = [&](int32_t step, size_t bytes) {
    s.steps[static_cast<size_t>(step)].land = bytes >= kLandMinBytes;
  };
  forEachChunk(0, a.count, b.chunkElems(), [&](size_t o, size_t c) {
    if (me == 0) {
      if (n > 1) mark(b.send(next, {BufId::kSend, o * es}, c * es), c * es);
      return;
    }
    mark(b.recv(prev, {BufId::kRecv, o * es}, c * es), c * es);
    if (me < n - 1) mark(b.send(next, {BufId::kRecv, o * es}, c * es), c * es);
  });
  return s;
}

}  // namespace shoal::algorithms
