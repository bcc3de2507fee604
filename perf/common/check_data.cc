#include "common/check_data.h"

#include <cmath>
#include <cstring>

#include "common/datatypes.h"

namespace perf {

namespace {

// Largest sum of non-negative integers each type holds exactly (bfloat16 has
// 8 significant bits, half 11; the 8-bit integers must not wrap).
double exactSumLimit(shoalDataType_t t) {
  switch (t) {
    case shoalInt8:
      return 127;
    case shoalUint8:
      return 250;
    case shoalBfloat16:
      return 256;
    case shoalHalf:
      return 2048;
    default:
      return 1 << 20;
  }
}

// Relative spacing of representable numbers near 1 for each floating type.
double unitRoundoff(shoalDataType_t t) {
  switch (t) {
    case shoalHalf:
      return std::ldexp(1.0, -10);
    case shoalBfloat16:
      return std::ldexp(1.0, -7);
    case shoalFloat:
      return std::ldexp(1.0, -23);
    default:
      return std::ldexp(1.0, -52);
  }
}

}  // namespace

double inputValue(const Pattern& p, int rank, size_t index) {
  if (p.op == shoalProd) {
    // Twos and ones, at most six twos per element (64 fits int8); every
    // combination of the first six ranks' factors appears along the index.
    if (rank >= 6) return 1;
    return (((index + p.seed) >> rank) & 1) ? 2 : 1;
  }
  // Small non-negative integers whose sum over nranks stays exact.
  const size_t span = static_cast<size_t>(exactSumLimit(p.type)) / static_cast<size_t>(p.nranks);
  const size_t m = span > 0 ? span : 1;
  return static_cast<double>((index * 7 + static_cast<size_t>(rank) * 3 + p.seed) % m);
}

double reducedValue(const Pattern& p, size_t index) {
  double acc = inputValue(p, 0, index);
  for (int r = 1; r < p.nranks; ++r) {
    const double v = inputValue(p, r, index);
    switch (p.op) {
      case shoalProd:
        acc *= v;
        break;
      case shoalMax:
        acc = std::fmax(acc, v);
        break;
      case shoalMin:
        acc = std::fmin(acc, v);
        break;
      default:
        acc += v;
        break;
    }
  }
  if (p.op == shoalAvg) {
    switch (p.type) {
      case shoalFloat:
      case shoalHalf:
      case shoalBfloat16:
        return static_cast<float>(acc) / static_cast<float>(p.nranks);
      case shoalDouble:
        return acc / p.nranks;
      default:
        return std::trunc(acc / p.nranks);
    }
  }
  return acc;
}

void fillInput(void* buf, size_t count, const Pattern& p, int rank, size_t firstIndex) {
  for (size_t i = 0; i < count; ++i)
    storeElement(buf, i, p.type, inputValue(p, rank, firstIndex + i));
}

void fillReduced(void* buf, size_t count, const Pattern& p, size_t firstIndex) {
  for (size_t i = 0; i < count; ++i) storeElement(buf, i, p.type, reducedValue(p, firstIndex + i));
}

void poison(void* buf, size_t bytes) { memset(buf, 0xff, bytes); }

size_t countWrong(const void* got, const void* expected, size_t count, shoalDataType_t t,
                  shoalRedOp_t op) {
  const size_t bytes = count * typeSize(t);
  if (memcmp(got, expected, bytes) == 0) return 0;
  const bool tolerant = op == shoalAvg && isFloating(t);
  const double ulps = 2 * unitRoundoff(t);
  size_t wrong = 0;
  for (size_t i = 0; i < count; ++i) {
    const double g = loadElement(got, i, t);
    const double e = loadElement(expected, i, t);
    if (g == e) continue;
    if (tolerant && std::fabs(g - e) <= ulps * std::fmax(std::fabs(e), 1.0)) continue;
    ++wrong;
  }
  return wrong;
}

}  // namespace perf
