// What the fault tests share (tests/faults, tests/ps_faults_test.cc): the
// options of a multi-rank fault case, timing the call that must fail, and
// checking how it failed (its code, what its message names, how long it
// took) and that only the victim died.
#pragma once

#include <gtest/gtest.h>
#include <signal.h>

#include <chrono>
#include <initializer_list>
#include <map>
#include <string>
#include <vector>

#include "util/multiprocess.h"

namespace shoal::test {

inline double secondsSince(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

// Options for a fault case's ranks: the transport ("" keeps the default),
// more environment, and the limit of the whole run (stragglers are killed).
inline MultiProcessOptions faultRun(const std::string& transport, double runLimitSeconds,
                                    const std::map<std::string, std::string>& env = {}) {
  MultiProcessOptions o;
  o.env = env;
  if (!transport.empty()) o.env["SHOAL_TRANSPORT"] = transport;
  o.timeoutSeconds = runLimitSeconds;
  return o;
}

// A call's result, the error message read right after it, and its duration.
struct CallOutcome {
  shoalResult_t code;
  std::string error;
  double seconds;
};

// call() returns a shoalResult_t; lastError() the message to go with it.
template <typename Call, typename LastError>
CallOutcome timedCall(Call&& call, LastError&& lastError) {
  auto t0 = std::chrono::steady_clock::now();
  shoalResult_t code = call();
  double seconds = secondsSince(t0);
  return {code, lastError(), seconds};
}

// EXPECTs that code, every one of texts in the message, and a duration in
// [minSeconds, maxSeconds).
inline void expectOutcome(const CallOutcome& o, shoalResult_t code,
                          std::initializer_list<const char*> texts, double maxSeconds,
                          double minSeconds = 0) {
  EXPECT_EQ(o.code, code) << o.error;
  for (const char* t : texts) {
    EXPECT_NE(o.error.find(t), std::string::npos) << "'" << t << "' missing from: " << o.error;
  }
  EXPECT_GE(o.seconds, minSeconds) << o.error;
  EXPECT_LT(o.seconds, maxSeconds) << o.error;
}

// EXPECTs that rank victim died of SIGKILL and every other rank exited 0.
inline void expectOnlyVictimKilled(const std::vector<RankResult>& results, int victim) {
  bool seen = false;
  for (const auto& r : results) {
    if (r.rank == victim) {
      seen = true;
      EXPECT_EQ(r.exitCode, -SIGKILL) << "victim rank " << r.rank << ": " << r.what;
    } else {
      EXPECT_EQ(r.exitCode, 0) << "rank " << r.rank << ": " << r.what;
    }
  }
  EXPECT_TRUE(seen) << "no result for victim rank " << victim;
}

}  // namespace shoal::test
