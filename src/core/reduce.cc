#include "core/reduce.h"

// The instruction-set variants are x86-64 only; every other architecture
// builds the portable loops alone (which its compiler vectorizes for its own
// baseline) and reports no variant as available.
#if defined(__x86_64__)
#define SHOAL_REDUCE_X86 1
#include <cpuid.h>
#include <immintrin.h>
#else
#define SHOAL_REDUCE_X86 0
#endif

#include <algorithm>
#include <bit>
#include <cstring>
#include <type_traits>

// The ops take 32-byte vectors only inside AVX2 functions, always inlined:
// the compilers' note that such a call would have a different ABI without AVX
// does not apply.
#pragma GCC diagnostic ignored "-Wpsabi"

namespace shoal {

namespace {

// Every kernel and conversion is forced inline so that each instruction-set
// variant below (baseline, AVX2, AVX-512) compiles its own vectorized copy.
#define SHOAL_KERNEL inline __attribute__((always_inline))

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

template <class Op>
constexpr bool kArith = std::is_same_v<Op, OpSum> || std::is_same_v<Op, OpProd>;

// Which NaN an add or multiply of two NaNs returns depends on the operand
// order of the instruction, and compilers treat both as commutative. The
// kernels fix it: float32/float64 return b's NaN when b is one (as shoal's
// kernels always have), the 16-bit types a's. x + x quiets a NaN x.
// E: the element type, where T is a vector of them.
template <class T, class Op, class E = T>
SHOAL_KERNEL T applyPlain(T a, T b) {
  if constexpr (kArith<Op> && std::is_floating_point_v<E>) {
    if constexpr (std::is_same_v<T, E>) {  // scalar (tails)
      using U = std::conditional_t<sizeof(T) == 4, uint32_t, uint64_t>;
      constexpr U kAbs = ~U{0} >> 1;
      constexpr U kInf = static_cast<U>(sizeof(T) == 4 ? 0x7f800000ull : 0x7ff0000000000000ull);
      constexpr U kQuiet = static_cast<U>(sizeof(T) == 4 ? 0x400000ull : 0x8000000000000ull);
      const U r = std::bit_cast<U>(Op::apply(a, b)), ub = std::bit_cast<U>(b);
      return std::bit_cast<T>((ub & kAbs) > kInf ? ub | kQuiet : r);
    } else {
      return b != b ? b + b : Op::apply(a, b);
    }
  } else {
    return Op::apply(a, b);
  }
}

// Element by element: the tails of the vector loops. loop16 is also the
// baseline 16-bit kernel, which the compiler vectorizes, and the exact path
// of the vector 16-bit kernels for a block with a NaN result. dst may alias a
// or b (every loop here reads an element before writing it).
template <class T, class Op>
SHOAL_KERNEL void loop(T* dst, const T* a, const T* b, size_t n) {
  for (size_t i = 0; i < n; ++i) dst[i] = applyPlain<T, Op>(a[i], b[i]);
}

template <class Op, class Conv>
SHOAL_KERNEL void loop16(uint16_t* dst, const uint16_t* a, const uint16_t* b, size_t n) {
  for (size_t i = 0; i < n; ++i) {
    const float x = Conv::widen(a[i]);
    const float r = Op::apply(x, Conv::widen(b[i]));
    const bool aIsNan = (floatBits(x) & 0x7fffffffu) > 0x7f800000u;
    dst[i] = Conv::narrow(kArith<Op> && aIsNan ? x : r);  // narrowing quiets it
  }
}

// Plain types on kBytes-wide vectors (GCC vector extensions, so one body
// serves every type and op, and a NaN select is always a blend); the scalar
// loop finishes the tail.
template <class T, size_t kBytes>
struct VecOf {
  typedef T type __attribute__((vector_size(kBytes)));
};

// One vector of kBytes: out = a (op) b. Vectors pass through memory, not by
// value, so that an AVX2 caller and this generic code never disagree on how
// a 32-byte vector is passed (clang rejects that).
template <class T, class Op, size_t kBytes>
SHOAL_KERNEL void combineVec(void* out, const T* a, const T* b) {
  using Vec = typename VecOf<T, kBytes>::type;
  Vec x, y;
  memcpy(&x, a, sizeof x);
  memcpy(&y, b, sizeof y);
  const Vec r = applyPlain<Vec, Op, T>(x, y);
  memcpy(out, &r, sizeof r);
}

template <class T, class Op, size_t kBytes>
SHOAL_KERNEL void vecLoop(void* dstv, const void* av, const void* bv, size_t n) {
  constexpr size_t kLanes = kBytes / sizeof(T);
  auto* dst = static_cast<T*>(dstv);
  const auto* a = static_cast<const T*>(av);
  const auto* b = static_cast<const T*>(bv);
  size_t i = 0;
  for (; i + kLanes <= n; i += kLanes) combineVec<T, Op, kBytes>(dst + i, a + i, b + i);
  loop<T, Op>(dst + i, a + i, b + i, n - i);
}

#if SHOAL_REDUCE_X86

#define SHOAL_AVX2 __attribute__((target("avx2,f16c")))
#define SHOAL_AVX512 __attribute__((target("avx512f,avx512bw,avx512vl,avx2,f16c")))

// The streaming 16-bit kernels (buffers that do not fit the caches) ask for
// their inputs 4 KiB ahead: out of cache, with the hardware prefetcher alone,
// they ran at a median 0.85-0.91 of memcpy's traffic rate, with this at
// 1.03 (9 paired runs, perf/RESULTS.md). The 32-bit and 64-bit kernels,
// with less work per byte, showed no gain, so they do without. A prefetch
// never faults, and the address is formed as an integer, so reading ahead of
// a buffer's end is harmless.
SHOAL_KERNEL void prefetchAhead(const void* p) {
  _mm_prefetch(reinterpret_cast<const char*>(reinterpret_cast<uintptr_t>(p) + 4096), _MM_HINT_T0);
}

// ---- AVX2 + F16C and AVX-512 16-bit kernels.
//
// One body (kernel16 below) for both instruction sets. Each set's Lanes type
// says how a block of kLanes elements is widened to float32, combined,
// checked for a NaN result and rounded back; the body runs blocks and hands a
// block whose result has a NaN to loop16, so NaNs follow shoal's rules there
// (half: the quiet NaN of its sign; an add or multiply keeps a's NaN) and the
// hardware's NaN behaviour never shows. Every other result is the float32
// result rounded to nearest even, which the hardware conversions and the
// integer rounding below give bit for bit like loop16.

// max/min return their second operand unless the comparison holds, exactly
// `a > b ? a : b` and `a < b ? a : b`; the NaN cases never reach a store.
SHOAL_AVX2 SHOAL_KERNEL __m256 applyRaw(OpSum, __m256 a, __m256 b) { return _mm256_add_ps(a, b); }
SHOAL_AVX2 SHOAL_KERNEL __m256 applyRaw(OpProd, __m256 a, __m256 b) { return _mm256_mul_ps(a, b); }
SHOAL_AVX2 SHOAL_KERNEL __m256 applyRaw(OpMax, __m256 a, __m256 b) { return _mm256_max_ps(a, b); }
SHOAL_AVX2 SHOAL_KERNEL __m256 applyRaw(OpMin, __m256 a, __m256 b) { return _mm256_min_ps(a, b); }

// Zero-masked forms with every lane enabled: the unmasked intrinsics pass an
// undefined vector, which GCC 12 reports as maybe-uninitialized.
constexpr __mmask16 kAll = 0xffff;

SHOAL_AVX512 SHOAL_KERNEL __m512 applyRaw(OpSum, __m512 a, __m512 b) { return _mm512_add_ps(a, b); }
SHOAL_AVX512 SHOAL_KERNEL __m512 applyRaw(OpProd, __m512 a, __m512 b) {
  return _mm512_mul_ps(a, b);
}
SHOAL_AVX512 SHOAL_KERNEL __m512 applyRaw(OpMax, __m512 a, __m512 b) {
  return _mm512_maskz_max_ps(kAll, a, b);
}
SHOAL_AVX512 SHOAL_KERNEL __m512 applyRaw(OpMin, __m512 a, __m512 b) {
  return _mm512_maskz_min_ps(kAll, a, b);
}

// narrowBf16Bits without its NaN rule, on each 32-bit lane (result in the low
// half): add 0x7fff plus the lowest kept bit, drop 16 bits.
SHOAL_AVX2 SHOAL_KERNEL __m256i roundBf16(__m256 v) {
  const __m256i x = _mm256_castps_si256(v);
  const __m256i lsb = _mm256_and_si256(_mm256_srli_epi32(x, 16), _mm256_set1_epi32(1));
  return _mm256_srli_epi32(_mm256_add_epi32(_mm256_add_epi32(x, _mm256_set1_epi32(0x7fff)), lsb),
                           16);
}

SHOAL_AVX512 SHOAL_KERNEL __m512i roundBf16(__m512 v) {
  const __m512i x = _mm512_castps_si512(v);
  const __m512i lsb = _mm512_and_si512(_mm512_maskz_srli_epi32(kAll, x, 16), _mm512_set1_epi32(1));
  return _mm512_maskz_srli_epi32(
      kAll, _mm512_add_epi32(_mm512_add_epi32(x, _mm512_set1_epi32(0x7fff)), lsb), 16);
}

// A block of a 16-bit kernel, widened: two float vectors of kBytes (the
// same type as __m256 or __m512, without the attribute a template argument
// would lose).
template <size_t kBytes>
struct TwoVecs {
  typename VecOf<float, kBytes>::type lo, hi;
};

// AVX2: sixteen elements as two vectors of eight; stores of 32 bytes
// (non-temporal ones need dst 32-byte aligned).
struct Avx2Lanes {
  static constexpr size_t kLanes = 16;
  using Block = TwoVecs<32>;
  static SHOAL_AVX2 SHOAL_KERNEL bool hasNan(Block r) {
    const __m256 m = _mm256_or_ps(_mm256_cmp_ps(r.lo, r.lo, _CMP_UNORD_Q),
                                  _mm256_cmp_ps(r.hi, r.hi, _CMP_UNORD_Q));
    return !_mm256_testz_ps(m, m);
  }
  static SHOAL_AVX2 SHOAL_KERNEL __m128i load8(const uint16_t* p) {
    return _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
  }
  static SHOAL_AVX2 SHOAL_KERNEL Block load(HalfConv, const uint16_t* p) {
    return {_mm256_cvtph_ps(load8(p)), _mm256_cvtph_ps(load8(p + 8))};
  }
  static SHOAL_AVX2 SHOAL_KERNEL __m256 widenBf16(__m128i v) {
    return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(v), 16));
  }
  static SHOAL_AVX2 SHOAL_KERNEL Block load(Bf16Conv, const uint16_t* p) {
    return {widenBf16(load8(p)), widenBf16(load8(p + 8))};
  }
  template <bool kStream>
  static SHOAL_AVX2 SHOAL_KERNEL void put(uint16_t* p, __m128i v) {
    if constexpr (kStream)
      _mm_stream_si128(reinterpret_cast<__m128i*>(p), v);
    else
      _mm_storeu_si128(reinterpret_cast<__m128i*>(p), v);
  }
  template <bool kStream>
  static SHOAL_AVX2 SHOAL_KERNEL void put(uint16_t* p, __m256i v) {
    if constexpr (kStream)
      _mm256_stream_si256(reinterpret_cast<__m256i*>(p), v);
    else
      _mm256_storeu_si256(reinterpret_cast<__m256i*>(p), v);
  }
  // Narrows a block and stores it at p. Half: two stores, so no instruction
  // joins the halves (the conversions already load the shuffle port).
  template <bool kStream>
  static SHOAL_AVX2 SHOAL_KERNEL void store(HalfConv, uint16_t* p, Block r) {
    put<kStream>(p, _mm256_cvtps_ph(r.lo, _MM_FROUND_TO_NEAREST_INT));
    put<kStream>(p + 8, _mm256_cvtps_ph(r.hi, _MM_FROUND_TO_NEAREST_INT));
  }
  template <bool kStream>
  static SHOAL_AVX2 SHOAL_KERNEL void store(Bf16Conv, uint16_t* p, Block r) {
    // packus interleaves 128-bit lanes; the permute puts the halves back in order.
    put<kStream>(
        p, _mm256_permute4x64_epi64(_mm256_packus_epi32(roundBf16(r.lo), roundBf16(r.hi)), 0xd8));
  }
};

