#include "core/reduce.h"

#include <immintrin.h>

#include <algorithm>
#include <bit>
#include <cstring>
#include <type_traits>

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

namespace {

// Every kernel and conversion is forced inline so that each instruction-set
// clone below (baseline x86-64 and AVX2) compiles its own vectorized copy.
#define SHOAL_KERNEL inline __attribute__((always_inline))
#define SHOAL_AVX2 __attribute__((target("avx2,f16c")))

SHOAL_KERNEL uint32_t floatBits(float f) { return std::bit_cast<uint32_t>(f); }
SHOAL_KERNEL float bitsFloat(uint32_t u) { return std::bit_cast<float>(u); }

// IEEE binary16 <-> binary32 with integer operations only, branch free (so
// loops over them vectorize) and independent of the FPU's rounding mode and
// flush-to-zero flags. Round to nearest even; infinities and NaNs keep their
// sign, a NaN widens with its payload and narrows to the quiet NaN of its sign.
SHOAL_KERNEL uint32_t widenHalfBits(uint32_t h) {
  const uint32_t em = h & 0x7fffu;
  const uint32_t normal = (em << 13) + 0x38000000u;   // exponent bias 15 -> 127
  const uint32_t special = (em << 13) | 0x7f800000u;  // inf or nan, payload kept
  // A subnormal m x 2^-24: converting the integer m is exact, then scale.
  const uint32_t sub = floatBits(static_cast<float>(static_cast<int32_t>(em))) - (24u << 23);
  uint32_t r = em >= 0x7c00u ? special : normal;
  r = em < 0x400u ? sub : r;
  r = em == 0 ? 0u : r;
  return (h & 0x8000u) << 16 | r;
}

SHOAL_KERNEL uint16_t narrowHalfBits(uint32_t x) {
  const uint32_t absx = x & 0x7fffffffu;
  // Normal result: rebias, round the 13 dropped bits (a carry into the
  // exponent is the right answer, up to infinity).
  const uint32_t t = absx - 0x38000000u;
  const uint32_t normal = (t + 0xfffu + ((t >> 13) & 1u)) >> 13;
  // Subnormal result: the 24-bit significand shifted right by 126 - exponent
  // (14 to 24; any larger shift rounds to zero, so it is capped at 31).
  const uint32_t exp = absx >> 23;
  const uint32_t shift = std::min(126u - std::min(exp, 125u), 31u);
  const uint32_t man = (absx & 0x7fffffu) | 0x800000u;
  const uint32_t sub = (man + (1u << (shift - 1)) - 1u + ((man >> shift) & 1u)) >> shift;
  uint32_t r = absx < 0x38800000u ? sub : normal;
  r = absx >= 0x477ff000u ? 0x7c00u : r;  // overflows to infinity (and infinity)
  r = absx > 0x7f800000u ? 0x7e00u : r;   // nan
  return static_cast<uint16_t>(((x >> 16) & 0x8000u) | r);
}

SHOAL_KERNEL uint16_t narrowBf16Bits(uint32_t x) {
  const uint32_t rounded = (x + 0x7fffu + ((x >> 16) & 1u)) >> 16;
  const uint32_t quietNan = (x >> 16) | 0x40u;
  return static_cast<uint16_t>((x & 0x7fffffffu) > 0x7f800000u ? quietNan : rounded);
}

struct HalfConv {
  static SHOAL_KERNEL float widen(uint16_t h) { return bitsFloat(widenHalfBits(h)); }
  static SHOAL_KERNEL uint16_t narrow(float f) { return narrowHalfBits(floatBits(f)); }
};
struct Bf16Conv {
  static SHOAL_KERNEL float widen(uint16_t b) { return bitsFloat(static_cast<uint32_t>(b) << 16); }
  static SHOAL_KERNEL uint16_t narrow(float f) { return narrowBf16Bits(floatBits(f)); }
};

}  // namespace

