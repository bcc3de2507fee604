#include "common/mlp.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <stdexcept>
#include <string>

#include "common/rng.h"

// The hot loops get an AVX2/FMA clone next to the baseline one and the loader
// picks by CPU. Every rank of a job runs on the same kind of CPU and thus the
// same clone, so results stay bitwise identical across ranks.
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define TRAIN_HOT __attribute__((target_clones("arch=x86-64-v3", "default")))
#else
#define TRAIN_HOT
#endif

namespace train {

namespace {

constexpr size_t B = Mlp::kBlock;
static_assert(B == 4, "the kernels below are unrolled for blocks of 4 samples");

// h[b][:] = bias + sum_k x[b][k] * w[k][:], for the 4 rows of a block. Pixels
// are often exactly zero (background), and a row of W whose 4 inputs are all
// zero contributes nothing, so it is skipped.
TRAIN_HOT void layer1Forward(const float* __restrict x, size_t in, const float* __restrict w,
                             const float* __restrict bias, size_t hid, float* __restrict h) {
  float* __restrict h0 = h;
  float* __restrict h1 = h + hid;
  float* __restrict h2 = h + 2 * hid;
  float* __restrict h3 = h + 3 * hid;
  for (size_t j = 0; j < hid; ++j) h0[j] = h1[j] = h2[j] = h3[j] = bias[j];
  for (size_t k = 0; k < in; ++k) {
    const float a0 = x[k], a1 = x[in + k], a2 = x[2 * in + k], a3 = x[3 * in + k];
    if (a0 == 0.f && a1 == 0.f && a2 == 0.f && a3 == 0.f) continue;
    const float* __restrict wk = w + k * hid;
    for (size_t j = 0; j < hid; ++j) {
      h0[j] += a0 * wk[j];
      h1[j] += a1 * wk[j];
      h2[j] += a2 * wk[j];
      h3[j] += a3 * wk[j];
    }
  }
  for (size_t j = 0; j < 4 * hid; ++j) h[j] = h[j] > 0.f ? h[j] : 0.f;
}

// g[k][:] += x[0][k] dh[0][:] + ... + x[3][k] dh[3][:], added one sample at a
// time so the sum's order is the samples' order whatever the blocking.
TRAIN_HOT void layer1Backward(const float* __restrict x, size_t in, const float* __restrict dh,
                              size_t hid, float* __restrict g) {
  const float* __restrict d0 = dh;
  const float* __restrict d1 = dh + hid;
  const float* __restrict d2 = dh + 2 * hid;
  const float* __restrict d3 = dh + 3 * hid;
  for (size_t k = 0; k < in; ++k) {
    const float a0 = x[k], a1 = x[in + k], a2 = x[2 * in + k], a3 = x[3 * in + k];
    if (a0 == 0.f && a1 == 0.f && a2 == 0.f && a3 == 0.f) continue;
    float* __restrict gk = g + k * hid;
    for (size_t j = 0; j < hid; ++j) {
      float acc = gk[j];
      acc += a0 * d0[j];
      acc += a1 * d1[j];
      acc += a2 * d2[j];
      acc += a3 * d3[j];
      gk[j] = acc;
    }
  }
}

// Eight interleaved partial sums: vectorizable without -ffast-math, and a
// fixed order, so deterministic.
TRAIN_HOT float dot(const float* __restrict a, const float* __restrict b, size_t n) {
  float part[8] = {};
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    for (size_t l = 0; l < 8; ++l) part[l] += a[i + l] * b[i + l];
  }
  for (; i < n; ++i) part[i % 8] += a[i] * b[i];
  return ((part[0] + part[1]) + (part[2] + part[3])) + ((part[4] + part[5]) + (part[6] + part[7]));
}

TRAIN_HOT void axpy(float alpha, const float* __restrict x, float* __restrict y, size_t n) {
  for (size_t i = 0; i < n; ++i) y[i] += alpha * x[i];
}

}  // namespace

MlpLayout::MlpLayout(const MlpShape& s) : shape(s) {
  w1 = 0;
  b1 = w1 + s.inputs * s.hidden;
  w2 = b1 + s.hidden;
  b2 = w2 + s.classes * s.hidden;
  total = b2 + s.classes;
}

Mlp::Mlp(const MlpShape& shape)
    : layout_(shape),
      x_(B * shape.inputs),
      h_(B * shape.hidden),
      z_(B * shape.classes),
      dz_(B * shape.classes),
      dh_(B * shape.hidden) {
  if (shape.inputs == 0 || shape.hidden == 0 || shape.classes < 2) {
    throw std::invalid_argument("Mlp: needs inputs, hidden units and at least 2 classes");
  }
}

void Mlp::initialize(float* params, uint64_t seed) const {
  const MlpShape& s = layout_.shape;
  SplitMix64 rng(seed);
  const double std1 = std::sqrt(2.0 / static_cast<double>(s.inputs));  // ReLU follows
  const double std2 = std::sqrt(1.0 / static_cast<double>(s.hidden));
  for (size_t i = 0; i < s.inputs * s.hidden; ++i) {
    params[layout_.w1 + i] = static_cast<float>(std1 * rng.normal());
  }
  for (size_t i = 0; i < s.classes * s.hidden; ++i) {
    params[layout_.w2 + i] = static_cast<float>(std2 * rng.normal());
  }
  std::memset(params + layout_.b1, 0, s.hidden * sizeof(float));
  std::memset(params + layout_.b2, 0, s.classes * sizeof(float));
}

