// Ring allreduce: reduce-scatter around the ring, then allgather. Each
// segment is cut into chunks of the executor's message size, and every chunk
// depends only on the same chunk of the previous step, so the transfer of
// chunk k+1 overlaps the reduction of chunk k. Bandwidth-optimal: each rank
// sends and receives 2(n-1)/n of the data.
#include <algorithm>
#include <numeric>
#include <vector>

#include "algorithms/algorithm.h"
#include "core/reduce.h"

namespace shoal::algorithms {

Schedule ringAllReduce(const CollArgs& a) {
  Schedule s;
  s.algorithm = "ring";
  const size_t es = dtypeSize(a.dtype);
  const int n = a.nranks;
  const int r = a.rank;
  if (a.count == 0) return s;
  if (n == 1) {
    if (!a.inPlace)
      s.add({StepKind::kCopy, -1, {BufId::kRecv, 0}, {BufId::kSend, 0}, a.count * es});
    return s;
  }
  // Segment j of splitEven(count, n), computed directly: generating every
  // rank of a large ring (the simulator does) must not cost O(n) memory per rank.
  const size_t base = a.count / static_cast<size_t>(n), extra = a.count % static_cast<size_t>(n);
  const size_t chunkElems = a.chunkBytes / es ? a.chunkBytes / es : 1;
  const int right = (r + 1) % n;
  const int left = (r + n - 1) % n;
  // Segments hold base or base + 1 elements: their chunk counts are computed
  // once, and every caller passes i in [-n, 2n), so this (run 4n times per
  // rank) divides nothing.
  const size_t bigChunks = (base + 1 + chunkElems - 1) / chunkElems;
  const size_t smallChunks = (base + chunkElems - 1) / chunkElems;
  struct Seg : Segment {
    size_t chunks;
  };
  auto seg = [&](int i) {
    const size_t j = static_cast<size_t>(i < 0 ? i + n : i >= n ? i - n : i);
    return j < extra ? Seg{{j * base + j, base + 1}, bigChunks}
                     : Seg{{j * base + extra, base}, smallChunks};
  };
  auto nchunks = [](const Seg& g) { return g.chunks; };
  auto chunkOff = [&](const Segment& g, size_t k) { return (g.offset + k * chunkElems) * es; };
  auto chunkBytes = [&](const Segment& g, size_t k) {
    size_t first = k * chunkElems;
    return (g.count - first < chunkElems ? g.count - first : chunkElems) * es;
  };

  // The ring steps st in [0, n-1) at which segment first - st or
  // first - st - 1 has elements, in order: all of them unless the count is
  // smaller than n, where skipping the empty ones keeps a rank's cost
  // independent of n (steps with no elements add nothing to the schedule).
  auto stepsTouching = [&](int first) {
    std::vector<int> out;
    if (base > 0 || 2 * extra >= static_cast<size_t>(n - 1)) {
      out.resize(static_cast<size_t>(n - 1));
      std::iota(out.begin(), out.end(), 0);
      return out;
    }
    for (size_t j = 0; j < extra; ++j) {
      for (int d = 0; d < 2; ++d) {
        const int st = ((first - d - static_cast<int>(j)) % n + n) % n;
        if (st < n - 1) out.push_back(st);
      }
    }
    std::sort(out.begin(), out.end());
    out.erase(std::unique(out.begin(), out.end()), out.end());
    return out;
  };

  // The ring's 2(n-1) steps in order (reduce-scatter, then allgather; steps
  // with no elements left out). Step j sends segment sendSeg(j) and receives
  // recvSeg(j); the send of step j chunk k forwards what step j-1 received
  // as chunk k.
  struct Phase {
    bool gather;
    int st;  // the ring step within its half
    Seg send, recv;
  };
  std::vector<Phase> phases;
  for (int st : stepsTouching(r)) phases.push_back({false, st, seg(r - st), seg(r - st - 1)});
  const size_t firstGather = phases.size();
  for (int t : stepsTouching(r + 1)) phases.push_back({true, t, seg(r + 1 - t), seg(r - t)});

  // Emitted as a wavefront: chunk k of step j goes at tick k + j * lag.
  // Every rank uses the same ticks, so receives from the left come in the
  // order it sends them, and each step's dependencies sit at earlier ticks.
  // A lag of a whole step's chunks is the plain step order. Past
  // kWavefrontMinBytes per segment, a lag of kLag chunks forwards a chunk a
  // few chunks after it arrived instead of a segment later: in step order
  // the allgather re-read every reduced chunk from memory once segments
  // outgrew the cache (2 ranks from 64 MiB: 1.1-1.3x behind the pipelined
  // tree). Below it the step order stays: with ranks sharing cores (4 ranks
  // on 2) the wavefront was 10-18% slower at 4-16 MiB (perf/RESULTS.md).
  constexpr size_t kLag = 4;
  constexpr size_t kWavefrontMinBytes = size_t{16} << 20;
  size_t maxChunks = 1;
  for (const Phase& ph : phases) {
    maxChunks = std::max({maxChunks, nchunks(ph.send), nchunks(ph.recv)});
  }
  const size_t lag = (base + (extra ? 1 : 0)) * es > kWavefrontMinBytes ? kLag : maxChunks;
  size_t ticks = 0;
  for (size_t j = 0; j < phases.size(); ++j) {
    const size_t k = std::max(nchunks(phases[j].send), nchunks(phases[j].recv));
    ticks = std::max(ticks, j * lag + k);
  }
  // Step indices per (phase, chunk), for the dependencies.
  std::vector<std::vector<int32_t>> sendAt(phases.size()), recvAt(phases.size());
  std::vector<int32_t> avgAt(nchunks(seg(r + 1)), -1);
  // Reduce-scatter step st's first send, by st: the allgather receive into
  // the same region waits for it (-1 where that step sent nothing).
  std::vector<size_t> rsPhase(static_cast<size_t>(n - 1), SIZE_MAX);
  for (size_t j = 0; j < firstGather; ++j) rsPhase[static_cast<size_t>(phases[j].st)] = j;
  for (size_t j = 0; j < phases.size(); ++j) {
    sendAt[j].assign(nchunks(phases[j].send), -1);
    recvAt[j].assign(nchunks(phases[j].recv), -1);
  }

  for (size_t tick = 0; tick < ticks; ++tick) {
    // Only phases with j * lag <= tick < j * lag + maxChunks have a chunk at
    // this tick: a window of about maxChunks / lag phases, one in step order,
    // so a large ring costs its steps, not steps times phases.
    const size_t firstJ = tick < maxChunks ? 0 : (tick - maxChunks) / lag + 1;
    for (size_t j = firstJ; j < phases.size() && j * lag <= tick; ++j) {
      const size_t k = tick - j * lag;
      const Phase& ph = phases[j];
      if (k < nchunks(ph.send)) {
        Step x{StepKind::kSend, right};
        x.src = {!ph.gather && ph.st == 0 ? BufId::kSend : BufId::kRecv, chunkOff(ph.send, k)};
        x.bytes = chunkBytes(ph.send, k);
        // What step j-1 received as this chunk (a send's segment is always
        // the previous step's receive), or, for this rank's own segment with
        // an average, its division.
        if (ph.gather && ph.st == 0 && a.op == shoalAvg && k < avgAt.size()) {
          x.dep[0] = avgAt[k];
        } else if (j > 0 && k < recvAt[j - 1].size()) {
          x.dep[0] = recvAt[j - 1][k];
        }
        if (ph.gather) markLanding(x);
        sendAt[j][k] = static_cast<int32_t>(s.steps.size());
        s.add(x);
      }
      if (k < nchunks(ph.recv)) {
        Step x{ph.gather ? StepKind::kRecv : StepKind::kRecvReduce, left};
        x.dst = {BufId::kRecv, chunkOff(ph.recv, k)};
        x.bytes = chunkBytes(ph.recv, k);
        if (!ph.gather) {
          x.src = {BufId::kSend, chunkOff(ph.recv, k)};  // this rank's contribution
        } else {
          // The region was the source of reduce-scatter step st's send: it
          // may only be overwritten once that send has left. Placed directly
          // where large: the receiver's answer waits only for its own
          // reduce-scatter send from this region, which needs nothing the
          // left neighbour sends after this chunk.
          const size_t rs = rsPhase[static_cast<size_t>(ph.st)];
          if (rs != SIZE_MAX && k < sendAt[rs].size()) x.dep[0] = sendAt[rs][k];
          markLanding(x);
        }
        recvAt[j][k] = static_cast<int32_t>(s.steps.size());
        s.add(x);
        if (a.op == shoalAvg && j + 1 == firstGather) {
          // This rank now holds the full reduction of chunk k of its segment.
          Step v{StepKind::kAvg,
                 -1,
                 {BufId::kRecv, chunkOff(ph.recv, k)},
                 {BufId::kRecv, chunkOff(ph.recv, k)},
                 chunkBytes(ph.recv, k)};
          v.dep[0] = recvAt[j][k];
          avgAt[k] = static_cast<int32_t>(s.steps.size());
          s.add(v);
        }
      }
    }
  }
  return s;
}

}  // namespace shoal::algorithms