float halfToFloat(uint16_t h) { return HalfConv::widen(h); }
uint16_t floatToHalf(float f) { return HalfConv::narrow(f); }
float bf16ToFloat(uint16_t b) { return Bf16Conv::widen(b); }
uint16_t floatToBf16(float f) { return Bf16Conv::narrow(f); }

namespace {

struct OpSum {
  template <class T>
  static SHOAL_KERNEL T apply(T a, T b) {
    return static_cast<T>(a + b);
  }
};
struct OpProd {
  template <class T>
  static SHOAL_KERNEL T apply(T a, T b) {
    return static_cast<T>(a * b);
  }
};
struct OpMax {
  template <class T>
  static SHOAL_KERNEL T apply(T a, T b) {
    return a > b ? a : b;
  }
};
struct OpMin {
  template <class T>
  static SHOAL_KERNEL T apply(T a, T b) {
    return a < b ? a : b;
  }
};

// The same ops on eight floats. Operand order matters for NaNs: x86 returns
// the first NaN operand of an add or multiply (a, as the 16-bit kernels always
// have), and max/min the second operand unless the comparison holds, which is
// exactly `a > b ? a : b` and `a < b ? a : b`.
SHOAL_AVX2 SHOAL_KERNEL __m256 applyVec(OpSum, __m256 a, __m256 b) { return _mm256_add_ps(a, b); }
SHOAL_AVX2 SHOAL_KERNEL __m256 applyVec(OpProd, __m256 a, __m256 b) { return _mm256_mul_ps(a, b); }
SHOAL_AVX2 SHOAL_KERNEL __m256 applyVec(OpMax, __m256 a, __m256 b) { return _mm256_max_ps(a, b); }
SHOAL_AVX2 SHOAL_KERNEL __m256 applyVec(OpMin, __m256 a, __m256 b) { return _mm256_min_ps(a, b); }

// No __restrict__: dst may alias a or b, and the compiler's runtime overlap
// check still lets the loop vectorize.
template <class T, class Op>
SHOAL_KERNEL void loop(T* dst, const T* a, const T* b, size_t n) {
  for (size_t i = 0; i < n; ++i) dst[i] = Op::apply(a[i], b[i]);
}

template <class Op, class Conv>
SHOAL_KERNEL void loop16(uint16_t* dst, const uint16_t* a, const uint16_t* b, size_t n) {
  for (size_t i = 0; i < n; ++i) {
    const float x = Conv::widen(a[i]);
    const float r = Op::apply(x, Conv::widen(b[i]));
    // An add or multiply returns its first NaN operand, but the compiler may
    // swap the operands of a plain loop: a's NaN explicitly, as applyVec does.
    constexpr bool kArith = std::is_same_v<Op, OpSum> || std::is_same_v<Op, OpProd>;
    const bool aIsNan = (floatBits(x) & 0x7fffffffu) > 0x7f800000u;
    dst[i] = Conv::narrow(kArith && aIsNan ? x : r);
  }
}

// ---- AVX2 + F16C 16-bit kernels, eight elements at a time.

SHOAL_AVX2 SHOAL_KERNEL __m256 widenHalf8(const uint16_t* p) {
  // F16C quiets a signalling NaN where widenHalfBits keeps it; the result
  // cannot differ, since narrowing drops every NaN payload.
  return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
}

SHOAL_AVX2 SHOAL_KERNEL __m128i narrowHalf8(__m256 v) {
  const __m128i h = _mm256_cvtps_ph(v, _MM_FROUND_TO_NEAREST_INT);
  // F16C keeps the top of a NaN's payload; shoal writes the quiet NaN of its sign.
  const __m128i isNan =
      _mm_cmpgt_epi16(_mm_and_si128(h, _mm_set1_epi16(0x7fff)), _mm_set1_epi16(0x7c00));
  const __m128i quiet = _mm_or_si128(_mm_and_si128(h, _mm_set1_epi16(static_cast<int16_t>(0x8000))),
                                     _mm_set1_epi16(0x7e00));
  return _mm_blendv_epi8(h, quiet, isNan);
}

SHOAL_AVX2 SHOAL_KERNEL __m256 widenBf16x8(const uint16_t* p) {
  const __m256i w = _mm256_cvtepu16_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
  return _mm256_castsi256_ps(_mm256_slli_epi32(w, 16));
}

// narrowBf16Bits on eight lanes; each 32-bit lane holds its 16-bit result.
SHOAL_AVX2 SHOAL_KERNEL __m256i narrowBf16x8(__m256 v) {
  const __m256i x = _mm256_castps_si256(v);
  const __m256i high = _mm256_srli_epi32(x, 16);
  const __m256i rounded =
      _mm256_srli_epi32(_mm256_add_epi32(_mm256_add_epi32(x, _mm256_set1_epi32(0x7fff)),
                                         _mm256_and_si256(high, _mm256_set1_epi32(1))),
                        16);
  const __m256i isNan = _mm256_cmpgt_epi32(_mm256_and_si256(x, _mm256_set1_epi32(0x7fffffff)),
                                           _mm256_set1_epi32(0x7f800000));
  return _mm256_blendv_epi8(rounded, _mm256_or_si256(high, _mm256_set1_epi32(0x40)), isNan);
}

template <class Op>
SHOAL_AVX2 void halfAvx2(void* dstv, const void* av, const void* bv, size_t n) {
  auto* dst = static_cast<uint16_t*>(dstv);
  const auto* a = static_cast<const uint16_t*>(av);
  const auto* b = static_cast<const uint16_t*>(bv);
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const __m256 r = applyVec(Op{}, widenHalf8(a + i), widenHalf8(b + i));
    _mm_storeu_si128(reinterpret_cast<__m128i*>(dst + i), narrowHalf8(r));
  }
  loop16<Op, HalfConv>(dst + i, a + i, b + i, n - i);
}