// AVX-512: thirty-two elements as two vectors of sixteen, so a block writes
// a whole 64-byte line (non-temporal stores need dst 64-byte aligned).
// The conversions are most of the work: twice AVX2's width is what brings
// them to memory speed. bfloat16 widens by interleaving with zeros, which
// splits a block into the lo and hi element quarters of each 128-bit lane;
// the ops are element-wise and the narrowing pack undoes the split, so no
// lane-crossing instruction is needed.
struct Avx512Lanes {
  static constexpr size_t kLanes = 32;
  using Block = TwoVecs<64>;
  static SHOAL_AVX512 SHOAL_KERNEL bool hasNan(Block r) {
    return (_mm512_cmp_ps_mask(r.lo, r.lo, _CMP_UNORD_Q) |
            _mm512_cmp_ps_mask(r.hi, r.hi, _CMP_UNORD_Q)) != 0;
  }
  static SHOAL_AVX512 SHOAL_KERNEL __m256i load16(const uint16_t* p) {
    return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p));
  }
  static SHOAL_AVX512 SHOAL_KERNEL Block load(HalfConv, const uint16_t* p) {
    return {_mm512_maskz_cvtph_ps(kAll, load16(p)), _mm512_maskz_cvtph_ps(kAll, load16(p + 16))};
  }
  static SHOAL_AVX512 SHOAL_KERNEL Block load(Bf16Conv, const uint16_t* p) {
    const __m512i v = _mm512_loadu_si512(p);
    const __m512i zero = _mm512_setzero_si512();
    return {_mm512_castsi512_ps(_mm512_unpacklo_epi16(zero, v)),
            _mm512_castsi512_ps(_mm512_unpackhi_epi16(zero, v))};
  }
  template <bool kStream>
  static SHOAL_AVX512 SHOAL_KERNEL void put(uint16_t* p, __m256i v) {
    if constexpr (kStream)
      _mm256_stream_si256(reinterpret_cast<__m256i*>(p), v);
    else
      _mm256_storeu_si256(reinterpret_cast<__m256i*>(p), v);
  }
  template <bool kStream>
  static SHOAL_AVX512 SHOAL_KERNEL void put(uint16_t* p, __m512i v) {
    if constexpr (kStream)
      _mm512_stream_si512(reinterpret_cast<__m512i*>(p), v);
    else
      _mm512_storeu_si512(p, v);
  }
  // As Avx2Lanes::store.
  template <bool kStream>
  static SHOAL_AVX512 SHOAL_KERNEL void store(HalfConv, uint16_t* p, Block r) {
    put<kStream>(p, _mm512_maskz_cvtps_ph(kAll, r.lo, _MM_FROUND_TO_NEAREST_INT));
    put<kStream>(p + 16, _mm512_maskz_cvtps_ph(kAll, r.hi, _MM_FROUND_TO_NEAREST_INT));
  }
  template <bool kStream>
  static SHOAL_AVX512 SHOAL_KERNEL void store(Bf16Conv, uint16_t* p, Block r) {
    put<kStream>(p, _mm512_packus_epi32(roundBf16(r.lo), roundBf16(r.hi)));
  }
};

