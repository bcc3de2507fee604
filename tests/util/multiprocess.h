// Runs a test body in N real processes (one per rank), each forked from the
// test, and reports which ranks failed. The parent keeps the rendezvous root
// (shoalGetUniqueId starts it in the parent before the fork).
#pragma once

#include <functional>
#include <map>
#include <string>
#include <vector>

#include "shoal/shoal.h"

namespace shoal::test {

struct RankResult {
  int rank;
  int exitCode;  // 0 ok, >0 failed, -signal when killed
  std::string what;
};

struct MultiProcessOptions {
  double timeoutSeconds = 300;             // whole run; stragglers are killed
  std::map<std::string, std::string> env;  // set in every child before body
};

// Forks n children; child r runs body(r, n, id) and exits 0 unless a gtest
// assertion failed or it threw. Returns one RankResult per rank.
std::vector<RankResult> runRanks(int n,
                                 const std::function<void(int, int, const shoalUniqueId&)>& body,
                                 const MultiProcessOptions& opts = {});

// Convenience: EXPECTs every rank exited 0 and prints the failures.
void expectAllRanksPassed(const std::vector<RankResult>& results);

// Whether a transport is built in and usable here, probed in a child process
// so the test process never initialises a transport library before forking.
bool transportUsable(const std::string& name, std::string* why);

// Runs probe in a forked child and returns its answer and reason, so the test
// process itself never initialises the library probed (see cudaUsable).
bool probeInChild(const std::function<bool(std::string*)>& probe, std::string* why);

// Whether CUDA works here (built in, driver, a GPU). Probed in a child: a
// process that initialised CUDA before forking leaves its children unable to
// use the GPU, so multi-rank CUDA tests must not touch CUDA in the parent.
bool cudaUsable(std::string* why);

// Transports usable in this build on this machine (by name), for matrix tests.
std::vector<std::string> usableTransports();

}  // namespace shoal::test

// Skips the calling test, saying why, unless the transport is usable here
// (a macro: GTEST_SKIP returns from the function it is written in).
#define SHOAL_SKIP_UNLESS_USABLE(transport)                                  \
  do {                                                                       \
    std::string why_;                                                        \
    if (!shoal::test::transportUsable(transport, &why_))                     \
      GTEST_SKIP() << (transport) << " transport not usable here: " << why_; \
  } while (0)

// Skips the calling test unless CUDA works here (probed in a child).
#define SHOAL_SKIP_UNLESS_CUDA()                                    \
  do {                                                              \
    std::string why_;                                               \
    if (!shoal::test::cudaUsable(&why_))                            \
      GTEST_SKIP() << "CUDA tests skipped (no GPU here): " << why_; \
  } while (0)
