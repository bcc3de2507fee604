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

  // The chunks of one ring step are added one after the other, so chunk k
  // of a step is its first index + k: dependencies need only the first.
  std::vector<int32_t> rsSend(static_cast<size_t>(n - 1));
  int32_t prevRecv = -1;  // first receive of the previous step

  // Reduce-scatter: at step s send segment r-s, receive and reduce r-s-1.
  for (int st : stepsTouching(r)) {
    const Seg sseg = seg(r - st);
    rsSend[static_cast<size_t>(st)] = static_cast<int32_t>(s.steps.size());
    for (size_t k = 0; k < nchunks(sseg); ++k) {
      Step x{StepKind::kSend, right};
      // Step 0 sends this rank's own data straight from the send buffer.
      x.src = {st == 0 ? BufId::kSend : BufId::kRecv, chunkOff(sseg, k)};
      x.bytes = chunkBytes(sseg, k);
      if (st > 0) x.dep[0] = prevRecv + static_cast<int32_t>(k);
      s.add(x);
    }
    const Seg rseg = seg(r - st - 1);
    prevRecv = static_cast<int32_t>(s.steps.size());
    for (size_t k = 0; k < nchunks(rseg); ++k) {
      Step x{StepKind::kRecvReduce, left};
      x.dst = {BufId::kRecv, chunkOff(rseg, k)};
      x.src = {BufId::kSend, chunkOff(rseg, k)};  // this rank's contribution
      x.bytes = chunkBytes(rseg, k);
      s.add(x);
    }
  }

  // This rank now holds the full reduction of segment r+1.
  const Seg own = seg(r + 1);
  int32_t done = prevRecv;
  if (a.op == shoalAvg) {
    const int32_t avgFirst = static_cast<int32_t>(s.steps.size());
    for (size_t k = 0; k < nchunks(own); ++k) {
      Step x{StepKind::kAvg,
             -1,
             {BufId::kRecv, chunkOff(own, k)},
             {BufId::kRecv, chunkOff(own, k)},
             chunkBytes(own, k)};
      x.dep[0] = done + static_cast<int32_t>(k);
      s.add(x);
    }
    done = avgFirst;
  }

  // Allgather: at step t send segment r+1-t, receive r-t.
  for (int t : stepsTouching(r + 1)) {
    const Seg sseg = seg(r + 1 - t);
    for (size_t k = 0; k < nchunks(sseg); ++k) {
      Step x{StepKind::kSend, right};
      x.src = {BufId::kRecv, chunkOff(sseg, k)};
      x.bytes = chunkBytes(sseg, k);
      x.dep[0] = (t == 0 ? done : prevRecv) + static_cast<int32_t>(k);
      markLanding(x);
      s.add(x);
    }
    const Seg rseg = seg(r - t);
    prevRecv = static_cast<int32_t>(s.steps.size());
    for (size_t k = 0; k < nchunks(rseg); ++k) {
      Step x{StepKind::kRecv, left};
      x.dst = {BufId::kRecv, chunkOff(rseg, k)};
      x.bytes = chunkBytes(rseg, k);
      // The region was the source of reduce-scatter step t's send: it may
      // only be overwritten once that send has left.
      x.dep[0] = rsSend[static_cast<size_t>(t)] + static_cast<int32_t>(k);
      // Placed directly where large: the receiver's answer waits only for
      // its own reduce-scatter send from this region, which needs nothing
      // the left neighbour sends after this chunk.
      markLanding(x);
      s.add(x);
    }
  }
  return s;
}

}  // namespace shoal::algorithms