// The one 16-bit body. A macro only because a target attribute cannot depend
// on a template argument: each instruction set gets the same template with
// its own target, so the compiler may use that set's instructions in it (and
// in the loop16 it inlines) and no other's.
#define SHOAL_DEFINE_KERNEL16(NAME, TARGET)                                                  \
  template <class Lanes, class Op, class Conv, bool kStream>                                 \
  TARGET void NAME(void* dstv, const void* av, const void* bv, size_t n) {                   \
    auto* dst = static_cast<uint16_t*>(dstv);                                                \
    const auto* a = static_cast<const uint16_t*>(av);                                        \
    const auto* b = static_cast<const uint16_t*>(bv);                                        \
    size_t i = 0;                                                                            \
    for (; i + Lanes::kLanes <= n; i += Lanes::kLanes) {                                     \
      if constexpr (kStream) {                                                               \
        prefetchAhead(a + i);                                                                \
        prefetchAhead(b + i);                                                                \
      }                                                                                      \
      const auto x = Lanes::load(Conv{}, a + i), y = Lanes::load(Conv{}, b + i);             \
      const typename Lanes::Block r{applyRaw(Op{}, x.lo, y.lo), applyRaw(Op{}, x.hi, y.hi)}; \
      if (Lanes::hasNan(r)) /* rare: one test per block skips every NaN rule */              \
        loop16<Op, Conv>(dst + i, a + i, b + i, Lanes::kLanes);                              \
      else                                                                                   \
        Lanes::template store<kStream>(Conv{}, dst + i, r);                                  \
    }                                                                                        \
    loop16<Op, Conv>(dst + i, a + i, b + i, n - i);                                          \
  }

