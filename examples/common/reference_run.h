// The single-process run a data-parallel run must reproduce: the same model,
// seed and optimizer stepping on each whole global batch in one process. A
// distributed run cannot match it bit for bit (its gradient is summed in a
// different order: per shard, then across ranks), so compare() measures how
// far apart the two are.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "common/idx_dataset.h"
#include "common/mlp.h"
#include "common/sgd.h"

namespace train {

class ReferenceRun {
 public:
  ReferenceRun(const MlpShape& shape, const float* initialParams, float lr, float momentum);

  void step(const Dataset& data, const std::vector<uint32_t>& batch, float lr);

  struct Deviation {
    // Largest |params - reference| in a tensor divided by the largest
    // |reference - initial| in that tensor (how far training has moved it),
    // worst over the tensors.
    double ratio = 0;
    std::string where;  // tensor, element and both values
  };
  Deviation compare(const float* params) const;

 private:
  Mlp model_;
  std::vector<float> initial_, params_, grad_;
  SgdMomentum opt_;
};

// The reference run beside a distributed one for its first `steps` steps:
// steps it on the same batches, compares, and keeps the largest deviation.
class ReferenceCheck {
 public:
  ReferenceCheck(const MlpShape& shape, const float* initialParams, float lr, float momentum,
                 size_t steps, double tolerance, const char* program);
  // After the distributed run's step `step` (0-based) on `batch` with `lr`:
  // false, said on stderr, when its params deviate beyond the tolerance.
  // Nothing to do (true) once the reference's steps are over.
  bool afterStep(const Dataset& data, const std::vector<uint32_t>& batch, float lr,
                 const float* params, size_t step);

  double worst() const { return worst_; }
  size_t worstStep() const { return worstStep_; }  // 1-based
  double last() const { return last_; }

 private:
  ReferenceRun run_;
  size_t steps_;
  double tolerance_;
  const char* program_;
  double worst_ = 0, last_ = 0;
  size_t worstStep_ = 0;
};

// A 64-bit hash of the parameters' bytes (FNV-1a over 8-byte words): equal
// hashes on all ranks mean bitwise identical parameters, barring collisions.
uint64_t hashParameters(const float* params, size_t count);

}  // namespace train