void Mlp::forward(const float* params, const Dataset& data, const uint32_t* idx, size_t nb) {
  const MlpShape& s = layout_.shape;
  if (data.features() != s.inputs) {
    throw std::invalid_argument("Mlp: the data has " + std::to_string(data.features()) +
                                " features per sample, the model " + std::to_string(s.inputs));
  }
  constexpr float kScale = 1.0f / 255.0f;
  for (size_t b = 0; b < B; ++b) {
    float* xb = x_.data() + b * s.inputs;
    if (b < nb) {
      const uint8_t* img = data.image(idx[b]);
      for (size_t k = 0; k < s.inputs; ++k) xb[k] = static_cast<float>(img[k]) * kScale;
    } else {
      std::memset(xb, 0, s.inputs * sizeof(float));
    }
  }
  layer1Forward(x_.data(), s.inputs, params + layout_.w1, params + layout_.b1, s.hidden, h_.data());
  const float* w2 = params + layout_.w2;
  const float* b2 = params + layout_.b2;
  for (size_t b = 0; b < nb; ++b) {
    for (size_t c = 0; c < s.classes; ++c) {
      z_[b * s.classes + c] = b2[c] + dot(h_.data() + b * s.hidden, w2 + c * s.hidden, s.hidden);
    }
  }
}

namespace {

// Softmax cross-entropy of one sample: returns the loss, writes the gradient
// with respect to the logits (softmax - one-hot) to dz, says if argmax == label.
double softmaxCrossEntropy(const float* z, size_t classes, int label, float* dz, bool* correct) {
  size_t best = 0;
  for (size_t c = 1; c < classes; ++c) {
    if (z[c] > z[best]) best = c;
  }
  const float zmax = z[best];
  float sum = 0.f;
  for (size_t c = 0; c < classes; ++c) {
    dz[c] = std::exp(z[c] - zmax);
    sum += dz[c];
  }
  const float inv = 1.0f / sum;
  for (size_t c = 0; c < classes; ++c) dz[c] *= inv;
  dz[label] -= 1.0f;
  *correct = best == static_cast<size_t>(label);
  return static_cast<double>(std::log(sum)) - static_cast<double>(z[label] - zmax);
}

}  // namespace

BatchStats Mlp::accumulateGradient(const float* params, const Dataset& data, const uint32_t* idx,
                                   size_t n, float* grad) {
  const MlpShape& s = layout_.shape;
  const float* w2 = params + layout_.w2;
  float* gw1 = grad + layout_.w1;
  float* gb1 = grad + layout_.b1;
  float* gw2 = grad + layout_.w2;
  float* gb2 = grad + layout_.b2;
  BatchStats st;
  for (size_t start = 0; start < n; start += B) {
    const size_t nb = std::min(B, n - start);
    forward(params, data, idx + start, nb);
    for (size_t b = 0; b < B; ++b) {
      float* dzb = dz_.data() + b * s.classes;
      float* dhb = dh_.data() + b * s.hidden;
      if (b >= nb) {  // padding rows contribute nothing
        std::memset(dhb, 0, s.hidden * sizeof(float));
        continue;
      }
      bool ok = false;
      st.lossSum += softmaxCrossEntropy(z_.data() + b * s.classes, s.classes,
                                        data.labels[idx[start + b]], dzb, &ok);
      st.correct += ok;
      const float* hb = h_.data() + b * s.hidden;
      std::memset(dhb, 0, s.hidden * sizeof(float));
      for (size_t c = 0; c < s.classes; ++c) {
        gb2[c] += dzb[c];
        axpy(dzb[c], hb, gw2 + c * s.hidden, s.hidden);
        axpy(dzb[c], w2 + c * s.hidden, dhb, s.hidden);
      }
      for (size_t j = 0; j < s.hidden; ++j) {
        if (hb[j] <= 0.f) dhb[j] = 0.f;  // ReLU: no gradient where it was off
        gb1[j] += dhb[j];
      }
    }
    layer1Backward(x_.data(), s.inputs, dh_.data(), s.hidden, gw1);
    st.samples += nb;
  }
  return st;
}

BatchStats Mlp::evaluate(const float* params, const Dataset& data, size_t begin, size_t end) {
  const MlpShape& s = layout_.shape;
  std::vector<uint32_t> idx(B);
  BatchStats st;
  for (size_t start = begin; start < end; start += B) {
    const size_t nb = std::min(B, end - start);
    for (size_t b = 0; b < nb; ++b) idx[b] = static_cast<uint32_t>(start + b);
    forward(params, data, idx.data(), nb);
    for (size_t b = 0; b < nb; ++b) {
      bool ok = false;
      st.lossSum += softmaxCrossEntropy(z_.data() + b * s.classes, s.classes, data.labels[idx[b]],
                                        dz_.data(), &ok);
      st.correct += ok;
    }
    st.samples += nb;
  }
  return st;
}

}  // namespace train
