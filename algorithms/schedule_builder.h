// Builds a Schedule from the data each step reads and writes, deriving the
// dependencies itself: a step waits for the last writer of what it reads
// (read after write), and a write waits for the last writer and for every
// reader since (write after read: a Send reads its source until it
// completes). Algorithms then only say what moves where, in which order, and
// cannot forget a hazard, in particular through the aliasing of in-place
// calls (send and receive buffers overlapping as NCCL's conventions say).
//
// A Step holds at most two dependencies; when more are needed the builder
// inserts zero-byte local copies that join them.
#pragma once

#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <map>
#include <vector>

#include "core/schedule.h"

namespace shoal::algorithms {

class ScheduleBuilder;

// The cases with nothing to exchange, alike for every allreduce-shaped
// algorithm: no elements (nothing to do) or one rank (its input is the
// result). True when b's schedule is already complete.
bool planWithoutPeers(ScheduleBuilder& b, const CollArgs& a);

class ScheduleBuilder {
 public:
  ScheduleBuilder(Schedule& s, const CollArgs& args);

  size_t elemSize() const { return es_; }
  // Largest message in elements (at least one).
  size_t chunkElems() const { return chunkElems_; }

  // Offsets and sizes in bytes. `after` adds ordering that no data carries
  // (the rounds of a barrier); -1 entries are ignored.
  int32_t send(int peer, BufRef src, size_t bytes, std::initializer_list<int32_t> after = {});
  int32_t recv(int peer, BufRef dst, size_t bytes, std::initializer_list<int32_t> after = {});
  int32_t recvReduce(int peer, BufRef dst, BufRef src, size_t bytes);
  int32_t copy(BufRef dst, BufRef src, size_t bytes);
  int32_t avg(BufRef dst, size_t bytes);
  // One step that completes when all of deps have; -1 when deps is empty.
  int32_t join(std::vector<int32_t> deps);
  // markLanding (core/schedule.h) on a send or receive this builder made.
  void markLanding(int32_t step) { shoal::markLanding(sched_.steps[static_cast<size_t>(step)]); }

  void needScratch(size_t bytes) {
    if (bytes > sched_.scratchBytes) sched_.scratchBytes = bytes;
  }

 private:
  struct Span {
    size_t end = 0;
    int32_t writer = -1;
    std::vector<int32_t> readers;  // since the last write
  };
  using Space = std::map<size_t, Span>;  // keyed by start, covering [0, SIZE_MAX)

  struct Range {
    int space;
    size_t begin, end;
  };
  Range locate(BufRef ref, size_t bytes) const;
  Space::iterator splitAt(Space& sp, size_t at);
  void readDeps(const Range& r, std::vector<int32_t>& deps);
  void writeDeps(const Range& r, std::vector<int32_t>& deps);
  void noteRead(const Range& r, int32_t step);
  void noteWrite(const Range& r, int32_t step);
  int32_t emit(Step step, std::vector<int32_t> deps);

  Schedule& sched_;
  size_t es_;
  size_t chunkElems_;
  // kRecv addresses the same memory as kSend (or the reverse) at this byte
  // shift when the call is in place.
  int recvSpace_;
  size_t recvShift_;
  int sendSpace_;
  Space spaces_[3];
};

// Calls f(offsetElems, countElems) for each message-sized piece of a range.
template <class F>
void forEachChunk(size_t offset, size_t count, size_t chunkElems, F&& f) {
  for (size_t done = 0; done < count; done += chunkElems) {
    f(offset + done, count - done < chunkElems ? count - done : chunkElems);
  }
}

// Positions of ranks in a ring/chain that starts at root.
inline int relativeRank(int rank, int root, int n) { return (rank - root + n) % n; }
inline int absoluteRank(int rel, int root, int n) { return (rel + root) % n; }

}  // namespace shoal::algorithms
