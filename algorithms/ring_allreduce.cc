// Ring allreduce: reduce-scatter around the ring, then allgather. Each
// segment is cut into chunks of the executor's message size, and every chunk
// depends only on the same chunk of the previous step, so the transfer of
// chunk k+1 overlaps the reduction of chunk k. Bandwidth-optimal: each rank
// sends and receives 2(n-1)/n of the data.
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
  const auto segs = splitEven(a.count, n);
  const size_t chunkElems = a.chunkBytes / es ? a.chunkBytes / es : 1;
  const int right = (r + 1) % n;
  const int left = (r + n - 1) % n;
  auto seg = [&](int i) { return segs[static_cast<size_t>(((i % n) + n) % n)]; };
  auto nchunks = [&](const Segment& g) { return (g.count + chunkElems - 1) / chunkElems; };
  auto chunkOff = [&](const Segment& g, size_t k) { return (g.offset + k * chunkElems) * es; };
  auto chunkBytes = [&](const Segment& g, size_t k) {
    size_t first = k * chunkElems;
    return (g.count - first < chunkElems ? g.count - first : chunkElems) * es;
  };

  // Step indices by [ring step][chunk], for the dependencies.
  std::vector<std::vector<int32_t>> rsSend(n - 1), rsRecv(n - 1), agRecv(n - 1);

  // Reduce-scatter: at step s send segment r-s, receive and reduce r-s-1.
  for (int st = 0; st < n - 1; ++st) {
    const Segment sseg = seg(r - st);
    for (size_t k = 0; k < nchunks(sseg); ++k) {
      Step x{StepKind::kSend, right};
      // Step 0 sends this rank's own data straight from the send buffer.
      x.src = {st == 0 ? BufId::kSend : BufId::kRecv, chunkOff(sseg, k)};
      x.bytes = chunkBytes(sseg, k);
      if (st > 0) x.dep[0] = rsRecv[st - 1][k];
      rsSend[st].push_back(s.add(x));
    }
    const Segment rseg = seg(r - st - 1);
    for (size_t k = 0; k < nchunks(rseg); ++k) {
      Step x{StepKind::kRecvReduce, left};
      x.dst = {BufId::kRecv, chunkOff(rseg, k)};
      x.src = {BufId::kSend, chunkOff(rseg, k)};  // this rank's contribution
      x.bytes = chunkBytes(rseg, k);
      rsRecv[st].push_back(s.add(x));
    }
  }

  // This rank now holds the full reduction of segment r+1.
  const Segment own = seg(r + 1);
  std::vector<int32_t> done = rsRecv[n - 2];
  if (a.op == shoalAvg) {
    for (size_t k = 0; k < nchunks(own); ++k) {
      Step x{StepKind::kAvg,
             -1,
             {BufId::kRecv, chunkOff(own, k)},
             {BufId::kRecv, chunkOff(own, k)},
             chunkBytes(own, k)};
      x.dep[0] = done[k];
      done[k] = s.add(x);
    }
  }

  // Allgather: at step t send segment r+1-t, receive r-t.
  for (int t = 0; t < n - 1; ++t) {
    const Segment sseg = seg(r + 1 - t);
    for (size_t k = 0; k < nchunks(sseg); ++k) {
      Step x{StepKind::kSend, right};
      x.src = {BufId::kRecv, chunkOff(sseg, k)};
      x.bytes = chunkBytes(sseg, k);
      x.dep[0] = t == 0 ? done[k] : agRecv[t - 1][k];
      s.add(x);
    }
    const Segment rseg = seg(r - t);
    for (size_t k = 0; k < nchunks(rseg); ++k) {
      Step x{StepKind::kRecv, left};
      x.dst = {BufId::kRecv, chunkOff(rseg, k)};
      x.bytes = chunkBytes(rseg, k);
      // The region was the source of reduce-scatter step t's send: it may
      // only be overwritten once that send has left.
      x.dep[0] = rsSend[t][k];
      agRecv[t].push_back(s.add(x));
    }
  }
  return s;
}

}  // namespace shoal::algorithms