SHOAL_DEFINE_KERNEL16(kernel16Avx2, SHOAL_AVX2)
SHOAL_DEFINE_KERNEL16(kernel16Avx512, SHOAL_AVX512)

template <class T, class Op>
SHOAL_AVX2 void plainAvx2(void* dst, const void* a, const void* b, size_t n) {
  vecLoop<T, Op, 32>(dst, a, b, n);
}

// vecLoop with non-temporal stores; dst is 32-byte aligned.
template <class T, class Op>
SHOAL_AVX2 void plainStreamAvx2(void* dstv, const void* av, const void* bv, size_t n) {
  constexpr size_t kLanes = 32 / sizeof(T);
  auto* dst = static_cast<T*>(dstv);
  const auto* a = static_cast<const T*>(av);
  const auto* b = static_cast<const T*>(bv);
  size_t i = 0;
  for (; i + kLanes <= n; i += kLanes) {
    __m256i r;
    combineVec<T, Op, 32>(&r, a + i, b + i);
    _mm256_stream_si256(reinterpret_cast<__m256i*>(dst + i), r);
  }
  loop<T, Op>(dst + i, a + i, b + i, n - i);
}

#endif  // SHOAL_REDUCE_X86

// ---- baseline kernels: the same loops, for CPUs without AVX2/F16C (on
// x86-64, SSE2) and for every other architecture.

