// Stochastic gradient descent with (heavy-ball) momentum:
//   v = momentum * v + grad / batch;  params -= lr * v
// The gradient comes in as a SUM over the batch's samples, however many ranks
// contributed to it, and is scaled here by 1/batch: the same arithmetic for
// any rank count and for a short last batch.
#pragma once

#include <cstddef>
#include <vector>

namespace train {

class SgdMomentum {
 public:
  SgdMomentum(size_t parameters, float lr, float momentum)
      : lr_(lr), momentum_(momentum), velocity_(parameters, 0.f) {}

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

}  // namespace train
