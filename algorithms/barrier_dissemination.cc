// Dissemination barrier: in round k every rank signals rank+2^k and waits
// for rank-2^k, with zero-byte messages; a round's signal leaves only after
// the previous round's arrived, so after ceil(log2 n) rounds each rank has
// heard, directly or through others, from every rank.
#include "algorithms/algorithm.h"
#include "algorithms/schedule_builder.h"

namespace shoal::algorithms {

Schedule disseminationBarrier(const CollArgs& a) {
  Schedule s;
  s.inOrder = true;  // every round signals, then waits
  ScheduleBuilder b(s, a);
  const int n = a.nranks;
  int32_t heard = -1;
  for (int dist = 1; dist < n; dist <<= 1) {
    b.send((a.rank + dist) % n, {BufId::kRecv, 0}, 0, {heard});
    heard = b.recv((a.rank - dist + n) % n, {BufId::kRecv, 0}, 0, {heard});
  }
  return s;
}

}  // namespace shoal::algorithms
