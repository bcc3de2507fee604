// core/reduce.h's kernels against scalar references written here from the
// IEEE definitions (rounding through double and nearbyint rather than the
// kernels' bit tricks): every 16-bit pattern for the conversions, edge and
// random pairs for every op of float16 and bfloat16, random data for every
// other dtype x op. Each instruction-set variant the CPU can run is checked,
// as is the run-time choice reduce() makes.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <random>
#include <string>
#include <type_traits>
#include <vector>

#include "core/reduce.h"

namespace {

using shoal::ReduceIsa;

uint32_t bitsOf(float f) {
  uint32_t u;
  memcpy(&u, &f, 4);
  return u;
}
float floatOf(uint32_t u) {
  float f;
  memcpy(&f, &u, 4);
  return f;
}

// ---- references

float refHalfToFloat(uint16_t h) {
  const bool neg = (h & 0x8000u) != 0;
  const int exp = (h >> 10) & 0x1f;
  const int man = h & 0x3ff;
  if (exp == 0x1f)  // infinity or NaN: all-ones exponent, payload moved up
    return floatOf((neg ? 0x80000000u : 0u) | 0x7f800000u | static_cast<uint32_t>(man) << 13);
  const double mag = exp == 0 ? std::ldexp(man, -24) : std::ldexp(1024 + man, exp - 25);
  return static_cast<float>(neg ? -mag : mag);
}

float refBf16ToFloat(uint16_t b) { return floatOf(static_cast<uint32_t>(b) << 16); }

// Rounds |f| to a format with `manBits` fraction bits, exponent bias `bias`
// and `expBits` exponent bits, to nearest even (the default rounding mode of
// nearbyint); returns the magnitude's bits, infinity on overflow.
uint32_t refRound(double mag, int manBits, int bias, int expBits) {
  const int minExp = 1 - bias;  // of the smallest normal number
  if (mag == 0) return 0;
  int e;
  std::frexp(mag, &e);  // mag in [2^(e-1), 2^e)
  const int unbiased = e - 1;
  uint64_t bits;
  if (unbiased < minExp) {  // subnormal: units of 2^(minExp - manBits)
    bits = static_cast<uint64_t>(std::nearbyint(std::ldexp(mag, manBits - minExp)));
  } else {  // a carry of the rounded significand into the exponent is right
    const auto q = static_cast<uint64_t>(std::nearbyint(std::ldexp(mag, manBits - unbiased)));
    bits = (static_cast<uint64_t>(unbiased + bias) << manBits) + (q - (1ull << manBits));
  }
  const uint64_t inf = ((1ull << expBits) - 1) << manBits;
  return static_cast<uint32_t>(bits > inf ? inf : bits);
}

uint16_t refFloatToHalf(float f) {
  const uint32_t x = bitsOf(f);
  const uint32_t sign = (x >> 16) & 0x8000u;
  if (std::isnan(f)) return static_cast<uint16_t>(sign | 0x7e00u);  // shoal's rule: no payload
  if (std::isinf(f)) return static_cast<uint16_t>(sign | 0x7c00u);
  return static_cast<uint16_t>(sign | refRound(std::fabs(static_cast<double>(f)), 10, 15, 5));
}

uint16_t refFloatToBf16(float f) {
  const uint32_t x = bitsOf(f);
  const uint32_t sign = (x >> 16) & 0x8000u;
  if (std::isnan(f)) return static_cast<uint16_t>((x >> 16) | 0x40u);  // quieted, payload kept
  if (std::isinf(f)) return static_cast<uint16_t>(sign | 0x7f80u);
  return static_cast<uint16_t>(sign | refRound(std::fabs(static_cast<double>(f)), 7, 127, 8));
}

// One element of a 16-bit reduction: widen, combine in float32, round once.
// An add or multiply with a NaN operand returns a's NaN if a is one (x86's
// first-operand rule, which the kernels keep), else b's.
float refCombine(float a, float b, shoalRedOp_t op) {
  switch (op) {
    case shoalSum:
    case shoalAvg:
      return std::isnan(a) ? a : std::isnan(b) ? b : a + b;
    case shoalProd:
      return std::isnan(a) ? a : std::isnan(b) ? b : a * b;
    case shoalMax:
      return a > b ? a : b;
    case shoalMin:
      return a < b ? a : b;
    default:
      return 0;
  }
}

uint16_t ref16(uint16_t a, uint16_t b, shoalDataType_t t, shoalRedOp_t op) {
  if (t == shoalFloat16)
    return refFloatToHalf(refCombine(refHalfToFloat(a), refHalfToFloat(b), op));
  return refFloatToBf16(refCombine(refBf16ToFloat(a), refBf16ToFloat(b), op));
}

std::vector<ReduceIsa> isas() {
  std::vector<ReduceIsa> v{ReduceIsa::kPortable};
  for (ReduceIsa isa : {ReduceIsa::kAvx2, ReduceIsa::kAvx2Streaming, ReduceIsa::kAvx512,
                        ReduceIsa::kAvx512Streaming})
    if (shoal::reduceIsaAvailable(isa)) v.push_back(isa);
  return v;
}
const char* isaName(ReduceIsa isa) {
  switch (isa) {
    case ReduceIsa::kAvx2:
      return "avx2";
    case ReduceIsa::kAvx2Streaming:
      return "avx2 streaming";
    case ReduceIsa::kAvx512:
      return "avx512";
    case ReduceIsa::kAvx512Streaming:
      return "avx512 streaming";
    default:
      return "portable";
  }
}

constexpr shoalRedOp_t kOps[] = {shoalSum, shoalProd, shoalMax, shoalMin, shoalAvg};

// ---- conversions

TEST(ReduceKernels, HalfToFloatEveryPattern) {
  for (uint32_t h = 0; h < 65536; ++h)
    ASSERT_EQ(bitsOf(shoal::halfToFloat(static_cast<uint16_t>(h))),
              bitsOf(refHalfToFloat(static_cast<uint16_t>(h))))
        << "half 0x" << std::hex << h;
}

TEST(ReduceKernels, Bf16ToFloatEveryPattern) {
  for (uint32_t b = 0; b < 65536; ++b)
    ASSERT_EQ(bitsOf(shoal::bf16ToFloat(static_cast<uint16_t>(b))),
              bitsOf(refBf16ToFloat(static_cast<uint16_t>(b))))
        << "bfloat16 0x" << std::hex << b;
}

// Floats to narrow: every value of the 16-bit grid, the midpoints between
// neighbours and the floats one ulp either side of them (where rounding
// decides), and a stride through all 2^32 patterns.
std::vector<uint32_t> narrowingInputs(bool half) {
  std::vector<uint32_t> v;
  for (uint32_t h = 0; h < 65536; ++h) {
    const float f =
        half ? refHalfToFloat(static_cast<uint16_t>(h)) : refBf16ToFloat(static_cast<uint16_t>(h));
    const float g = half ? refHalfToFloat(static_cast<uint16_t>(h + 1))
                         : refBf16ToFloat(static_cast<uint16_t>(h + 1));
    v.push_back(bitsOf(f));
    if (std::isfinite(f) && std::isfinite(g) && std::signbit(f) == std::signbit(g)) {
      const uint32_t mid = bitsOf(static_cast<float>((static_cast<double>(f) + g) / 2));
      for (uint32_t d : {mid - 1, mid, mid + 1}) v.push_back(d);
    }
  }
  // Half's overflow threshold and underflow edges, in both signs.
  for (uint32_t x : {0x477fefffu, 0x477ff000u, 0x477ff001u, 0x33000000u, 0x33000001u, 0x32ffffffu,
                     0x387fc000u, 0x387fe000u, 0x387fffffu, 0x38800000u, 0x7f7fffffu, 0x7f800001u,
                     0x7fbfffffu, 0x7fc00000u, 0x00000001u, 0x007fffffu, 0x00800000u})
    for (uint32_t s : {0u, 0x80000000u}) v.push_back(x | s);
  for (uint64_t x = 0; x < (1ull << 32); x += 65521) v.push_back(static_cast<uint32_t>(x));
  return v;
}

TEST(ReduceKernels, FloatToHalfRoundsToNearestEven) {
  for (uint32_t x : narrowingInputs(true))
    ASSERT_EQ(shoal::floatToHalf(floatOf(x)), refFloatToHalf(floatOf(x)))
        << "float 0x" << std::hex << x;
}

TEST(ReduceKernels, FloatToBf16RoundsToNearestEven) {
  for (uint32_t x : narrowingInputs(false))
    ASSERT_EQ(shoal::floatToBf16(floatOf(x)), refFloatToBf16(floatOf(x)))
        << "float 0x" << std::hex << x;
}

// ---- 16-bit reductions

// Zeros, smallest and largest subnormals and normals, ones, infinities, quiet
// and signalling NaNs, for both formats, both signs.
std::vector<uint16_t> edges16() {
  std::vector<uint16_t> v;
  for (uint16_t x : {0x0000, 0x0001, 0x0002, 0x03ff, 0x0400, 0x0401, 0x3bff, 0x3c00, 0x3c01, 0x7bfe,
                     0x7bff, 0x7c00, 0x7c01, 0x7d00, 0x7e00, 0x7fff, 0x007f, 0x0080, 0x3f80, 0x3f81,
                     0x7f7f, 0x7f80, 0x7f81, 0x7fc0, 0x7fc1, 0x4000, 0x5bff, 0x1234})
    for (uint16_t s : {0x0000, 0x8000}) v.push_back(static_cast<uint16_t>(x | s));
  return v;
}

// Index of the first element where got and want differ, or n.
size_t firstMismatch(const std::vector<uint16_t>& got, const std::vector<uint16_t>& want) {
  size_t i = 0;
  while (i < want.size() && got[i] == want[i]) ++i;
  return i;
}

void check16(shoalDataType_t t, const std::vector<uint16_t>& a, const std::vector<uint16_t>& b) {
  const size_t n = a.size();
  std::vector<uint16_t> want(n), got(n);
  for (shoalRedOp_t op : kOps) {
    for (size_t i = 0; i < n; ++i) want[i] = ref16(a[i], b[i], t, op);
    auto expectAll = [&](const std::string& what) {
      const size_t i = firstMismatch(got, want);
      if (i < n)
        FAIL() << what << " " << shoal::dtypeName(t) << " " << shoal::opName(op) << std::hex
               << " a=0x" << a[i] << " b=0x" << b[i] << ": got 0x" << got[i] << ", want 0x"
               << want[i];
    };
    for (ReduceIsa isa : isas()) {
      shoal::reduceWithIsa(isa, got.data(), a.data(), b.data(), n, t, op);
      expectAll(isaName(isa));
      got = a;  // in place, dst == a
      shoal::reduceWithIsa(isa, got.data(), got.data(), b.data(), n, t, op);
      expectAll(std::string(isaName(isa)) + " in place");
    }
    shoal::reduce(got.data(), a.data(), b.data(), n, t, op);
    expectAll("reduce()");
  }
}

void pairs16(shoalDataType_t t) {
  const std::vector<uint16_t> edges = edges16();
  std::vector<uint16_t> a, b;
  // Every edge against every edge, and against every 16-bit pattern.
  for (uint16_t x : edges)
    for (uint16_t y : edges) {
      a.push_back(x);
      b.push_back(y);
    }
  for (uint16_t x : edges)
    for (uint32_t y = 0; y < 65536; ++y) {
      a.push_back(x);
      b.push_back(static_cast<uint16_t>(y));
      a.push_back(static_cast<uint16_t>(y));
      b.push_back(x);
    }
  std::mt19937 rng(7);
  for (int i = 0; i < (1 << 20) + 13; ++i) {  // odd length: vector bodies and scalar tails
    a.push_back(static_cast<uint16_t>(rng()));
    b.push_back(static_cast<uint16_t>(rng()));
  }
  check16(t, a, b);
}

TEST(ReduceKernels, HalfEveryOpEdgesAndRandomPairs) { pairs16(shoalFloat16); }
TEST(ReduceKernels, Bf16EveryOpEdgesAndRandomPairs) { pairs16(shoalBfloat16); }

TEST(ReduceKernels, FinalizeAvg16EveryPattern) {
  for (shoalDataType_t t : {shoalFloat16, shoalBfloat16})
    for (int n : {2, 3, 7, 1000}) {
      std::vector<uint16_t> buf(65536);
      for (uint32_t i = 0; i < 65536; ++i) buf[i] = static_cast<uint16_t>(i);
      shoal::finalizeAvg(buf.data(), buf.size(), t, n);
      for (uint32_t i = 0; i < 65536; ++i) {
        const auto x = static_cast<uint16_t>(i);
        const uint16_t want = t == shoalFloat16
                                  ? refFloatToHalf(refHalfToFloat(x) / static_cast<float>(n))
                                  : refFloatToBf16(refBf16ToFloat(x) / static_cast<float>(n));
        ASSERT_EQ(buf[i], want) << shoal::dtypeName(t) << " / " << n << " of 0x" << std::hex << i;
      }
    }
}

// ---- the other dtypes, random bit patterns (floats include NaNs,
// infinities and subnormals)

template <class T>
T refPlain(T a, T b, shoalRedOp_t op) {
  if constexpr (std::is_integral_v<T>) {  // wraps, as the hardware does
    using U = std::make_unsigned_t<T>;
    switch (op) {
      case shoalSum:
      case shoalAvg:
        return static_cast<T>(static_cast<U>(static_cast<U>(a) + static_cast<U>(b)));
      case shoalProd:
        return static_cast<T>(static_cast<U>(static_cast<uint64_t>(static_cast<U>(a)) *
                                             static_cast<uint64_t>(static_cast<U>(b))));
      default:
        break;
    }
  } else {
    // With a NaN operand: b's NaN if b is one, else a's (shoal's rule), quieted.
    switch (op) {
      case shoalSum:
      case shoalAvg:
        return std::isnan(b) ? b + b : a + b;
      case shoalProd:
        return std::isnan(b) ? b * b : a * b;
      default:
        break;
    }
  }
  return op == shoalMax ? (a > b ? a : b) : (a < b ? a : b);
}

template <class T>
void checkPlain(shoalDataType_t t) {
  std::mt19937_64 rng(static_cast<uint64_t>(t) + 1);
  // Tails, and pointers offset by one element from their allocation.
  for (size_t n : {size_t{0}, size_t{1}, size_t{31}, size_t{100003}}) {
    std::vector<T> a(n + 1), b(n + 1), got(n + 1), want(n + 1);
    for (size_t i = 0; i <= n; ++i) {
      const uint64_t ra = rng(), rb = rng();
      memcpy(&a[i], &ra, sizeof(T));
      memcpy(&b[i], &rb, sizeof(T));
    }
    for (shoalRedOp_t op : kOps) {
      for (size_t i = 0; i < n; ++i) want[i + 1] = refPlain(a[i + 1], b[i + 1], op);
      for (ReduceIsa isa : isas())
        for (bool inPlace : {false, true}) {
          if (inPlace) got = a;
          shoal::reduceWithIsa(isa, got.data() + 1, inPlace ? got.data() + 1 : a.data() + 1,
                               b.data() + 1, n, t, op);
          for (size_t i = 1; i <= n; ++i)
            ASSERT_EQ(memcmp(&got[i], &want[i], sizeof(T)), 0)
                << shoal::dtypeName(t) << " " << shoal::opName(op) << " " << isaName(isa)
                << (inPlace ? " in place" : "") << " element " << i - 1 << " of " << n;
        }
    }
  }
}

TEST(ReduceKernels, OtherDtypesEveryOpRandom) {
  checkPlain<int8_t>(shoalInt8);
  checkPlain<uint8_t>(shoalUint8);
  checkPlain<int32_t>(shoalInt32);
  checkPlain<uint32_t>(shoalUint32);
  checkPlain<int64_t>(shoalInt64);
  checkPlain<uint64_t>(shoalUint64);
  checkPlain<float>(shoalFloat32);
  checkPlain<double>(shoalFloat64);
}

// reduce() itself above its streaming threshold (4 MiB per buffer), with dst
// off the 32-byte grid, against the portable kernels.
TEST(ReduceKernels, LargeBuffersMatchPortable) {
  std::mt19937 rng(3);
  for (shoalDataType_t t : {shoalFloat32, shoalFloat16, shoalBfloat16, shoalInt64}) {
    const size_t es = shoal::dtypeSize(t);
    const size_t count = (size_t{5} << 20) / es + 3;
    std::vector<uint8_t> a(count * es), b(count * es), want(count * es + 64), got(count * es + 64);
    for (auto& x : a) x = static_cast<uint8_t>(rng());
    for (auto& x : b) x = static_cast<uint8_t>(rng());
    for (shoalRedOp_t op : {shoalSum, shoalMax}) {
      shoal::reduceWithIsa(ReduceIsa::kPortable, want.data() + es, a.data(), b.data(), count, t,
                           op);
      shoal::reduce(got.data() + es, a.data(), b.data(), count, t, op);
      ASSERT_EQ(memcmp(got.data() + es, want.data() + es, count * es), 0)
          << shoal::dtypeName(t) << " " << shoal::opName(op);
    }
  }
}

}  // namespace
