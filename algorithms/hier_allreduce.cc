// Hierarchical allreduce: ranks are grouped into nodes by host identity
// (CollArgs::hosts; SHOAL_HOST_ID fakes it). Three phases:
//   1. inside each node, a ring reduce-scatter: node j, with m_j ranks, cuts
//      the data into m_j slices and its i-th local rank ends holding slice i
//      reduced over the node;
//   2. across nodes, an allreduce of each slice among the ranks that hold it;
//   3. inside each node, a ring allgather of the slices.
// Only phase 2 crosses nodes, and every local rank drives its own share of
// it, so all of a node's links to other nodes work at once, with 2(N-1)
// cross-node steps for N nodes instead of the flat ring's 2(n-1).
//
// Nodes may hold different numbers of ranks (2 + 3): their slice boundaries
// then differ. Phase 2 works on pieces: the ranges between consecutive
// boundaries of any node's slices. On each node exactly one rank holds a
// given piece, so each piece is allreduced by a ring over its holders, one
// per node, in node order. Pieces are listed in offset order by everyone, so
// two ranks that share several pieces list their messages in the same order.
#include <algorithm>
#include <set>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>

#include "algorithms/algorithm.h"
#include "algorithms/group_ring.h"
#include "algorithms/schedule_builder.h"

namespace shoal::algorithms {

namespace {

// Ranks of each node, nodes in order of their lowest rank. Every rank of a
// large cluster computes this (the simulator plans all 16384 of 2048 x 8),
// so the usual layout, each node's ranks in one block, costs one string
// comparison per rank and is kept as block starts, not one list per node.
class Nodes {
 public:
  explicit Nodes(std::vector<int> starts) : starts_(std::move(starts)) {}
  explicit Nodes(std::vector<std::vector<int>> lists) : lists_(std::move(lists)) {}
  int count() const {
    return static_cast<int>(lists_.empty() ? starts_.size() - 1 : lists_.size());
  }
  size_t size(int j) const {
    const size_t u = static_cast<size_t>(j);
    return lists_.empty() ? static_cast<size_t>(starts_[u + 1] - starts_[u]) : lists_[u].size();
  }
  int rank(int j, size_t i) const {
    const size_t u = static_cast<size_t>(j);
    return lists_.empty() ? starts_[u] + static_cast<int>(i) : lists_[u][i];
  }
  std::vector<int> members(int j) const {
    std::vector<int> out(size(j));
    for (size_t i = 0; i < out.size(); ++i) out[i] = rank(j, i);
    return out;
  }

