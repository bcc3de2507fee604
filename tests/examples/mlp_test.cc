// The model's backward pass against finite differences of its own loss, and
// the properties data parallelism relies on: a gradient is the same however
// its samples are split into calls, and initialisation is a function of the
// seed alone.
#include "common/mlp.h"

#include <gtest/gtest.h>

#include <cmath>
#include <numeric>
#include <vector>

#include "common/rng.h"
#include "common/sgd.h"

namespace train {
namespace {

// 40 samples of 3x4 pixels with labels 0..3 (a model with 4 classes).
Dataset tinyData(uint64_t seed) {
  Dataset d;
  d.count = 40;
  d.rows = 3;
  d.cols = 4;
  SplitMix64 rng(seed);
  for (size_t i = 0; i < d.count * d.features(); ++i) {
    // A third of the pixels zero, as in real images' backgrounds.
    d.pixels.push_back(rng.below(3) == 0 ? 0 : static_cast<uint8_t>(rng.below(256)));
  }
  for (size_t i = 0; i < d.count; ++i) d.labels.push_back(static_cast<uint8_t>(rng.below(4)));
  return d;
}

MlpShape tinyShape() {
  MlpShape s;
  s.inputs = 12;
  s.hidden = 9;  // not a multiple of any vector width
  s.classes = 4;
  return s;
}

std::vector<uint32_t> iota(size_t n) {
  std::vector<uint32_t> v(n);
  std::iota(v.begin(), v.end(), 0u);
  return v;
}

// The tiny model on tinyData(dataSeed), with parameters initialised from
// initSeed, and every sample's index in order.
struct TinyRun {
  TinyRun(uint64_t dataSeed, uint64_t initSeed)
      : data(tinyData(dataSeed)), params(model.parameterCount()), idx(iota(data.count)) {
    model.initialize(params.data(), initSeed);
  }
  // The gradient summed over every sample, into a buffer of its own.
  std::vector<float> gradient(BatchStats* stats = nullptr) {
    std::vector<float> grad(params.size(), 0.f);
    const BatchStats st =
        model.accumulateGradient(params.data(), data, idx.data(), idx.size(), grad.data());
    if (stats) *stats = st;
    return grad;
  }

