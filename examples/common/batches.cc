#include "common/batches.h"

#include <algorithm>
#include <stdexcept>

#include "common/rng.h"

namespace train {

BatchSchedule::BatchSchedule(size_t samples, size_t batch, uint64_t seed)
    : samples_(samples), batch_(batch), seed_(seed), order_(samples) {
  if (samples == 0 || batch == 0) throw std::invalid_argument("BatchSchedule: empty data or batch");
  if (samples > UINT32_MAX) throw std::invalid_argument("BatchSchedule: too many samples");
}

void BatchSchedule::shuffle(size_t epoch) {
  for (size_t i = 0; i < samples_; ++i) order_[i] = static_cast<uint32_t>(i);
  // One stream per epoch (Fisher-Yates), independent of the epochs before.
  SplitMix64 rng(seed_ ^ ((epoch + 1) * 0xd1b54a32d192ed03ull));
  for (size_t i = samples_ - 1; i > 0; --i) std::swap(order_[i], order_[rng.below(i + 1)]);
  epoch_ = epoch;
}

std::vector<uint32_t> BatchSchedule::globalBatch(size_t epoch, size_t step) {
  if (step >= stepsPerEpoch()) throw std::out_of_range("BatchSchedule: step past the epoch's end");
  if (epoch != epoch_) shuffle(epoch);
  const size_t begin = step * batch_;
  const size_t end = std::min(samples_, begin + batch_);
  return std::vector<uint32_t>(order_.begin() + begin, order_.begin() + end);
}

std::pair<size_t, size_t> BatchSchedule::shard(size_t size, int rank, int ranks) {
  const size_t r = static_cast<size_t>(rank), n = static_cast<size_t>(ranks);
  return {size * r / n, size * (r + 1) / n};
}

}  // namespace train