template <class T, class Op>
void plainPortable(void* dst, const void* a, const void* b, size_t n) {
  vecLoop<T, Op, 16>(dst, a, b, n);
}

template <class Op, class Conv>
void loop16Portable(void* dst, const void* a, const void* b, size_t n) {
  loop16<Op, Conv>(static_cast<uint16_t*>(dst), static_cast<const uint16_t*>(a),
                   static_cast<const uint16_t*>(b), n);
}

using Kernel = void (*)(void*, const void*, const void*, size_t);

// avx2: the AVX2 kernel; stream: the same with non-temporal stores (dst
// aligned to kStreamAlign); avx512: the 16-bit kernels in AVX-512 (the others
// gain nothing from it). Off x86-64 the flags are always false.
template <class T, class Op>
Kernel plainKernel(bool avx2, bool stream) {
#if SHOAL_REDUCE_X86
  if (stream) return plainStreamAvx2<T, Op>;
  if (avx2) return plainAvx2<T, Op>;
#else
  (void)avx2;
  (void)stream;
#endif
  return plainPortable<T, Op>;
}

template <class Op, class Conv>
Kernel kernel16(bool avx2, bool stream, bool avx512) {
#if SHOAL_REDUCE_X86
  if (avx512)
    return stream ? kernel16Avx512<Avx512Lanes, Op, Conv, true>
                  : kernel16Avx512<Avx512Lanes, Op, Conv, false>;
  if (stream) return kernel16Avx2<Avx2Lanes, Op, Conv, true>;
  if (avx2) return kernel16Avx2<Avx2Lanes, Op, Conv, false>;
#else
  (void)avx2;
  (void)stream;
  (void)avx512;
#endif
  return loop16Portable<Op, Conv>;
}

