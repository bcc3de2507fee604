#include "algorithms/group_ring.h"

namespace shoal::algorithms {

std::vector<Segment> splitRange(size_t offset, size_t count, int n) {
  auto segs = splitEven(count, n);
  for (auto& s : segs) s.offset += offset;
  return segs;
}

void groupRingReduceScatter(ScheduleBuilder& b, const std::vector<int>& group, int me,
                            const std::vector<Segment>& segs, BufId own, BufId acc) {
  const int m = static_cast<int>(group.size());
  const size_t es = b.elemSize();
  const size_t ce = b.chunkElems();
  if (m == 1) {
    b.copy({acc, segs[0].offset * es}, {own, segs[0].offset * es}, segs[0].count * es);
    return;
  }
  const int right = group[static_cast<size_t>((me + 1) % m)];
  const int left = group[static_cast<size_t>((me + m - 1) % m)];
  auto seg = [&](int i) { return segs[static_cast<size_t>(((i % m) + m) % m)]; };
  // At step st member i forwards segment i-st-1 and folds its own part into
  // segment i-st-2, which it forwards at the next step; segment i arrives
  // last, complete.
  for (int st = 0; st < m - 1; ++st) {
    const Segment out = seg(me - st - 1);
    forEachChunk(out.offset, out.count, ce, [&](size_t o, size_t c) {
      b.send(right, {st == 0 ? own : acc, o * es}, c * es);
    });
    const Segment in = seg(me - st - 2);
    forEachChunk(in.offset, in.count, ce, [&](size_t o, size_t c) {
      b.recvReduce(left, {acc, o * es}, {own, o * es}, c * es);
    });
  }
}

void groupRingAllGather(ScheduleBuilder& b, const std::vector<int>& group, int me,
                        const std::vector<Segment>& segs, BufId buf) {
  const int m = static_cast<int>(group.size());
  if (m == 1) return;
  const size_t es = b.elemSize();
  const size_t ce = b.chunkElems();
  const int right = group[static_cast<size_t>((me + 1) % m)];
  const int left = group[static_cast<size_t>((me + m - 1) % m)];
  auto seg = [&](int i) { return segs[static_cast<size_t>(((i % m) + m) % m)]; };
  // Every member only receives here, so large chunks may land in place
  // (Step::land), as in ring_allgather.cc: marked on both sides, since each
  // member's sends are the next one's receives, chunk for chunk.
  for (int t = 0; t < m - 1; ++t) {
    const Segment out = seg(me - t);
    forEachChunk(out.offset, out.count, ce, [&](size_t o, size_t c) {
      b.markLanding(b.send(right, {buf, o * es}, c * es));
    });
    const Segment in = seg(me - t - 1);
    forEachChunk(in.offset, in.count, ce, [&](size_t o, size_t c) {
      b.markLanding(b.recv(left, {buf, o * es}, c * es));
    });
  }
}

}  // namespace shoal::algorithms