  const Dataset data;
  Mlp model{tinyShape()};
  std::vector<float> params;
  const std::vector<uint32_t> idx;
};

TEST(MlpTest, LayoutIsContiguous) {
  const MlpLayout l(MlpShape{});
  EXPECT_EQ(l.w1, 0u);
  EXPECT_EQ(l.b1, 784u * 256);
  EXPECT_EQ(l.w2, 784u * 256 + 256);
  EXPECT_EQ(l.b2, 784u * 256 + 256 + 10 * 256);
  EXPECT_EQ(l.total, 203530u);
}

TEST(MlpTest, GradientMatchesFiniteDifferences) {
  TinyRun run(3, 11);
  auto& [data, model, params, idx] = run;
  // Non-zero biases, so that they matter and some ReLUs start off.
  for (size_t i = model.layout().b1; i < model.layout().w2; ++i)
    params[i] = 0.05f * (i % 3) - 0.04f;
  const std::vector<float> grad = run.gradient();

  // Central differences of the summed loss; float forward passes, so the
  // step is large enough for rounding (~1e-7 relative) to stay small.
  const float h = 1e-3f;
  size_t checked = 0;
  for (size_t i = 0; i < params.size(); ++i) {
    const float keep = params[i];
    params[i] = keep + h;
    const double up = model.evaluate(params.data(), data, 0, data.count).lossSum;
    params[i] = keep - h;
    const double down = model.evaluate(params.data(), data, 0, data.count).lossSum;
    params[i] = keep;
    const double numeric = (up - down) / (2.0 * static_cast<double>(h));
    EXPECT_NEAR(grad[i], numeric, 2e-3 + 1e-2 * std::fabs(numeric)) << "parameter " << i;
    ++checked;
  }
  EXPECT_EQ(checked, model.parameterCount());
}

TEST(MlpTest, GradientIndependentOfHowSamplesAreSplit) {
  TinyRun run(5, 2);
  auto& [data, model, params, idx] = run;
  BatchStats all;
  const std::vector<float> whole = run.gradient(&all);
  // Pieces of 1, 6, 3, 13 and 17 samples into the same buffer, so blocks of
  // 4 start at different samples: the result must be identical, bit for bit.
  std::vector<float> pieces(params.size(), 0.f);
  BatchStats sum;
  size_t at = 0;
  for (size_t n : {1, 6, 3, 13, 17}) {
    const BatchStats st =
        model.accumulateGradient(params.data(), data, idx.data() + at, n, pieces.data());
    sum.lossSum += st.lossSum;
    sum.correct += st.correct;
    sum.samples += st.samples;
    at += n;
  }
  ASSERT_EQ(at, data.count);
  for (size_t i = 0; i < whole.size(); ++i) EXPECT_EQ(whole[i], pieces[i]) << "parameter " << i;
  EXPECT_EQ(sum.samples, all.samples);
  EXPECT_EQ(sum.correct, all.correct);
  EXPECT_NEAR(sum.lossSum, all.lossSum, 1e-9 * all.lossSum);
}

TEST(MlpTest, EvaluateAgreesWithTraining) {
  TinyRun run(9, 4);
  auto& [data, model, params, idx] = run;
  BatchStats t;
  run.gradient(&t);
  const BatchStats e = model.evaluate(params.data(), data, 0, data.count);
  EXPECT_EQ(t.samples, data.count);
  EXPECT_EQ(e.samples, data.count);
  EXPECT_EQ(t.correct, e.correct);
  EXPECT_EQ(t.lossSum, e.lossSum);
  // Untrained on 4 classes: the loss is near ln 4 per sample.
  EXPECT_NEAR(e.lossSum / static_cast<double>(data.count), std::log(4.0), 0.5);
}

TEST(MlpTest, InitialisationIsAFunctionOfTheSeed) {
  Mlp model(MlpShape{});
  std::vector<float> a(model.parameterCount()), b(a.size()), c(a.size());
  model.initialize(a.data(), 1);
  model.initialize(b.data(), 1);
  model.initialize(c.data(), 2);
  EXPECT_EQ(a, b);
  EXPECT_NE(a, c);
  // He initialisation of W1: standard deviation sqrt(2/784).
  double sq = 0;
  for (size_t i = 0; i < 784 * 256; ++i) sq += static_cast<double>(a[i]) * a[i];
  EXPECT_NEAR(std::sqrt(sq / (784 * 256)), std::sqrt(2.0 / 784), 0.002);
  for (size_t i = model.layout().b1; i < model.layout().w2; ++i) ASSERT_EQ(a[i], 0.f);
}

TEST(MlpTest, TrainingLowersTheLoss) {
  TinyRun run(12, 7);
  auto& [data, model, params, idx] = run;
  SgdMomentum opt(params.size(), 0.1f, 0.9f);
  const double before = model.evaluate(params.data(), data, 0, data.count).lossSum;
  std::vector<float> grad(params.size());
  for (int step = 0; step < 200; ++step) {
    std::fill(grad.begin(), grad.end(), 0.f);
    model.accumulateGradient(params.data(), data, idx.data(), idx.size(), grad.data());
    opt.step(params.data(), grad.data(), idx.size());
  }
  const double after = model.evaluate(params.data(), data, 0, data.count).lossSum;
  EXPECT_LT(after, 0.5 * before);
}

TEST(SgdMomentumTest, StepFollowsTheFormula) {
  SgdMomentum opt(2, 0.5f, 0.9f);
  std::vector<float> p = {1.f, -2.f};
  const std::vector<float> gradSum = {4.f, -8.f};  // over a batch of 4
  opt.step(p.data(), gradSum.data(), 4);
  // v = g/4 = {1, -2}; p -= 0.5 v
  EXPECT_EQ(p[0], 0.5f);
  EXPECT_EQ(p[1], -1.f);
  opt.step(p.data(), gradSum.data(), 4);
  // v = 0.9 v + g/4 = {1.9, -3.8}; p -= 0.5 v
  EXPECT_FLOAT_EQ(p[0], 0.5f - 0.95f);
  EXPECT_FLOAT_EQ(p[1], -1.f + 1.9f);
}

}  // namespace
}  // namespace train
