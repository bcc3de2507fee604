// The nccl-tests measurement loop, independent of library and collective.
#pragma once

#include <functional>
#include <memory>

#include "common/args.h"
#include "common/collective.h"
#include "common/memory.h"
#include "common/runtime.h"

namespace perf {

// Sweeps every size x type x op in o, printing on rank 0. Returns 0, or 1 when
// any element was wrong on any rank. Throws RuntimeError on library errors.
int runBenchmark(const Options& o, const Collective& c, Runtime& rt, Memory& mem);
// On host memory.
int runBenchmark(const Options& o, const Collective& c, Runtime& rt);

// The whole program after argument parsing, on host memory: creates the runtime (which may
// throw), runs the benchmark, and turns any error into a message on stderr
// naming the program and rank, plus exit status 2.
int runMain(const char* program, const Options& o,
            const std::function<std::unique_ptr<Runtime>()>& makeRuntime,
            const std::function<Collective(Runtime&)>& makeCollective);
// The same with buffers from makeMemory, created first (a missing GPU is
// reported before any rendezvous), its error also exit status 2.
int runMain(const char* program, const Options& o,
            const std::function<std::unique_ptr<Memory>()>& makeMemory,
            const std::function<std::unique_ptr<Runtime>()>& makeRuntime,
            const std::function<Collective(Runtime&)>& makeCollective);

}  // namespace perf
