// Recursive doubling allreduce for small messages: at each of log2(p) levels
// a rank sends everything it has reduced so far to the partner whose rank
// differs in one bit and reduces what the partner sends back. Every rank
// ends with the full result after log2(p) one-way message latencies, which
// is the least any allreduce can take (the ring needs 2(n-1), halving-doubling
// 2 log2(p), the double tree about 2 log2(n)), at the price of moving the
// whole vector at every level: only worth it while latency dominates.
//
// Partners reduce the same two operands in opposite order (mine op theirs);
// the supported operations are commutative in IEEE arithmetic, so every rank
// holds bitwise the same result.
//
// Non-power-of-two counts use the same fix-up as halving-doubling: with p the
// largest power of two <= n and rem = n - p, each even rank below 2*rem hands
// its input to the odd rank beside it, which joins the power-of-two exchange
// and hands the result back.
#include <vector>

#include "algorithms/algorithm.h"
#include "algorithms/schedule_builder.h"

namespace shoal::algorithms {

Schedule rdAllReduce(const CollArgs& a) {
  Schedule s;
  // Every level sends, then receives from the same partner.
  s.inOrder = true;
  ScheduleBuilder b(s, a);
  const size_t es = b.elemSize();
  const size_t ce = b.chunkElems();
  const int n = a.nranks;
  const int r = a.rank;
  if (planWithoutPeers(b, a)) return s;
  const PowerOfTwoFold fold(n);

  auto sendAll = [&](int peer, BufId buf) {
    forEachChunk(0, a.count, ce, [&](size_t o, size_t c) { b.send(peer, {buf, o * es}, c * es); });
  };
  auto reduceAll = [&](int peer, BufId own) {
    forEachChunk(0, a.count, ce, [&](size_t o, size_t c) {
      b.recvReduce(peer, {BufId::kRecv, o * es}, {own, o * es}, c * es);
    });
  };

  if (fold.sitsOut(r)) {
    sendAll(r + 1, BufId::kSend);
    forEachChunk(0, a.count, ce, [&](size_t o, size_t c) {
      b.recv(r + 1, {BufId::kRecv, o * es}, c * es);
    });
    return s;
  }
  BufId cur = BufId::kSend;
  if (fold.folded(r)) {
    reduceAll(r - 1, BufId::kSend);
    cur = BufId::kRecv;
  }
  const int me = fold.virtualRank(r);
  for (int mask = 1; mask < fold.p; mask *= 2) {
    const int peer = fold.realRank(me ^ mask);
    sendAll(peer, cur);
    reduceAll(peer, cur);
    cur = BufId::kRecv;
  }
  if (a.op == shoalAvg) {
    forEachChunk(0, a.count, ce, [&](size_t o, size_t c) {
      b.avg({BufId::kRecv, o * es}, c * es);
    });
  }
  if (fold.folded(r)) sendAll(r - 1, BufId::kRecv);
  return s;
}

}  // namespace shoal::algorithms
