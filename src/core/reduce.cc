#include "core/reduce.h"

#include <algorithm>
#include <cstring>

namespace shoal {

size_t dtypeSize(shoalDataType_t t) {
  switch (t) {
    case shoalInt8:
    case shoalUint8:
      return 1;
    case shoalFloat16:
    case shoalBfloat16:
      return 2;
    case shoalInt32:
    case shoalUint32:
    case shoalFloat32:
      return 4;
    case shoalInt64:
    case shoalUint64:
    case shoalFloat64:
      return 8;
    default:
      return 0;
  }
}

const char* dtypeName(shoalDataType_t t) {
  switch (t) {
    case shoalInt8:
      return "int8";
    case shoalUint8:
      return "uint8";
    case shoalInt32:
      return "int32";
    case shoalUint32:
      return "uint32";
    case shoalInt64:
      return "int64";
    case shoalUint64:
      return "uint64";
    case shoalFloat16:
      return "half";
    case shoalFloat32:
      return "float";
    case shoalFloat64:
      return "double";
    case shoalBfloat16:
      return "bfloat16";
    default:
      return "invalid";
  }
}

const char* opName(shoalRedOp_t op) {
  switch (op) {
    case shoalSum:
      return "sum";
    case shoalProd:
      return "prod";
    case shoalMax:
      return "max";
    case shoalMin:
      return "min";
    case shoalAvg:
      return "avg";
    default:
      return "invalid";
  }
}

bool validDtype(int t) { return t >= 0 && t < shoalNumTypes; }
bool validOp(int op) { return op >= 0 && op < shoalNumOps; }

// IEEE binary16 <-> binary32 by bit manipulation, so it needs no F16C and
// rounds to nearest even exactly as hardware would.
float halfToFloat(uint16_t h) {
  uint32_t sign = static_cast<uint32_t>(h & 0x8000u) << 16;
  uint32_t exp = (h >> 10) & 0x1fu;
  uint32_t man = h & 0x3ffu;
  uint32_t bits;
  if (exp == 0) {
    if (man == 0) {
      bits = sign;
    } else {  // subnormal: normalise
      int e = -1;
      do {
        ++e;
        man <<= 1;
      } while ((man & 0x400u) == 0);
      bits = sign | static_cast<uint32_t>(127 - 15 - e) << 23 | (man & 0x3ffu) << 13;
    }
  } else if (exp == 0x1f) {
    bits = sign | 0x7f800000u | man << 13;
  } else {
    bits = sign | (exp + 127 - 15) << 23 | man << 13;
  }
  float f;
  memcpy(&f, &bits, 4);
  return f;
}

uint16_t floatToHalf(float f) {
  uint32_t x;
  memcpy(&x, &f, 4);
  uint32_t sign = (x >> 16) & 0x8000u;
  uint32_t absx = x & 0x7fffffffu;
  if (absx >= 0x7f800000u) {  // inf or nan
    return static_cast<uint16_t>(sign | 0x7c00u | (absx > 0x7f800000u ? 0x200u : 0));
  }
  if (absx >= 0x477ff000u) return static_cast<uint16_t>(sign | 0x7c00u);  // overflow
  if (absx < 0x38800000u) {  // result is subnormal or zero
    if (absx < 0x33000000u) return static_cast<uint16_t>(sign);
    uint32_t man = (absx & 0x7fffffu) | 0x800000u;
    int shift = 113 - static_cast<int>(absx >> 23) + 13;  // 126 - exp, plus mantissa shift
    uint32_t half = man >> shift;
    uint32_t rem = man & ((1u << shift) - 1);
    uint32_t mid = 1u << (shift - 1);
    if (rem > mid || (rem == mid && (half & 1u))) ++half;
    return static_cast<uint16_t>(sign | half);
  }
  uint32_t e = (absx >> 23) - 127 + 15;
  uint32_t man = absx & 0x7fffffu;
  uint32_t half = e << 10 | man >> 13;
  uint32_t rem = man & 0x1fffu;
  if (rem > 0x1000u || (rem == 0x1000u && (half & 1u))) ++half;  // may carry into exponent: fine
  return static_cast<uint16_t>(sign | half);
}

float bf16ToFloat(uint16_t b) {
  uint32_t bits = static_cast<uint32_t>(b) << 16;
  float f;
  memcpy(&f, &bits, 4);
  return f;
}

uint16_t floatToBf16(float f) {
  uint32_t x;
  memcpy(&x, &f, 4);
  if ((x & 0x7fffffffu) > 0x7f800000u)
    return static_cast<uint16_t>((x >> 16) | 0x40u);  // quiet nan
  uint32_t rounding = 0x7fffu + ((x >> 16) & 1u);
  return static_cast<uint16_t>((x + rounding) >> 16);
}

namespace {

struct OpSum {
  template <class T>
  static T apply(T a, T b) {
    return static_cast<T>(a + b);
  }
};
struct OpProd {
  template <class T>
  static T apply(T a, T b) {
    return static_cast<T>(a * b);
  }
};
struct OpMax {
  template <class T>
  static T apply(T a, T b) {
    return a > b ? a : b;
  }
};
struct OpMin {
  template <class T>
  static T apply(T a, T b) {
    return a < b ? a : b;
  }
};

// __restrict__ lets the compiler vectorize; aliasing dst==a is still fine
// because each element is read before it is written at the same index.
template <class T, class Op>
void loop(T* dst, const T* a, const T* b, size_t n) {
  for (size_t i = 0; i < n; ++i) dst[i] = Op::apply(a[i], b[i]);
}

template <class Op, float (*ToF)(uint16_t), uint16_t (*FromF)(float)>
void loop16(uint16_t* dst, const uint16_t* a, const uint16_t* b, size_t n) {
  // Blocks through a float32 scratch so the widening and the op vectorize.
  constexpr size_t kBlock = 256;
  float fa[kBlock], fb[kBlock];
  for (size_t base = 0; base < n; base += kBlock) {
    size_t m = std::min(kBlock, n - base);
    for (size_t i = 0; i < m; ++i) fa[i] = ToF(a[base + i]);
    for (size_t i = 0; i < m; ++i) fb[i] = ToF(b[base + i]);
    for (size_t i = 0; i < m; ++i) fa[i] = Op::apply(fa[i], fb[i]);
    for (size_t i = 0; i < m; ++i) dst[base + i] = FromF(fa[i]);
  }
}

template <class Op>
void dispatchType(void* dst, const void* a, const void* b, size_t n, shoalDataType_t t) {
  switch (t) {
    case shoalInt8:
      loop<int8_t, Op>((int8_t*)dst, (const int8_t*)a, (const int8_t*)b, n);
      break;
    case shoalUint8:
      loop<uint8_t, Op>((uint8_t*)dst, (const uint8_t*)a, (const uint8_t*)b, n);
      break;
    case shoalInt32:
      loop<int32_t, Op>((int32_t*)dst, (const int32_t*)a, (const int32_t*)b, n);
      break;
    case shoalUint32:
      loop<uint32_t, Op>((uint32_t*)dst, (const uint32_t*)a, (const uint32_t*)b, n);
      break;
    case shoalInt64:
      loop<int64_t, Op>((int64_t*)dst, (const int64_t*)a, (const int64_t*)b, n);
      break;
    case shoalUint64:
      loop<uint64_t, Op>((uint64_t*)dst, (const uint64_t*)a, (const uint64_t*)b, n);
      break;
    case shoalFloat32:
      loop<float, Op>((float*)dst, (const float*)a, (const float*)b, n);
      break;
    case shoalFloat64:
      loop<double, Op>((double*)dst, (const double*)a, (const double*)b, n);
      break;
    case shoalFloat16:
      loop16<Op, halfToFloat, floatToHalf>((uint16_t*)dst, (const uint16_t*)a, (const uint16_t*)b,
                                           n);
      break;
    case shoalBfloat16:
      loop16<Op, bf16ToFloat, floatToBf16>((uint16_t*)dst, (const uint16_t*)a, (const uint16_t*)b,
                                           n);
      break;
    default:
      break;
  }
}

template <class T>
void divideInt(T* p, size_t n, int d) {
  for (size_t i = 0; i < n; ++i) p[i] = static_cast<T>(p[i] / static_cast<T>(d));
}

}  // namespace

void reduce(void* dst, const void* a, const void* b, size_t count, shoalDataType_t t,
            shoalRedOp_t op) {
  switch (op) {
    case shoalSum:
    case shoalAvg:
      dispatchType<OpSum>(dst, a, b, count, t);
      break;
    case shoalProd:
      dispatchType<OpProd>(dst, a, b, count, t);
      break;
    case shoalMax:
      dispatchType<OpMax>(dst, a, b, count, t);
      break;
    case shoalMin:
      dispatchType<OpMin>(dst, a, b, count, t);
      break;
    default:
      break;
  }
}

void finalizeAvg(void* buf, size_t count, shoalDataType_t t, int n) {
  switch (t) {
    case shoalInt8:
      divideInt((int8_t*)buf, count, n);
      break;
    case shoalUint8:
      divideInt((uint8_t*)buf, count, n);
      break;
    case shoalInt32:
      divideInt((int32_t*)buf, count, n);
      break;
    case shoalUint32:
      divideInt((uint32_t*)buf, count, n);
      break;
    case shoalInt64:
      divideInt((int64_t*)buf, count, n);
      break;
    case shoalUint64:
      divideInt((uint64_t*)buf, count, n);
      break;
    case shoalFloat32: {
      float* p = (float*)buf;
      for (size_t i = 0; i < count; ++i) p[i] = p[i] / static_cast<float>(n);
      break;
    }
    case shoalFloat64: {
      double* p = (double*)buf;
      for (size_t i = 0; i < count; ++i) p[i] = p[i] / static_cast<double>(n);
      break;
    }
    case shoalFloat16: {
      uint16_t* p = (uint16_t*)buf;
      for (size_t i = 0; i < count; ++i)
        p[i] = floatToHalf(halfToFloat(p[i]) / static_cast<float>(n));
      break;
    }
    case shoalBfloat16: {
      uint16_t* p = (uint16_t*)buf;
      for (size_t i = 0; i < count; ++i)
        p[i] = floatToBf16(bf16ToFloat(p[i]) / static_cast<float>(n));
      break;
    }
    default:
      break;
  }
}

}  // namespace shoal
