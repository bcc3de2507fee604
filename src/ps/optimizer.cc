#include "ps/optimizer.h"

#include <cstring>

#include "core/reduce.h"

namespace shoal::ps {

namespace {

template <class T>
void sgd(T* value, const T* g, size_t begin, size_t end, T lr) {
  for (size_t i = begin; i < end; ++i) value[i] -= lr * g[i];
}

template <class T>
void momentum(T* value, const T* g, T* m, size_t begin, size_t end, T lr, T mu) {
  for (size_t i = begin; i < end; ++i) {
    m[i] = mu * m[i] + g[i];
    value[i] -= lr * m[i];
  }
}

}  // namespace

const char* updateName(shoalPsUpdate_t kind) {
  switch (kind) {
    case shoalPsUpdateSum:
      return "sum";
    case shoalPsUpdateSgd:
      return "sgd";
    case shoalPsUpdateMomentum:
      return "momentum";
  }
  return "unknown";
}

const char* updateRefuses(shoalPsUpdate_t kind, shoalDataType_t dtype) {
  if (kind == shoalPsUpdateSum) return "";
  if (dtype == shoalFloat32 || dtype == shoalFloat64) return "";
  return "sgd and momentum need float32 or float64 values";
}

bool updateHasState(shoalPsUpdate_t kind) { return kind == shoalPsUpdateMomentum; }

void applyUpdate(const UpdateRule& rule, bool replace, void* value, const void* g, void* state,
                 size_t begin, size_t end, shoalDataType_t dtype) {
  const size_t es = dtypeSize(dtype);
  if (rule.kind == shoalPsUpdateSum) {
    char* v = static_cast<char*>(value) + begin * es;
    const char* gg = static_cast<const char*>(g) + begin * es;
    if (replace) {
      memcpy(v, gg, (end - begin) * es);
    } else {
      reduce(v, v, gg, end - begin, dtype, shoalSum);
    }
    return;
  }
  if (dtype == shoalFloat32) {
    auto lr = static_cast<float>(rule.learningRate);
    auto mu = static_cast<float>(rule.momentum);
    if (rule.kind == shoalPsUpdateSgd) {
      sgd(static_cast<float*>(value), static_cast<const float*>(g), begin, end, lr);
    } else {
      momentum(static_cast<float*>(value), static_cast<const float*>(g), static_cast<float*>(state),
               begin, end, lr, mu);
    }
  } else {
    if (rule.kind == shoalPsUpdateSgd) {
      sgd(static_cast<double*>(value), static_cast<const double*>(g), begin, end,
          rule.learningRate);
    } else {
      momentum(static_cast<double*>(value), static_cast<const double*>(g),
               static_cast<double*>(state), begin, end, rule.learningRate, rule.momentum);
    }
  }
}

}  // namespace shoal::ps
