#include "common/reference_run.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <limits>

namespace train {

ReferenceRun::ReferenceRun(const MlpShape& shape, const float* initialParams, float lr,
                           float momentum)
    : model_(shape),
      initial_(initialParams, initialParams + model_.parameterCount()),
      params_(initial_),
      grad_(model_.parameterCount()),
      opt_(model_.parameterCount(), lr, momentum) {}

void ReferenceRun::step(const Dataset& data, const std::vector<uint32_t>& batch, float lr) {
  opt_.setLearningRate(lr);
  std::fill(grad_.begin(), grad_.end(), 0.f);
  model_.accumulateGradient(params_.data(), data, batch.data(), batch.size(), grad_.data());
  opt_.step(params_.data(), grad_.data(), batch.size());
}

ReferenceRun::Deviation ReferenceRun::compare(const float* params) const {
  const MlpLayout& l = model_.layout();
  const struct {
    const char* name;
    size_t begin, end;
  } tensors[] = {{"W1", l.w1, l.b1}, {"b1", l.b1, l.w2}, {"W2", l.w2, l.b2}, {"b2", l.b2, l.total}};
  Deviation worst;
  for (const auto& t : tensors) {
    double diff = 0, moved = 0;
    size_t at = t.begin;
    for (size_t i = t.begin; i < t.end; ++i) {
      const double d = std::fabs(static_cast<double>(params[i]) - params_[i]);
      if (d > diff || std::isnan(d)) {
        diff = std::isnan(d) ? std::numeric_limits<double>::infinity() : d;
        at = i;
      }
      moved = std::max(moved, std::fabs(static_cast<double>(params_[i]) - initial_[i]));
    }
    const double ratio =
        diff == 0 ? 0 : (moved > 0 ? diff / moved : std::numeric_limits<double>::infinity());
    if (ratio > worst.ratio || worst.where.empty()) {
      char buf[256];
      snprintf(buf, sizeof buf, "%s[%zu] = %.9g, reference %.9g (largest move of %s: %.3g)", t.name,
               at - t.begin, static_cast<double>(params[at]), static_cast<double>(params_[at]),
               t.name, moved);
      worst.ratio = ratio;
      worst.where = buf;
    }
  }
  return worst;
}

ReferenceCheck::ReferenceCheck(const MlpShape& shape, const float* initialParams, float lr,
                               float momentum, size_t steps, double tolerance, const char* program)
    : run_(shape, initialParams, lr, momentum),
      steps_(steps),
      tolerance_(tolerance),
      program_(program) {}

bool ReferenceCheck::afterStep(const Dataset& data, const std::vector<uint32_t>& batch, float lr,
                               const float* params, size_t step) {
  if (step >= steps_) return true;
  run_.step(data, batch, lr);
  const ReferenceRun::Deviation d = run_.compare(params);
  last_ = d.ratio;
  if (d.ratio > worst_) {
    worst_ = d.ratio;
    worstStep_ = step + 1;
  }
  if (d.ratio <= tolerance_) return true;  // also false for NaN
  fprintf(stderr,
          "%s: check failed at step %zu: rank 0's parameters deviate from the single-process "
          "reference by %.3g of the reference's displacement (tolerance %.3g): %s\n",
          program_, step + 1, d.ratio, tolerance_, d.where.c_str());
  return false;
}

uint64_t hashParameters(const float* params, size_t count) {
  const auto* bytes = reinterpret_cast<const unsigned char*>(params);
  const size_t n = count * sizeof(float);
  uint64_t h = 0xcbf29ce484222325ull;
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    uint64_t w;
    std::memcpy(&w, bytes + i, 8);
    h = (h ^ w) * 0x100000001b3ull;
  }
  for (; i < n; ++i) h = (h ^ bytes[i]) * 0x100000001b3ull;
  return h;
}

}  // namespace train
