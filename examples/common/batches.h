// Which samples make up each global batch, and which part of a batch each
// rank computes. Every rank derives the same permutation from the seed, so no
// indices are ever sent.
#pragma once

#include <cstddef>
#include <cstdint>
#include <utility>
#include <vector>

namespace train {

class BatchSchedule {
 public:
  // Epochs visit all `samples` in a fresh order, in batches of `batch`; the
  // last batch of an epoch holds the remainder (nothing is dropped).
  BatchSchedule(size_t samples, size_t batch, uint64_t seed);

  size_t stepsPerEpoch() const { return (samples_ + batch_ - 1) / batch_; }

  // The sample indices of batch `step` (0-based within the epoch) of `epoch`.
  std::vector<uint32_t> globalBatch(size_t epoch, size_t step);

  // [begin, end) of a batch of `size` that `rank` of `ranks` computes:
  // contiguous, sizes differing by at most one, in rank order.
  static std::pair<size_t, size_t> shard(size_t size, int rank, int ranks);

 private:
  void shuffle(size_t epoch);

  size_t samples_, batch_;
  uint64_t seed_;
  size_t epoch_ = SIZE_MAX;  // the epoch order_ belongs to
  std::vector<uint32_t> order_;
};

}  // namespace train