template <class Op>
SHOAL_AVX2 void bf16Avx2(void* dstv, const void* av, const void* bv, size_t n) {
  auto* dst = static_cast<uint16_t*>(dstv);
  const auto* a = static_cast<const uint16_t*>(av);
  const auto* b = static_cast<const uint16_t*>(bv);
  size_t i = 0;
  for (; i + 16 <= n; i += 16) {
    const __m256i lo = narrowBf16x8(applyVec(Op{}, widenBf16x8(a + i), widenBf16x8(b + i)));
    const __m256i hi = narrowBf16x8(applyVec(Op{}, widenBf16x8(a + i + 8), widenBf16x8(b + i + 8)));
    // packus interleaves 128-bit lanes; the permute puts the halves back in order.
    const __m256i packed = _mm256_permute4x64_epi64(_mm256_packus_epi32(lo, hi), 0xd8);
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(dst + i), packed);
  }
  loop16<Op, Bf16Conv>(dst + i, a + i, b + i, n - i);
}

template <class T, class Op>
SHOAL_AVX2 void plainAvx2(void* dst, const void* a, const void* b, size_t n) {
  loop<T, Op>(static_cast<T*>(dst), static_cast<const T*>(a), static_cast<const T*>(b), n);
}

// ---- baseline (SSE2) kernels: the same loops, for CPUs without AVX2/F16C.

template <class T, class Op>
void plainPortable(void* dst, const void* a, const void* b, size_t n) {
  loop<T, Op>(static_cast<T*>(dst), static_cast<const T*>(a), static_cast<const T*>(b), n);
}

template <class Op, class Conv>
void loop16Portable(void* dst, const void* a, const void* b, size_t n) {
  loop16<Op, Conv>(static_cast<uint16_t*>(dst), static_cast<const uint16_t*>(a),
                   static_cast<const uint16_t*>(b), n);
}

using Kernel = void (*)(void*, const void*, const void*, size_t);