template <class Op>
Kernel pickKernel(shoalDataType_t t, bool avx2, bool stream, bool avx512) {
  switch (t) {
    case shoalInt8:
      return plainKernel<int8_t, Op>(avx2, stream);
    case shoalUint8:
      return plainKernel<uint8_t, Op>(avx2, stream);
    case shoalInt32:
      return plainKernel<int32_t, Op>(avx2, stream);
    case shoalUint32:
      return plainKernel<uint32_t, Op>(avx2, stream);
    case shoalInt64:
      return plainKernel<int64_t, Op>(avx2, stream);
    case shoalUint64:
      return plainKernel<uint64_t, Op>(avx2, stream);
    case shoalFloat32:
      return plainKernel<float, Op>(avx2, stream);
    case shoalFloat64:
      return plainKernel<double, Op>(avx2, stream);
    case shoalFloat16:
      return kernel16<Op, HalfConv>(avx2, stream, avx512);
    case shoalBfloat16:
      return kernel16<Op, Bf16Conv>(avx2, stream, avx512);
    default:
      return nullptr;
  }
}

Kernel pickKernel(shoalDataType_t t, shoalRedOp_t op, bool avx2, bool stream, bool avx512) {
  switch (op) {
    case shoalSum:
    case shoalAvg:
      return pickKernel<OpSum>(t, avx2, stream, avx512);
    case shoalProd:
      return pickKernel<OpProd>(t, avx2, stream, avx512);
    case shoalMax:
      return pickKernel<OpMax>(t, avx2, stream, avx512);
    case shoalMin:
      return pickKernel<OpMin>(t, avx2, stream, avx512);
    default:
      return nullptr;
  }
}

bool cpuHasAvx2() {
#if SHOAL_REDUCE_X86
  // F16C through cpuid: clang's __builtin_cpu_supports does not know it.
  static const bool has = __builtin_cpu_supports("avx2") && [] {
    unsigned eax = 0, ebx = 0, ecx = 0, edx = 0;
    return __get_cpuid(1, &eax, &ebx, &ecx, &edx) != 0 && (ecx & bit_F16C) != 0;
  }();
  return has;
#else
  return false;
#endif
}

bool cpuHasAvx512() {
#if SHOAL_REDUCE_X86
  static const bool has = cpuHasAvx2() && __builtin_cpu_supports("avx512f") &&
                          __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl");
  return has;
#else
  return false;
#endif
}

template <class T>
void divideInt(T* p, size_t n, int d) {
  for (size_t i = 0; i < n; ++i) p[i] = static_cast<T>(p[i] / static_cast<T>(d));
}

template <class Conv>
SHOAL_KERNEL void divide16(uint16_t* p, size_t n, float d) {
  for (size_t i = 0; i < n; ++i) p[i] = Conv::narrow(Conv::widen(p[i]) / d);
}

#if SHOAL_REDUCE_X86
template <class Conv>
SHOAL_AVX2 void divide16Avx2(uint16_t* p, size_t n, float d) {
  divide16<Conv>(p, n, d);
}
#endif

template <class Conv>
void divide16Any(uint16_t* p, size_t n, float d) {
#if SHOAL_REDUCE_X86
  if (cpuHasAvx2()) {
    divide16Avx2<Conv>(p, n, d);
    return;
  }
#endif
  divide16<Conv>(p, n, d);
}

#if SHOAL_REDUCE_X86
// What the streaming kernels need of dst: a whole 64-byte line per AVX-512
// store (and 32 bytes per AVX2 one).
constexpr size_t kStreamAlign = 64;

