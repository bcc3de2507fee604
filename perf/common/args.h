// nccl-tests command line: the same flags, defaults and size suffixes, so a
// command written for nccl-tests runs unchanged.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include "shoal/shoal.h"

namespace perf {

// The library behind the shoal benchmarks; NCCL is the reference they are
// compared against on GPUs.
enum class Library { kShoal, kNccl };

enum class TimeReduction { kRank0 = 0, kAverage = 1, kMin = 2, kMax = 3 };

struct Options {
  size_t minBytes = 32u << 20;
  size_t maxBytes = 32u << 20;
  size_t stepBytes = 1u << 20;
  double stepFactor = 1;  // > 1 multiplies, otherwise stepBytes is added
  int iters = 20;
  int warmupIters = 5;
  int aggIters = 1;
  bool check = true;
  bool blocking = true;  // -z: accepted; host collectives always block
  int root = 0;
  // -a: how per-rank times combine. The slowest rank bounds a collective, so
  // the default is the maximum.
  TimeReduction timeReduction = TimeReduction::kMax;
  std::vector<shoalDataType_t> types{shoalFloat};
  std::vector<shoalRedOp_t> ops{shoalSum};
  std::string algorithm;  // -A, only where the binary accepts it
  // -g: GPUs per rank, 0 (buffers in host memory) or 1 (cudaMalloc'd buffers
  // and a stream, as nccl-tests measures). Only where the binary accepts it.
  int gpus = 0;
  Library backend = Library::kShoal;  // --backend
};

struct ParseSpec {
  const char* program;
  bool acceptsAlgorithm;  // -A ring|tree|hier|auto
  // -g 0|1 and --backend shoal|nccl (the shoal binaries; the MPI and Gloo
  // baselines run on host memory only).
  bool acceptsDevices = false;
};

// Parses argv into *out. Returns -1 to go on, otherwise the exit status
// (0 after -h, 1 after a usage error, with the message on stderr).
int parseArgs(int argc, char** argv, const ParseSpec& spec, Options* out);

// "8", "1K", "128M", "2G" (powers of 1024); false when malformed.
bool parseSize(const char* s, size_t* out);

// The sizes a sweep visits, in order.
std::vector<size_t> sweepSizes(const Options& o);

}  // namespace perf
