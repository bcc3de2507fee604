// The transport x world-size matrix the collective suites run over: every
// transport at 1..8 ranks (a transport that is not usable here skips).
#pragma once

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace shoal::test {

struct TransportRanks {
  std::string transport;
  int nranks;
};

inline std::vector<TransportRanks> everyTransportAndWorldSize() {
  std::vector<TransportRanks> v;
  for (const char* t : {"shm", "ucx", "verbs"}) {
    for (int n = 1; n <= 8; ++n) v.push_back({t, n});
  }
  return v;
}

// Test names such as shm_4ranks, which scripts/sanitize.sh filters on.
inline std::string transportRanksName(const testing::TestParamInfo<TransportRanks>& p) {
  return p.param.transport + "_" + std::to_string(p.param.nranks) + "ranks";
}

}  // namespace shoal::test
