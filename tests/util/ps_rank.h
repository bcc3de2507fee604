// One rank of a parameter-server test: its start (workers first, then
// servers) and the check of a synchronous round's pull, shared by the host
// and GPU parameter-server suites.
#pragma once

#include <gtest/gtest.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "shoal/ps.h"
#include "util/ps_values.h"

namespace shoal::test {

// Ranks 0..workers-1 are workers, the others servers.
inline shoalPsRole_t psRoleOf(int rank, int workers) {
  return rank < workers ? shoalPsRoleWorker : shoalPsRoleServer;
}

// Starts this rank's parameter server; a failure is fatal and carries the
// library's message (wrap the call in ASSERT_NO_FATAL_FAILURE).
inline void psInitRank(shoalPs_t* ps, int n, const shoalUniqueId& id, int rank, shoalPsRole_t role,
                       const shoalPsOptions& opts) {
  ASSERT_EQ(shoalPsInitRank(ps, n, id, rank, role, &opts), shoalSuccess)
      << "rank " << rank << ": " << shoalPsGetLastError(nullptr);
}

// What a synchronous round r leaves in key k, element i: every worker's push.
inline float psRoundSum(int workers, int r, uint64_t k, size_t i) {
  float s = 0;
  for (int w = 0; w < workers; ++w) s += psGradient(w, r, k, i);
  return s;
}

// "" when out holds round r's sum for key k (zeros before the first round),
// else the first difference.
inline std::string psCheckRound(const std::vector<float>& out, int workers, int r, uint64_t k) {
  for (size_t i = 0; i < out.size(); ++i) {
    float want = r == 0 ? 0.0f : psRoundSum(workers, r, k, i);
    if (out[i] != want) {
      return "key " + std::to_string(k) + " round " + std::to_string(r) + " element " +
             std::to_string(i) + " of " + std::to_string(out.size()) + ": got " +
             std::to_string(out[i]) + ", want " + std::to_string(want);
    }
  }
  return "";
}

}  // namespace shoal::test
