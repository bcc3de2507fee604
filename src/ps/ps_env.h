// Where shoalPsInitFromEnv learns its role and place: SHOAL_ROLE with the
// launch variables of shoalCommInitFromEnv, or ps-lite's DMLC_* variables.
#pragma once

#include <string>

namespace shoal::ps {

struct PsEnv {
  int rank = -1;
  int size = 0;
  int roles = 0;  // 0: the ps-lite scheduler (hosts the rendezvous only)
  std::string rootHostPort;
  std::string secretHex;
  bool listen = false;  // this process hosts the rendezvous root
  std::string source;   // for messages
};

// Throws shoalInvalidUsage naming the variables to set.
PsEnv resolvePsEnv();

}  // namespace shoal::ps
