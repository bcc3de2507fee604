#include "common/hash_check.h"

#include <cstdio>
#include <limits>
#include <vector>

namespace train {

bool sameOnHolders(Comm& comm, const uint64_t* value, const char* what, uint64_t* alsoMax) {
  uint64_t hi[2] = {value ? *value : 0, alsoMax ? *alsoMax : 0};
  uint64_t lo = value ? *value : std::numeric_limits<uint64_t>::max();
  comm.allReduce(hi, alsoMax ? 2 : 1, shoalUint64, shoalMax, what);
  comm.allReduce(&lo, 1, shoalUint64, shoalMin, what);
  if (alsoMax) *alsoMax = hi[1];
  return hi[0] == lo;
}

void reportDifferingHashes(Comm& comm, uint64_t hash, int holders, const char* holder, size_t step,
                           const char* program) {
  std::vector<uint64_t> all(static_cast<size_t>(comm.size()));
  comm.allGather(&hash, all.data(), 1, shoalUint64, "shoalAllGather(check: hashes)");
  for (int r = 1; comm.rank() == 0 && r < holders; ++r) {
    if (all[r] == all[0]) continue;
    fprintf(stderr,
            "%s: check failed at step %zu: the parameters on %s %d differ from %s 0's (hash "
            "%016llx, %s 0 %016llx)\n",
            program, step, holder, r, holder, static_cast<unsigned long long>(all[r]), holder,
            static_cast<unsigned long long>(all[0]));
  }
}

}  // namespace train
