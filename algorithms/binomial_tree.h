// The binomial tree of the rooted tree algorithms (broadcast, reduce), over
// ranks numbered relative to the root: a rank's parent clears the lowest set
// bit of its relative rank, and its children each set one bit below that, so
// the tree is ceil(log2 n) levels deep.
#pragma once

#include <vector>

#include "algorithms/schedule_builder.h"

namespace shoal::algorithms {

struct BinomialTree {
  int parent = -1;  // absolute rank; -1 at the root
  // Absolute ranks, nearest first: child i roots a subtree of at most 2^i
  // ranks. A reduce hears from them in this order (the smallest subtree is
  // ready first); a broadcast serves them in reverse (the largest subtree
  // has the most left to do).
  std::vector<int> children;

  BinomialTree(int rank, int root, int n) {
    const int me = relativeRank(rank, root, n);
    for (int mask = 1; mask < n; mask <<= 1) {
      if (me & mask) {
        parent = absoluteRank(me - mask, root, n);
        return;
      }
      if (me + mask < n) children.push_back(absoluteRank(me + mask, root, n));
    }
  }
};

}  // namespace shoal::algorithms
