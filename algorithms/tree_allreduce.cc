// Double binary tree allreduce. Two binary trees span the ranks and each
// carries half of the data; a rank that is interior in one tree is a leaf in
// the other (with an odd rank count one rank is a leaf in both), so the
// forwarding work and the links are shared evenly. Each half is cut into
// chunks; a chunk is reduced up toward the root and broadcast back down as
// soon as the root holds its full reduction, so both directions stream at
// once and latency grows with log2(n) rather than with n.
//
// Trees: the in-order binary tree over positions 1..n, where the root of any
// position range is the position with the most trailing zero bits (leaves
// are the odd positions). Tree A puts rank r at position r+1; tree B mirrors
// it (n-r) for even n and shifts it by one for odd n, which turns A's leaves
// into B's interior nodes.
#include <algorithm>

#include "algorithms/algorithm.h"
#include "algorithms/schedule_builder.h"

namespace shoal::algorithms {

namespace {

struct TreeLinks {
  int parent = -1;
  std::vector<int> children;
};

// The root of the in-order tree over positions [lo, hi]: the one position
// there with the most trailing zero bits, the largest multiple of the largest
// power of two that fits (hi with its low bits cleared).
int rangeRoot(int lo, int hi) {
  for (int k = 30; k >= 0; --k) {
    const int x = hi & ~((1 << k) - 1);
    if (x >= lo) return x;
  }
  return lo;
}

// The links of position `pos` in the in-order tree over 1..n, as positions
// (parent 0: the root). Walks down from the root, O(log n): the simulator
// plans every rank of clusters of thousands, so no rank may build the tree.
TreeLinks linksAt(int n, int pos) {
  TreeLinks out;
  int lo = 1, hi = n, parent = 0;
  for (;;) {
    const int root = rangeRoot(lo, hi);
    if (root == pos) {
      out.parent = parent;
      if (lo <= pos - 1) out.children.push_back(rangeRoot(lo, pos - 1));
      if (pos + 1 <= hi) out.children.push_back(rangeRoot(pos + 1, hi));
      return out;
    }
    parent = root;
    if (pos < root) {
      hi = root - 1;
    } else {
      lo = root + 1;
    }
  }
}

// The links of `rank` in tree `which` (0 or 1), as ranks.
TreeLinks treeLinks(int n, int rank, int which) {
  auto posOf = [&](int r) {
    if (which == 0) return r + 1;
    if (n % 2 == 0) return n - r;
    return r == 0 ? n : r;
  };
  auto rankOf = [&](int pos) {
    if (which == 0) return pos - 1;
    if (n % 2 == 0) return n - pos;
    return pos == n ? 0 : pos;
  };
  const TreeLinks p = linksAt(n, posOf(rank));
  TreeLinks out;
  out.parent = p.parent > 0 ? rankOf(p.parent) : -1;
  for (int c : p.children) out.children.push_back(rankOf(c));
  return out;
}

int ceilLog2(int n) {
  int d = 0;
  while ((1 << d) < n) ++d;
  return d;
}

}  // namespace

Schedule treeAllReduce(const CollArgs& a) {
  Schedule s;
  ScheduleBuilder b(s, a);
  const size_t es = b.elemSize();
  if (planWithoutPeers(b, a)) return s;
  const size_t ce = b.chunkElems();
  struct Half {
    TreeLinks links;
    size_t offset, count, chunks;
  };
  Half half[2];
  const size_t firstHalf = (a.count + 1) / 2;
  half[0] = {treeLinks(a.nranks, a.rank, 0), 0, firstHalf, 0};
  half[1] = {treeLinks(a.nranks, a.rank, 1), firstHalf, a.count - firstHalf, 0};
  for (auto& h : half) h.chunks = (h.count + ce - 1) / ce;

  auto chunk = [&](const Half& h, size_t k, size_t* off, size_t* bytes) {
    size_t first = k * ce;
    *off = (h.offset + first) * es;
    *bytes = std::min(ce, h.count - first) * es;
  };
  auto up = [&](const Half& h, size_t k) {
    if (k >= h.chunks) return;
    size_t off, bytes;
    chunk(h, k, &off, &bytes);
    BufRef acc{BufId::kSend, off};
    for (int c : h.links.children) {
      b.recvReduce(c, {BufId::kRecv, off}, acc, bytes);
      acc = {BufId::kRecv, off};
    }
    if (h.links.parent >= 0) {
      b.send(h.links.parent, acc, bytes);
    } else if (a.op == shoalAvg) {
      b.avg({BufId::kRecv, off}, bytes);
    }
  };
  auto down = [&](const Half& h, size_t k) {
    if (k >= h.chunks) return;
    size_t off, bytes;
    chunk(h, k, &off, &bytes);
    if (h.links.parent >= 0) b.recv(h.links.parent, {BufId::kRecv, off}, bytes);
    for (int c : h.links.children) b.send(c, {BufId::kRecv, off}, bytes);
  };

  // Every rank emits the same global sequence of (phase, tree, chunk) items,
  // so the messages between any two ranks are listed in the same order on
  // both sides. Broadcasts trail the reductions by `lag` chunks: sends to one
  // peer leave in schedule order, and a broadcast chunk listed too early
  // would hold back the reduction chunks queued behind it.
  const size_t lag = static_cast<size_t>(2 * ceilLog2(a.nranks));
  const size_t chunks = std::max(half[0].chunks, half[1].chunks);
  for (size_t i = 0; i < chunks + lag; ++i) {
    for (const Half& h : half) up(h, i);
    if (i >= lag) {
      for (const Half& h : half) down(h, i - lag);
    }
  }
  return s;
}

}  // namespace shoal::algorithms
