// Where shoalCommInitFromEnv learns its place in the job: shoal's own
// variables (set by shoalrun), or those of torchrun, Open MPI or Slurm.
#pragma once

#include <string>

namespace shoal {

struct EnvInit {
  int rank = -1;
  int size = 0;
  int localRank = -1;        // -1 when the launcher does not say
  std::string rootHostPort;  // rendezvous root; rank 0 listens there
  std::string secretHex;     // SHOAL_SECRET, or derived from the root address
  std::string source;        // which launcher's variables were used, for messages
};

// Throws shoalInvalidUsage naming the variables to set when none of the
// launchers' variables are complete, or shoalInvalidArgument for bad values.
EnvInit resolveEnvInit();

}  // namespace shoal
