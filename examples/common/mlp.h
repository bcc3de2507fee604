// A two-layer perceptron, inputs -> hidden (ReLU) -> classes, trained with
// softmax cross-entropy. All parameters live in one flat float vector (and the
// gradient in one of the same layout), so a data-parallel step combines the
// whole gradient with a single collective.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "common/idx_dataset.h"

namespace train {

struct MlpShape {
  size_t inputs = 784;
  size_t hidden = 256;
  size_t classes = 10;
};

// Where each tensor starts in the flat vector. W1 is stored input-major
// (inputs x hidden) and W2 class-major (classes x hidden), so that every inner
// loop runs along `hidden` over contiguous memory.
struct MlpLayout {
  explicit MlpLayout(const MlpShape& s);
  MlpShape shape;
  size_t w1, b1, w2, b2, total;
};

// Sums over the samples seen, not means: shards of one batch add up.
struct BatchStats {
  double lossSum = 0;
  size_t correct = 0;
  size_t samples = 0;
};

class Mlp {
 public:
  explicit Mlp(const MlpShape& shape);

  const MlpLayout& layout() const { return layout_; }
  size_t parameterCount() const { return layout_.total; }

  // He-normal W1, scaled-normal W2, zero biases: a pure function of the seed.
  void initialize(float* params, uint64_t seed) const;

  // Adds the gradient of the summed loss over data samples idx[0..n) to grad
  // (which it does not clear). Samples contribute in the order given, so the
  // result depends only on the indices, not on how they are blocked.
  BatchStats accumulateGradient(const float* params, const Dataset& data, const uint32_t* idx,
                                size_t n, float* grad);

  // Loss and correct predictions over samples [begin, end).
  BatchStats evaluate(const float* params, const Dataset& data, size_t begin, size_t end);

  // Samples processed together: each weight row is loaded once per block.
  static constexpr size_t kBlock = 4;

 private:
  // Fills x_ with the block's pixels scaled to [0, 1] (zero rows past nb),
  // then h_ (post-ReLU) and z_ (logits).
  void forward(const float* params, const Dataset& data, const uint32_t* idx, size_t nb);

  MlpLayout layout_;
  std::vector<float> x_, h_, z_, dz_, dh_;
};

}  // namespace train
