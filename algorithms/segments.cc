#include "algorithms/algorithm.h"

namespace shoal::algorithms {

std::vector<Segment> splitEven(size_t count, int n) {
  std::vector<Segment> segs(static_cast<size_t>(n));
  size_t base = count / static_cast<size_t>(n);
  size_t extra = count % static_cast<size_t>(n);
  size_t off = 0;
  for (size_t i = 0; i < segs.size(); ++i) {
    segs[i].offset = off;
    segs[i].count = base + (i < extra ? 1 : 0);
    off += segs[i].count;
  }
  return segs;
}

size_t chunksFor(size_t bytes, size_t chunkBytes) {
  return bytes == 0 ? 0 : (bytes + chunkBytes - 1) / chunkBytes;
}

PowerOfTwoFold::PowerOfTwoFold(int n) : p(1), rem(0) {
  while (p * 2 <= n) p *= 2;
  rem = n - p;
}

}  // namespace shoal::algorithms