template <class Op>
Kernel pickKernel(shoalDataType_t t, bool avx2) {
  switch (t) {
    case shoalInt8:
      return avx2 ? plainAvx2<int8_t, Op> : plainPortable<int8_t, Op>;
    case shoalUint8:
      return avx2 ? plainAvx2<uint8_t, Op> : plainPortable<uint8_t, Op>;
    case shoalInt32:
      return avx2 ? plainAvx2<int32_t, Op> : plainPortable<int32_t, Op>;
    case shoalUint32:
      return avx2 ? plainAvx2<uint32_t, Op> : plainPortable<uint32_t, Op>;
    case shoalInt64:
      return avx2 ? plainAvx2<int64_t, Op> : plainPortable<int64_t, Op>;
    case shoalUint64:
      return avx2 ? plainAvx2<uint64_t, Op> : plainPortable<uint64_t, Op>;
    case shoalFloat32:
      return avx2 ? plainAvx2<float, Op> : plainPortable<float, Op>;
    case shoalFloat64:
      return avx2 ? plainAvx2<double, Op> : plainPortable<double, Op>;
    case shoalFloat16:
      return avx2 ? halfAvx2<Op> : loop16Portable<Op, HalfConv>;
    case shoalBfloat16:
      return avx2 ? bf16Avx2<Op> : loop16Portable<Op, Bf16Conv>;
    default:
      return nullptr;
  }
}

Kernel pickKernel(shoalDataType_t t, shoalRedOp_t op, bool avx2) {
  switch (op) {
    case shoalSum:
    case shoalAvg:
      return pickKernel<OpSum>(t, avx2);
    case shoalProd:
      return pickKernel<OpProd>(t, avx2);
    case shoalMax:
      return pickKernel<OpMax>(t, avx2);
    case shoalMin:
      return pickKernel<OpMin>(t, avx2);
    default:
      return nullptr;
  }
}

bool cpuHasAvx2() {
  static const bool has = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("f16c");
  return has;
}

template <class T>
void divideInt(T* p, size_t n, int d) {
  for (size_t i = 0; i < n; ++i) p[i] = static_cast<T>(p[i] / static_cast<T>(d));
}

template <class Conv>
SHOAL_KERNEL void divide16(uint16_t* p, size_t n, float d) {
  for (size_t i = 0; i < n; ++i) p[i] = Conv::narrow(Conv::widen(p[i]) / d);
}

template <class Conv>
SHOAL_AVX2 void divide16Avx2(uint16_t* p, size_t n, float d) {
  divide16<Conv>(p, n, d);
}

template <class Conv>
void divide16Any(uint16_t* p, size_t n, float d) {
  if (cpuHasAvx2())
    divide16Avx2<Conv>(p, n, d);
  else
    divide16<Conv>(p, n, d);
}

}  // namespace

bool reduceIsaAvailable(ReduceIsa isa) { return isa == ReduceIsa::kPortable || cpuHasAvx2(); }

void reduceWithIsa(ReduceIsa isa, void* dst, const void* a, const void* b, size_t count,
                   shoalDataType_t t, shoalRedOp_t op) {
  const Kernel k = pickKernel(t, op, isa == ReduceIsa::kAvx2);
  if (k != nullptr) k(dst, a, b, count);
}

void reduce(void* dst, const void* a, const void* b, size_t count, shoalDataType_t t,
            shoalRedOp_t op) {
  reduceWithIsa(cpuHasAvx2() ? ReduceIsa::kAvx2 : ReduceIsa::kPortable, dst, a, b, count, t, op);
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
    case shoalFloat16:
      divide16Any<HalfConv>((uint16_t*)buf, count, static_cast<float>(n));
      break;
    case shoalBfloat16:
      divide16Any<Bf16Conv>((uint16_t*)buf, count, static_cast<float>(n));
      break;
    default:
      break;
  }
}

}  // namespace shoal