// Out of cache an ordinary store first reads the destination line (read for
// ownership), so a reduction moves 4 x bytes for the 3 x it needs; glibc's
// memcpy avoids this for large copies with non-temporal stores, which write
// whole lines without reading them. So do the AVX2 kernels for large buffers.
void reduceStreamed(Kernel plain, Kernel stream, size_t es, char* dst, const char* a, const char* b,
                    size_t count) {
  // The head, up to dst's first aligned boundary, goes through the cache.
  const size_t head = std::min(
      count, (kStreamAlign - reinterpret_cast<uintptr_t>(dst) % kStreamAlign) % kStreamAlign / es);
  plain(dst, a, b, head);
  stream(dst + head * es, a + head * es, b + head * es, count - head);
  _mm_sfence();  // non-temporal stores are weakly ordered: visible before returning
}
#endif

// From this size per buffer the buffers are taken not to fit the caches: below
// it, non-temporal stores would evict a dst the caller may read next.
constexpr size_t kStreamMinBytes = size_t{4} << 20;

bool overlaps(const void* x, const void* y, size_t bytes) {
  const auto p = reinterpret_cast<uintptr_t>(x), q = reinterpret_cast<uintptr_t>(y);
  return p < q + bytes && q < p + bytes;
}

}  // namespace

bool reduceIsaAvailable(ReduceIsa isa) {
  switch (isa) {
    case ReduceIsa::kPortable:
      return true;
    case ReduceIsa::kAvx2:
    case ReduceIsa::kAvx2Streaming:
      return cpuHasAvx2();
    default:
      return cpuHasAvx512();
  }
}

void reduceWithIsa(ReduceIsa isa, void* dst, const void* a, const void* b, size_t count,
                   shoalDataType_t t, shoalRedOp_t op) {
  // A variant the CPU lacks (off x86-64: every one) runs the portable loops.
  if (!reduceIsaAvailable(isa)) isa = ReduceIsa::kPortable;
  const bool avx512 = isa == ReduceIsa::kAvx512 || isa == ReduceIsa::kAvx512Streaming;
  const bool stream = isa == ReduceIsa::kAvx2Streaming || isa == ReduceIsa::kAvx512Streaming;
  const Kernel k = pickKernel(t, op, isa != ReduceIsa::kPortable, false, avx512);
  if (k == nullptr) return;
#if SHOAL_REDUCE_X86
  const size_t es = dtypeSize(t);
  if (stream && reinterpret_cast<uintptr_t>(dst) % es == 0) {
    reduceStreamed(k, pickKernel(t, op, true, true, avx512), es, static_cast<char*>(dst),
                   static_cast<const char*>(a), static_cast<const char*>(b), count);
    return;
  }
#else
  (void)stream;
#endif
  k(dst, a, b, count);
}

void reduce(void* dst, const void* a, const void* b, size_t count, shoalDataType_t t,
            shoalRedOp_t op) {
  // Every kernel but the streaming ones comes from a table made once, instead
  // of being chosen through three levels per chunk: for the few elements of
  // a small call the choice cost more than the work.
  struct Table {
    Kernel k[shoalNumTypes][shoalNumOps] = {};
  };
  static const Table table = [] {
    Table tb;
    const bool avx2 = cpuHasAvx2(), avx512 = cpuHasAvx512();
    for (int i = 0; i < shoalNumTypes; ++i) {
      for (int j = 0; j < shoalNumOps; ++j) {
        tb.k[i][j] = pickKernel(static_cast<shoalDataType_t>(i), static_cast<shoalRedOp_t>(j), avx2,
                                false, avx512);
      }
    }
    return tb;
  }();
  if (!validDtype(t) || !validOp(op)) return;  // no kernel, as pickKernel says
  // Large and out of place, dst is written with non-temporal stores. In place
  // (dst == a or b) the destination lines were just read, so ordinary stores
  // cost no extra traffic and streaming them out is slower.
  const size_t bytes = count * dtypeSize(t);
  if (bytes >= kStreamMinBytes && cpuHasAvx2() && !overlaps(dst, a, bytes) &&
      !overlaps(dst, b, bytes)) {
    reduceWithIsa(cpuHasAvx512() ? ReduceIsa::kAvx512Streaming : ReduceIsa::kAvx2Streaming, dst, a,
                  b, count, t, op);
    return;
  }
  if (Kernel k = table.k[t][op]) k(dst, a, b, count);
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
