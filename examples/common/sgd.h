// Stochastic gradient descent with (heavy-ball) momentum:
//   v = momentum * v + grad / batch;  params -= lr * v
// The gradient comes in as a SUM over the batch's samples, however many ranks
// contributed to it, and is scaled here by 1/batch: the same arithmetic for
// any rank count and for a short last batch.
#pragma once

#include <cmath>
#include <cstddef>
#include <numbers>
#include <vector>

namespace train {

class SgdMomentum {
 public:
  SgdMomentum(size_t parameters, float lr, float momentum)
      : lr_(lr), momentum_(momentum), velocity_(parameters, 0.f) {}

  void setLearningRate(float lr) { lr_ = lr; }
  float learningRate() const { return lr_; }

  void step(float* params, const float* gradSum, size_t batch) {
    const float inv = 1.0f / static_cast<float>(batch);
    const size_t n = velocity_.size();
    float* v = velocity_.data();
    for (size_t i = 0; i < n; ++i) {
      v[i] = momentum_ * v[i] + gradSum[i] * inv;
      params[i] -= lr_ * v[i];
    }
  }

 private:
  float lr_, momentum_;
  std::vector<float> velocity_;
};

// Learning rate of step `step` (0-based) of `total` under a half cosine from
// `base` down towards 0: large steps early, small ones to settle at the end.
inline float cosineLearningRate(float base, size_t step, size_t total) {
  const double t = static_cast<double>(step) / static_cast<double>(total);
  return static_cast<float>(static_cast<double>(base) * 0.5 * (1.0 + std::cos(std::numbers::pi * t)));
}

}  // namespace train
