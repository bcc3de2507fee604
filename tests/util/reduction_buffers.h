// One rank's buffers for one reduction call in the collective suites: the
// rank's input, the result every rank (or the root) must end with, and the
// send and receive buffers the call uses, refilled before every call.
#pragma once

#include <cstddef>
#include <cstring>
#include <vector>

#include "shoal/shoal.h"
#include "util/reference.h"

namespace shoal::test {

struct ReductionBuffers {
  ReductionBuffers(size_t count, shoalDataType_t t, shoalRedOp_t op, int rank, int nranks)
      : bytes(count * typeSize(t)),
        input(bytes + 1),
        want(bytes + 1),
        send(bytes + 1),
        recv(bytes + 1) {
    fillInput(input.data(), count, t, op, rank);
    fillExpected(want.data(), count, t, op, nranks);
  }

  // send = this rank's input; recv = a pattern no result has, so an element
  // the call did not write shows up in the comparison.
  void reset() {
    memcpy(send.data(), input.data(), bytes);
    memset(recv.data(), 0x5a, bytes);
  }

  // Whether an out-of-place call left its send buffer alone.
  bool sendUnchanged() const { return memcmp(send.data(), input.data(), bytes) == 0; }

  size_t bytes;
  std::vector<char> input, want, send, recv;
};

}  // namespace shoal::test
