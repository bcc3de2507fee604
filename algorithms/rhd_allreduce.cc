// Recursive halving-doubling allreduce (Rabenseifner): a reduce-scatter by
// recursive halving (at each of log2(p) levels a rank trades half of its
// current range with the partner whose rank differs in one bit, and keeps
// the reduction of its own half), then an allgather by recursive doubling
// that replays the levels backwards. Bandwidth like the ring (2(p-1)/p of
// the data per rank) in 2 log2(p) rather than 2(p-1) steps, which suits
// mid sizes.
//
// Non-power-of-two counts use the usual fix-up: with p the largest power of
// two <= n and rem = n - p, the first 2*rem ranks pair up; each even rank
// hands its whole input to the odd rank beside it and waits, the odd ranks
// and the ranks from 2*rem on run the power-of-two algorithm, and the odd
// ranks return the result to their even neighbours.
#include <vector>

#include "algorithms/algorithm.h"
#include "algorithms/schedule_builder.h"

namespace shoal::algorithms {

Schedule rhdAllReduce(const CollArgs& a) {
  Schedule s;
  ScheduleBuilder b(s, a);
  const size_t es = b.elemSize();
  const size_t ce = b.chunkElems();
  const int n = a.nranks;
  const int r = a.rank;
  if (planWithoutPeers(b, a)) return s;
  const PowerOfTwoFold fold(n);

  // Sends or receives a range in message-sized pieces; both partners cut the
  // same ranges the same way, so the pieces match.
  auto sendRange = [&](int peer, BufId buf, size_t off, size_t cnt) {
    forEachChunk(off, cnt, ce, [&](size_t o, size_t c) { b.send(peer, {buf, o * es}, c * es); });
  };
  auto recvRange = [&](int peer, size_t off, size_t cnt) {
    forEachChunk(off, cnt, ce, [&](size_t o, size_t c) {
      b.recv(peer, {BufId::kRecv, o * es}, c * es);
    });
  };
  auto reduceRange = [&](int peer, BufId own, size_t off, size_t cnt) {
    forEachChunk(off, cnt, ce, [&](size_t o, size_t c) {
      b.recvReduce(peer, {BufId::kRecv, o * es}, {own, o * es}, c * es);
    });
  };

  if (fold.sitsOut(r)) {
    // Fix-up rank: contributes through r+1 and gets the result back.
    sendRange(r + 1, BufId::kSend, 0, a.count);
    recvRange(r + 1, 0, a.count);
    return s;
  }
  BufId cur = BufId::kSend;  // where this rank's running data lives
  if (fold.folded(r)) {
    reduceRange(r - 1, BufId::kSend, 0, a.count);
    cur = BufId::kRecv;
  }
  const int me = fold.virtualRank(r);

  struct Level {
    int peer;
    size_t keepOff, keepCnt, giveOff, giveCnt;
  };
  std::vector<Level> levels;
  size_t lo = 0, hi = a.count;
  for (int mask = fold.p / 2; mask >= 1; mask /= 2) {
    const size_t mid = lo + (hi - lo) / 2;
    Level l;
    l.peer = fold.realRank(me ^ mask);
    if (me & mask) {
      l = {l.peer, mid, hi - mid, lo, mid - lo};
      lo = mid;
    } else {
      l = {l.peer, lo, mid - lo, mid, hi - mid};
      hi = mid;
    }
    sendRange(l.peer, cur, l.giveOff, l.giveCnt);
    reduceRange(l.peer, cur, l.keepOff, l.keepCnt);
    cur = BufId::kRecv;
    levels.push_back(l);
  }
  if (a.op == shoalAvg) {
    forEachChunk(lo, hi - lo, ce, [&](size_t o, size_t c) {
      b.avg({BufId::kRecv, o * es}, c * es);
    });
  }
  for (auto it = levels.rbegin(); it != levels.rend(); ++it) {
    sendRange(it->peer, BufId::kRecv, it->keepOff, it->keepCnt);
    recvRange(it->peer, it->giveOff, it->giveCnt);
  }
  if (fold.folded(r)) sendRange(r - 1, BufId::kRecv, 0, a.count);
  return s;
}

}  // namespace shoal::algorithms
