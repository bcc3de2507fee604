// What the benchmark driver needs from a communication library: who we are,
// a few small helper collectives for timing and checking, and names for the
// report. shoal, Open MPI and Gloo each implement it, so their outputs share
// one format and diff line by line.
#pragma once

#include <cstddef>
#include <stdexcept>
#include <string>

#include "shoal/shoal.h"

namespace perf {

// Thrown by a runtime when its library reports an error; what() names the
// rank, the operation and the library's message.
class RuntimeError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

class Runtime {
 public:
  virtual ~Runtime() = default;

  virtual int rank() const = 0;
  virtual int size() const = 0;
  // Library and version, e.g. "shoal 0.1.0", for the header.
  virtual std::string library() const = 0;
  // This rank's transport, for its "# Using devices" line.
  virtual std::string transport() const = 0;
  // Algorithm the last measured collective used; empty when the library does
  // not say. Called right after the measured calls, before any helper call.
  virtual std::string lastAlgorithm() const { return {}; }
  // Empty when the library can run (type, op); otherwise why not.
  virtual std::string unsupported(shoalDataType_t t, shoalRedOp_t op) const = 0;

  // Helper collectives over all ranks.
  virtual double reduceTime(double seconds, bool max) = 0;  // max, or sum when !max
  virtual long long sumOverRanks(long long v) = 0;
  virtual void sumBytes(unsigned char* buf, size_t n) = 0;  // element-wise uint8 sum
  virtual void barrier() = 0;
  // Throws RuntimeError when a stream-ordered call (-g 1) has failed since
  // it was enqueued; the driver asks after each stream synchronization.
  virtual void checkAsyncErrors() {}
  // Last resort after an error, so the other ranks fail fast instead of
  // waiting for their deadlines.
  virtual void abort() {}
};

}  // namespace perf