 private:
  std::vector<int> starts_;              // block layout: node j is [starts_[j], starts_[j + 1])
  std::vector<std::vector<int>> lists_;  // any other layout
};

Nodes nodesOf(const CollArgs& a) {
  const bool named = a.hosts && static_cast<int>(a.hosts->size()) == a.nranks;
  if (named) {
    // Blocks whose host names increase from one block to the next (what
    // launchers and the simulator produce) are distinct nodes without a
    // hash lookup: at 2048 nodes the lookups and per-node lists, repeated
    // for each of 16384 ranks, cost the simulator 40 s.
    std::vector<int> starts;
    std::string_view prev;
    bool increasing = true;
    for (int r = 0; r < a.nranks && increasing; ++r) {
      const std::string_view host((*a.hosts)[static_cast<size_t>(r)]);
      if (r == 0 || host != prev) {
        increasing = r == 0 || prev < host;
        starts.push_back(r);
        prev = host;
      }
    }
    if (increasing) {
      starts.push_back(a.nranks);
      return Nodes(std::move(starts));
    }
  }
  std::unordered_map<std::string_view, int> index;
  std::vector<int> nodeOf(static_cast<size_t>(a.nranks));
  std::vector<size_t> sizes;
  std::string_view prev;
  int cur = 0;
  for (int r = 0; r < a.nranks; ++r) {
    const std::string_view host =
        named ? std::string_view((*a.hosts)[static_cast<size_t>(r)]) : std::string_view();
    if (r == 0 || host != prev) {
      auto it = index.find(host);
      if (it == index.end()) {
        it = index.emplace(host, static_cast<int>(sizes.size())).first;
        sizes.push_back(0);
      }
      cur = it->second;
      prev = host;
    }
    nodeOf[static_cast<size_t>(r)] = cur;
    ++sizes[static_cast<size_t>(cur)];
  }
  std::vector<std::vector<int>> nodes(sizes.size());
  for (size_t j = 0; j < sizes.size(); ++j) nodes[j].reserve(sizes[j]);
  for (int r = 0; r < a.nranks; ++r)
    nodes[static_cast<size_t>(nodeOf[static_cast<size_t>(r)])].push_back(r);
  return Nodes(std::move(nodes));
}

}  // namespace

bool hierApplies(const CollArgs& a) {
  const Nodes nodes = nodesOf(a);
  size_t largest = 0;
  for (int j = 0; j < nodes.count(); ++j) largest = std::max(largest, nodes.size(j));
  // One node: a flat ring is the same thing with fewer steps. One rank per
  // node: nothing to do inside nodes.
  return nodes.count() > 1 && largest > 1;
}

Schedule hierAllReduce(const CollArgs& a) {
  Schedule s;
  ScheduleBuilder b(s, a);
  const size_t es = b.elemSize();
  if (a.count == 0) return s;
  const Nodes nodes = nodesOf(a);
  const int numNodes = nodes.count();
  int myNode = 0, myLocal = 0;
  bool uniform = true;
  for (int j = 0; j < numNodes; ++j) {
    for (size_t i = 0; i < nodes.size(j); ++i) {
      if (nodes.rank(j, i) == a.rank) {
        myNode = j;
        myLocal = static_cast<int>(i);
      }
    }
    uniform = uniform && nodes.size(j) == nodes.size(0);
  }
  const std::vector<int> myNodeRanks = nodes.members(myNode);
  // Nodes of one size (the usual case) cut the data alike: one list of
  // slices serves them all, and the pieces of phase 2 are the slices.
  std::vector<std::vector<Segment>> slices;
  for (int j = 0; j < numNodes; ++j) {
    slices.push_back(splitEven(a.count, static_cast<int>(nodes.size(j))));
    if (uniform) break;
  }
  auto slicesOf = [&](int j) -> const std::vector<Segment>& {
    return slices[uniform ? 0 : static_cast<size_t>(j)];
  };
  const auto& mine = slicesOf(myNode);
  const Segment own = mine[static_cast<size_t>(myLocal)];

  // Phase 1: node-local reduce-scatter into the receive buffer.
  groupRingReduceScatter(b, myNodeRanks, myLocal, mine, BufId::kSend, BufId::kRecv);

  // Phase 2: each piece of the slices, allreduced among its holders.
  auto allreducePiece = [&](size_t lo, size_t hi, const std::vector<int>& holders) {
    const auto segs = splitRange(lo, hi - lo, numNodes);
    groupRingReduceScatter(b, holders, myNode, segs, BufId::kRecv, BufId::kRecv);
    const Segment done = segs[static_cast<size_t>(myNode)];
    if (a.op == shoalAvg && done.count > 0)
      b.avg({BufId::kRecv, done.offset * es}, done.count * es);
    groupRingAllGather(b, holders, myNode, segs, BufId::kRecv);
  };
  if (numNodes > 1 && uniform) {
    if (own.count > 0) {
      std::vector<int> holders;
      holders.reserve(static_cast<size_t>(numNodes));
      for (int j = 0; j < numNodes; ++j)
        holders.push_back(nodes.rank(j, static_cast<size_t>(myLocal)));
      allreducePiece(own.offset, own.offset + own.count, holders);
    }
  } else if (numNodes > 1) {
    std::set<size_t> cuts;
    for (const auto& sl : slices) {
      for (const auto& g : sl) cuts.insert(g.offset);
    }
    cuts.insert(a.count);
    for (auto it = cuts.begin(); std::next(it) != cuts.end(); ++it) {
      const size_t lo = *it, hi = *std::next(it);
      if (lo >= own.offset + own.count || hi <= own.offset) continue;  // not held here
      std::vector<int> holders;
      for (int j = 0; j < numNodes; ++j) {
        const auto& sl = slices[static_cast<size_t>(j)];
        for (size_t i = 0; i < sl.size(); ++i) {
          if (sl[i].count > 0 && lo >= sl[i].offset && lo < sl[i].offset + sl[i].count)
            holders.push_back(nodes.rank(j, i));
        }
      }
      allreducePiece(lo, hi, holders);
    }
  } else if (a.op == shoalAvg && own.count > 0) {
    b.avg({BufId::kRecv, own.offset * es}, own.count * es);
  }

  // Phase 3: node-local allgather of the slices.
  groupRingAllGather(b, myNodeRanks, myLocal, mine, BufId::kRecv);
  return s;
}

}  // namespace shoal::algorithms
