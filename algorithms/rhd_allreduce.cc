// Recursive halving-doubling allreduce (Rabenseifner): a reduce-scatter by
// recursive halving (at each of log2(p) levels a rank trades half of its
// current range with the partner whose rank differs in one bit, and keeps
// the reduction of its own half), then an allgather by recursive doubling
// that replays the levels backwards. Bandwidth like the ring (2(p-1)/p of
// the data per rank) in 2 log2(p) rather than 2(p-1) steps, which suits
// mid sizes.
//
// Inside a level, a range of several messages is cut in an order both
// partners derive from the levels still to come (their bits there agree):
// the reduce-scatter goes through the half the next level hands on first,
// so that level's sends can start while the rest is still being reduced,
// and the allgather the other way round, so a level first forwards what it
// already held and then what it just received, in the order it came in. The
// order depends on a rank's bits only through which half comes first, so
// rank r XOR k lists the same steps as rank r with every peer XORed by k:
// the simulator relies on that to run one node of a 16384-rank cluster
// instead of all of it.
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

namespace {

// Calls f(offsetElems, countElems) for the messages of [off, off + cnt):
// while a range spans several messages and levels remain (mask >= 1), it is
// halved as that level halves it and the half this rank hands on there
// (giveFirst) or keeps (!giveFirst) comes first.
template <class F>
void forEachChunkByLevel(size_t off, size_t cnt, size_t ce, int me, int mask, bool giveFirst,
                         F& f) {
  if (cnt <= ce || mask < 1) {
    forEachChunk(off, cnt, ce, f);
    return;
  }
  const size_t lower = cnt / 2;
  const bool lowerFirst = ((me & mask) != 0) == giveFirst;
  const size_t firstOff = lowerFirst ? off : off + lower;
  const size_t firstCnt = lowerFirst ? lower : cnt - lower;
  const size_t secondOff = lowerFirst ? off + lower : off;
  const size_t secondCnt = cnt - firstCnt;
  forEachChunkByLevel(firstOff, firstCnt, ce, me, mask / 2, giveFirst, f);
  forEachChunkByLevel(secondOff, secondCnt, ce, me, mask / 2, giveFirst, f);
}

}  // namespace

Schedule rhdAllReduce(const CollArgs& a) {
  Schedule s;
  ScheduleBuilder b(s, a);
  const size_t es = b.elemSize();
  const size_t ce = b.chunkElems();
  const int n = a.nranks;
  const int r = a.rank;
  if (planWithoutPeers(b, a)) return s;
  const PowerOfTwoFold fold(n);

  const int me = fold.virtualRank(r);
  // Sends or receives a range in message-sized pieces, ordered by the levels
  // below `mask` (0: in offset order); both partners cut the same ranges the
  // same way, so the pieces match.
  // Large plain transfers (the allgather levels, the fix-up's result) are
  // marked Step::land on both sides; a send whose partner reduces is not.
  // A receive here only waits for this rank's own earlier send from the
  // same range, so its landing answer never waits on the sender.
  auto sendRange = [&](int peer, BufId buf, size_t off, size_t cnt, int mask, bool giveFirst,
                       bool land) {
    auto f = [&](size_t o, size_t c) {
      const int32_t i = b.send(peer, {buf, o * es}, c * es);
      if (land) b.markLanding(i);
    };
    forEachChunkByLevel(off, cnt, ce, me, mask, giveFirst, f);
  };
  auto recvRange = [&](int peer, size_t off, size_t cnt, int mask, bool giveFirst) {
    auto f = [&](size_t o, size_t c) {
      b.markLanding(b.recv(peer, {BufId::kRecv, o * es}, c * es));
    };
    forEachChunkByLevel(off, cnt, ce, me, mask, giveFirst, f);
  };
  auto reduceRange = [&](int peer, BufId own, size_t off, size_t cnt, int mask, bool giveFirst) {
    auto f = [&](size_t o, size_t c) {
      b.recvReduce(peer, {BufId::kRecv, o * es}, {own, o * es}, c * es);
    };
    forEachChunkByLevel(off, cnt, ce, me, mask, giveFirst, f);
  };

  if (fold.sitsOut(r)) {
    // Fix-up rank: contributes through r+1 and gets the result back.
    sendRange(r + 1, BufId::kSend, 0, a.count, 0, true, false);
    recvRange(r + 1, 0, a.count, 0, true);
    return s;
  }
  BufId cur = BufId::kSend;  // where this rank's running data lives
  if (fold.folded(r)) {
    reduceRange(r - 1, BufId::kSend, 0, a.count, 0, true);
    cur = BufId::kRecv;
  }

  struct Level {
    int peer, mask;
    size_t keepOff, keepCnt, giveOff, giveCnt;
  };
  std::vector<Level> levels;
  size_t lo = 0, hi = a.count;
  for (int mask = fold.p / 2; mask >= 1; mask /= 2) {
    const size_t mid = lo + (hi - lo) / 2;
    Level l;
    l.peer = fold.realRank(me ^ mask);
    if (me & mask) {
      l = {l.peer, mask, mid, hi - mid, lo, mid - lo};
      lo = mid;
    } else {
      l = {l.peer, mask, lo, mid - lo, mid, hi - mid};
      hi = mid;
    }
    sendRange(l.peer, cur, l.giveOff, l.giveCnt, mask / 2, true, false);
    reduceRange(l.peer, cur, l.keepOff, l.keepCnt, mask / 2, true);
    cur = BufId::kRecv;
    levels.push_back(l);
  }
  if (a.op == shoalAvg) {
    forEachChunk(lo, hi - lo, ce, [&](size_t o, size_t c) {
      b.avg({BufId::kRecv, o * es}, c * es);
    });
  }
  for (auto it = levels.rbegin(); it != levels.rend(); ++it) {
    sendRange(it->peer, BufId::kRecv, it->keepOff, it->keepCnt, it->mask / 2, false, true);
    recvRange(it->peer, it->giveOff, it->giveCnt, it->mask / 2, false);
  }
  if (fold.folded(r)) sendRange(r - 1, BufId::kRecv, 0, a.count, 0, true, true);
  return s;
}

}  // namespace shoal::algorithms
