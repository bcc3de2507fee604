// The ring collectives whose buffer holds one block of count elements per
// rank, block k at k * count elements (allgather's output, reduce-scatter's
// input): each rank's ring neighbours, and where a block lies.
#pragma once

#include <cstddef>

#include "core/schedule.h"

namespace shoal::algorithms {

struct RingBlocks {
  int left;   // receives from
  int right;  // sends to
  size_t blockBytes;

  RingBlocks(const CollArgs& a, size_t elemSize)
      : left((a.rank + a.nranks - 1) % a.nranks),
        right((a.rank + 1) % a.nranks),
        blockBytes(a.count * elemSize),
        n_(a.nranks) {}

  // Byte offset of block blk taken modulo n, so that the block t steps
  // behind rank r is simply r - t, whatever the sign.
  size_t offset(int blk) const { return static_cast<size_t>(((blk % n_) + n_) % n_) * blockBytes; }

 private:
  int n_;
};

}  // namespace shoal::algorithms
