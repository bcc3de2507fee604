// The library a shoal benchmark binary measures: shoal itself, or NCCL as the
// GPU reference (--backend nccl). Both run the same sweep through the same
// driver, so their outputs diff line by line.
#pragma once

#include <functional>

#include "common/collective.h"
#include "common/runtime.h"

namespace perf {

class Backend : public Runtime {
 public:
  // One operation each, with the Call's buffers and stream; throw
  // RuntimeError with the library's message on failure.
  virtual void allReduce(const Call& c) = 0;
  virtual void reduceScatter(const Call& c) = 0;
  virtual void allGather(const Call& c) = 0;
  virtual void broadcast(const Call& c) = 0;
  virtual void reduce(const Call& c) = 0;
};

using MakeCollective = Collective (*)(std::function<void(const Call&)>);
using BackendCall = void (Backend::*)(const Call&);

// A whole <collective>_perf program: parses nccl-tests' flags plus -A, -g and
// --backend, then runs `call` through the driver. Exit status as runMain's;
// a NCCL that cannot be loaded or a missing GPU is one line on stderr and 2.
int backendMain(const char* program, int argc, char** argv, MakeCollective make, BackendCall call);

}  // namespace perf
