#include "common/datatypes.h"

#include <cmath>
#include <cstring>

#include "core/dtype_names.h"

namespace perf {

namespace {

constexpr shoalDataType_t kAllTypes[] = {shoalInt8,   shoalUint8,   shoalInt32, shoalUint32,
                                         shoalInt64,  shoalUint64,  shoalHalf,  shoalFloat,
                                         shoalDouble, shoalBfloat16};
constexpr shoalRedOp_t kAllOps[] = {shoalSum, shoalProd, shoalMax, shoalMin, shoalAvg};

template <typename T>
T readAs(const void* buf, size_t i) {
  T v;
  memcpy(&v, static_cast<const char*>(buf) + i * sizeof(T), sizeof(T));
  return v;
}

template <typename T>
void writeAs(void* buf, size_t i, T v) {
  memcpy(static_cast<char*>(buf) + i * sizeof(T), &v, sizeof(T));
}

template <typename T>
void divideTyped(void* buf, size_t count, int n) {
  T* p = static_cast<T*>(buf);
  for (size_t i = 0; i < count; ++i) p[i] = static_cast<T>(p[i] / static_cast<T>(n));
}

}  // namespace

size_t typeSize(shoalDataType_t t) { return shoal::dtypeSize(t); }
const char* typeName(shoalDataType_t t) { return shoal::dtypeName(t); }
const char* opName(shoalRedOp_t op) { return shoal::opName(op); }

bool isFloating(shoalDataType_t t) {
  return t == shoalHalf || t == shoalFloat || t == shoalDouble || t == shoalBfloat16;
}

bool parseTypes(const std::string& name, std::vector<shoalDataType_t>* out) {
  out->clear();
  for (shoalDataType_t t : kAllTypes) {
    if (name == "all" || name == typeName(t)) out->push_back(t);
  }
  // Aliases nccl-tests also accepts.
  if (out->empty()) {
    if (name == "char") out->push_back(shoalInt8);
    if (name == "int") out->push_back(shoalInt32);
    if (name == "fp16" || name == "float16") out->push_back(shoalHalf);
    if (name == "fp32" || name == "float32") out->push_back(shoalFloat);
    if (name == "fp64" || name == "float64") out->push_back(shoalDouble);
    if (name == "bf16") out->push_back(shoalBfloat16);
  }
  return !out->empty();
}

bool parseOps(const std::string& name, std::vector<shoalRedOp_t>* out) {
  out->clear();
  for (shoalRedOp_t op : kAllOps) {
    if (name == "all" || name == opName(op)) out->push_back(op);
  }
  return !out->empty();
}

// binary16: 1 sign, 5 exponent (bias 15), 10 mantissa bits.
float halfBitsToFloat(uint16_t h) {
  const float sign = (h & 0x8000u) ? -1.0f : 1.0f;
  const int exp = (h >> 10) & 0x1f;
  const int man = h & 0x3ff;
  if (exp == 0) return sign * std::ldexp(static_cast<float>(man), -24);
  if (exp == 0x1f) return man ? std::nanf("") : sign * INFINITY;
  return sign * std::ldexp(static_cast<float>(man | 0x400), exp - 25);
}

uint16_t floatToHalfBits(float f) {
  uint32_t x;
  memcpy(&x, &f, 4);
  const uint16_t sign = static_cast<uint16_t>((x >> 16) & 0x8000u);
  const uint32_t ax = x & 0x7fffffffu;
  if (ax > 0x7f800000u) return sign | 0x7e00u;  // NaN
  // 65520 is the midpoint between the largest half (65504) and 2^16; it and
  // everything above round to infinity.
  if (ax >= 0x477ff000u) return sign | 0x7c00u;
  if (ax < 0x38800000u) {  // below 2^-14: a subnormal half, in units of 2^-24
    float af;
    memcpy(&af, &ax, 4);
    return sign | static_cast<uint16_t>(std::nearbyint(af * 16777216.0f));
  }
  // Rebias the exponent (127 -> 15) and drop 13 mantissa bits, rounding to
  // nearest even; a carry out of the mantissa correctly bumps the exponent.
  const uint32_t rebased = ax - (112u << 23);
  uint32_t h = rebased >> 13;
  const uint32_t rest = rebased & 0x1fffu;
  if (rest > 0x1000u || (rest == 0x1000u && (h & 1u))) ++h;
  return sign | static_cast<uint16_t>(h);
}

float bf16BitsToFloat(uint16_t b) {
  const uint32_t x = static_cast<uint32_t>(b) << 16;
  float f;
  memcpy(&f, &x, 4);
  return f;
}

uint16_t floatToBf16Bits(float f) {
  uint32_t x;
  memcpy(&x, &f, 4);
  if ((x & 0x7fffffffu) > 0x7f800000u)
    return static_cast<uint16_t>((x >> 16) | 0x40u);  // quiet NaN
  x += 0x7fffu + ((x >> 16) & 1u);                    // round to nearest even
  return static_cast<uint16_t>(x >> 16);
}

double loadElement(const void* buf, size_t i, shoalDataType_t t) {
  switch (t) {
    case shoalInt8:
      return readAs<int8_t>(buf, i);
    case shoalUint8:
      return readAs<uint8_t>(buf, i);
    case shoalInt32:
      return readAs<int32_t>(buf, i);
    case shoalUint32:
      return readAs<uint32_t>(buf, i);
    case shoalInt64:
      return static_cast<double>(readAs<int64_t>(buf, i));
    case shoalUint64:
      return static_cast<double>(readAs<uint64_t>(buf, i));
    case shoalHalf:
      return halfBitsToFloat(readAs<uint16_t>(buf, i));
    case shoalFloat:
      return readAs<float>(buf, i);
    case shoalDouble:
      return readAs<double>(buf, i);
    case shoalBfloat16:
      return bf16BitsToFloat(readAs<uint16_t>(buf, i));
    default:
      return 0;
  }
}

void storeElement(void* buf, size_t i, shoalDataType_t t, double v) {
  switch (t) {
    case shoalInt8:
      return writeAs(buf, i, static_cast<int8_t>(v));
    case shoalUint8:
      return writeAs(buf, i, static_cast<uint8_t>(v));
    case shoalInt32:
      return writeAs(buf, i, static_cast<int32_t>(v));
    case shoalUint32:
      return writeAs(buf, i, static_cast<uint32_t>(v));
    case shoalInt64:
      return writeAs(buf, i, static_cast<int64_t>(v));
    case shoalUint64:
      return writeAs(buf, i, static_cast<uint64_t>(v));
    case shoalHalf:
      return writeAs(buf, i, floatToHalfBits(static_cast<float>(v)));
    case shoalFloat:
      return writeAs(buf, i, static_cast<float>(v));
    case shoalDouble:
      return writeAs(buf, i, v);
    case shoalBfloat16:
      return writeAs(buf, i, floatToBf16Bits(static_cast<float>(v)));
    default:
      return;
  }
}

void divideInPlace(void* buf, size_t count, shoalDataType_t t, int n) {
  switch (t) {
    case shoalInt8:
      return divideTyped<int8_t>(buf, count, n);
    case shoalUint8:
      return divideTyped<uint8_t>(buf, count, n);
    case shoalInt32:
      return divideTyped<int32_t>(buf, count, n);
    case shoalUint32:
      return divideTyped<uint32_t>(buf, count, n);
    case shoalInt64:
      return divideTyped<int64_t>(buf, count, n);
    case shoalUint64:
      return divideTyped<uint64_t>(buf, count, n);
    case shoalFloat:
      return divideTyped<float>(buf, count, n);
    case shoalDouble:
      return divideTyped<double>(buf, count, n);
    case shoalHalf:
    case shoalBfloat16:
      for (size_t i = 0; i < count; ++i) {
        storeElement(buf, i, t, static_cast<float>(loadElement(buf, i, t)) / static_cast<float>(n));
      }
      return;
    default:
      return;
  }
}

}  // namespace perf
