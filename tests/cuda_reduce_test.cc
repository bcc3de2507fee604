// The GPU reduction kernels (cuda/reduce_kernels.h) against the CPU kernels
// (core/reduce.h) on the same inputs, every element compared bit for bit:
// every dtype x op, empty to 1M+7 elements, aligned, all shifted by one
// element (vector path after a scalar head), one input shifted alone (scalar
// path), in place, and an input in mapped host memory.
//
// One documented exception: where an op computes a NaN (inf - inf, or a NaN
// operand of sum/prod/avg) the NaN's sign and payload are the hardware's own
// (x86 keeps an operand's payload, the GPU writes its canonical NaN), so
// there both sides must be NaN. Max and min only select, so their NaNs must
// match exactly.
#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "core/deadline.h"
#include "core/reduce.h"
#include "cuda/cuda_api.h"
#include "cuda/reduce_kernels.h"

namespace shoal {
namespace {

constexpr int kAvgRanks = 3;
constexpr uint8_t kGuard = 0x5a;  // fills dst around the output to catch stray writes

bool isFloat(shoalDataType_t t) {
  return t == shoalFloat16 || t == shoalFloat32 || t == shoalFloat64 || t == shoalBfloat16;
}

uint64_t loadBits(const uint8_t* p, size_t esz) {
  uint64_t v = 0;
  memcpy(&v, p, esz);  // little endian: the low bytes
  return v;
}

void storeBits(uint8_t* p, uint64_t v, size_t esz) { memcpy(p, &v, esz); }

// Field layout of each float type: exponent shift and width.
struct FloatBits {
  int manBits;
  int expBits;
};
FloatBits floatBits(shoalDataType_t t) {
  switch (t) {
    case shoalFloat16:
      return {10, 5};
    case shoalBfloat16:
      return {7, 8};
    case shoalFloat32:
      return {23, 8};
    default:
      return {52, 11};
  }
}

bool isNan(uint64_t bits, shoalDataType_t t) {
  if (!isFloat(t)) return false;
  const FloatBits f = floatBits(t);
  const uint64_t expAll = ((uint64_t{1} << f.expBits) - 1) << f.manBits;
  const uint64_t man = (uint64_t{1} << f.manBits) - 1;
  return (bits & expAll) == expAll && (bits & man) != 0;
}

// Inputs that make rounding and overflow happen: integers are random bits
// (sums and products wrap); float pairs are random bits, or close in
// magnitude with random signs (rounding, cancellation), or near 1.0
// (products that round rather than overflow), plus zeros of both signs,
// infinities, quiet and signalling NaNs, the largest finite and smallest
// subnormal values; some pairs are equal.
void makeInputs(shoalDataType_t t, size_t count, std::vector<uint8_t>* a, std::vector<uint8_t>* b,
                uint64_t seed) {
  const size_t esz = dtypeSize(t);
  a->assign(count * esz, 0);
  b->assign(count * esz, 0);
  std::mt19937_64 rng(seed);
  const uint64_t all = esz == 8 ? ~uint64_t{0} : (uint64_t{1} << (8 * esz)) - 1;
  if (!isFloat(t)) {
    for (size_t i = 0; i < count; ++i) {
      const uint64_t x = rng() & all;
      storeBits(a->data() + i * esz, x, esz);
      storeBits(b->data() + i * esz, i % 23 == 0 ? x : rng() & all, esz);
    }
    return;
  }
  const FloatBits f = floatBits(t);
  const uint64_t sign = uint64_t{1} << (f.manBits + f.expBits);
  const uint64_t man = (uint64_t{1} << f.manBits) - 1;
  const uint64_t bias = (uint64_t{1} << (f.expBits - 1)) - 1;
  const uint64_t expAll = ((uint64_t{1} << f.expBits) - 1) << f.manBits;
  const uint64_t specials[] = {0,
                               sign,
                               expAll,
                               sign | expAll,
                               expAll | (uint64_t{1} << (f.manBits - 1)),         // quiet NaN
                               sign | expAll | (uint64_t{1} << (f.manBits - 1)),  // -quiet NaN
                               expAll | 1,                                        // signalling
                               expAll - 1,                                        // max finite
                               1};                                                // min subnormal
  const size_t nSpecials = sizeof(specials) / sizeof(specials[0]);
  for (size_t i = 0; i < count; ++i) {
    uint64_t x = rng() & all, y = rng() & all;
    switch (rng() % 4) {
      case 0:
        break;
      case 1:  // same magnitude give or take a factor of 8, any signs
        y = x ^ (rng() & (sign | man | (uint64_t{3} << f.manBits)));
        break;
      case 2:  // both in [0.5, 2)
        x = (x & (sign | man)) | (bias - (rng() & 1)) << f.manBits;
        y = (y & (sign | man)) | (bias - (rng() & 1)) << f.manBits;
        break;
      default:
        y = x ^ (rng() & man);
        break;
    }
    if (i % 17 == 5) x = specials[rng() % nSpecials];
    if (i % 19 == 7) y = specials[rng() % nSpecials];
    if (i % 23 == 0) y = x;
    storeBits(a->data() + i * esz, x, esz);
    storeBits(b->data() + i * esz, y, esz);
  }
}

struct DeviceBuffer {
  explicit DeviceBuffer(size_t bytes) : p(static_cast<uint8_t*>(cuda::deviceAlloc(bytes))) {}
  ~DeviceBuffer() { cuda::deviceFree(p); }
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;
  uint8_t* p;
};

struct PinnedBuffer {
  explicit PinnedBuffer(size_t bytes) : p(static_cast<uint8_t*>(cuda::pinnedAlloc(bytes))) {}
  ~PinnedBuffer() { cuda::pinnedFree(p); }
  PinnedBuffer(const PinnedBuffer&) = delete;
  PinnedBuffer& operator=(const PinnedBuffer&) = delete;
  uint8_t* p;
};

struct StreamHolder {
  StreamHolder() : s(cuda::createStream()) {}
  ~StreamHolder() { cuda::destroyStream(s); }
  StreamHolder(const StreamHolder&) = delete;
  StreamHolder& operator=(const StreamHolder&) = delete;
  cuda::Stream s;
};

// Where each operand sits, in elements from the start of its buffer.
enum class Layout { kAligned, kAllShifted, kOneShifted, kInPlace, kHostB };

const char* layoutName(Layout l) {
  switch (l) {
    case Layout::kAligned:
      return "aligned";
    case Layout::kAllShifted:
      return "all pointers +1 element";
    case Layout::kOneShifted:
      return "b +1 element";
    case Layout::kInPlace:
      return "in place (dst == a)";
    default:
      return "b in mapped host memory";
  }
}

class CudaReduce : public testing::TestWithParam<shoalDataType_t> {
 protected:
  void SetUp() override {
    std::string why;
    if (!cuda::available(&why)) GTEST_SKIP() << why;
  }

  // Runs op on the GPU with the given layout and compares with the CPU.
  void check(shoalRedOp_t op, size_t count, Layout layout, const std::vector<uint8_t>& ha,
             const std::vector<uint8_t>& hb) {
    const shoalDataType_t t = GetParam();
    const size_t esz = dtypeSize(t);
    const size_t bytes = count * esz;
    const size_t span = bytes + 2 * esz;  // one guard element each side
    const size_t offA = layout == Layout::kAllShifted ? esz : 0;
    const size_t offB = layout == Layout::kAllShifted || layout == Layout::kOneShifted ? esz : 0;
    const size_t offD = layout == Layout::kAllShifted || layout == Layout::kInPlace ? esz : 0;
    // In place the result lands in a's buffer, so a sits where dst would.
    const size_t offAReal = layout == Layout::kInPlace ? offD : offA;

    DeviceBuffer da(span), db(span), dd(span);
    PinnedBuffer pinned(layout == Layout::kHostB ? span : 1);
    uint8_t* bBase = layout == Layout::kHostB ? pinned.p : db.p;
    std::vector<uint8_t> guard(span, kGuard);
    cuda::copy(da.p, guard.data(), span);
    cuda::copy(dd.p, guard.data(), span);
    cuda::copy(da.p + offAReal, ha.data(), bytes);
    if (layout == Layout::kHostB) {
      if (bytes) memcpy(bBase + offB, hb.data(), bytes);
    } else {
      cuda::copy(bBase + offB, hb.data(), bytes);
    }
    uint8_t* dstBase = layout == Layout::kInPlace ? da.p : dd.p;

    StreamHolder stream;
    cuda::reduceAsync(dstBase + offD, da.p + offAReal, bBase + offB, count, t, op, stream.s);
    if (op == shoalAvg) cuda::divideAsync(dstBase + offD, count, t, kAvgRanks, stream.s);
    cuda::streamSync(stream.s, Deadline::after(60), "cuda_reduce_test");

    std::vector<uint8_t> got(span);
    cuda::copy(got.data(), dstBase, span);
    std::vector<uint8_t> want(bytes);
    reduce(want.data(), ha.data(), hb.data(), count, t, op);
    if (op == shoalAvg) finalizeAvg(want.data(), count, t, kAvgRanks);

    const std::string what = std::string(dtypeName(t)) + " " + opName(op) + ", " +
                             std::to_string(count) + " elements, " + layoutName(layout);
    for (size_t i = 0; i < span; ++i) {
      if (i >= offD && i < offD + bytes) continue;
      ASSERT_EQ(got[i], kGuard) << what << ": byte " << i << " outside the output was written";
    }
    const bool arithmetic = op == shoalSum || op == shoalProd || op == shoalAvg;
    size_t bad = 0;
    for (size_t i = 0; i < count; ++i) {
      const uint64_t g = loadBits(got.data() + offD + i * esz, esz);
      const uint64_t w = loadBits(want.data() + i * esz, esz);
      if (g == w || (arithmetic && isNan(w, t) && isNan(g, t))) continue;
      if (++bad <= 5) {
        ADD_FAILURE() << what << ": element " << i << " a=0x" << std::hex
                      << loadBits(ha.data() + i * esz, esz) << " b=0x"
                      << loadBits(hb.data() + i * esz, esz) << " gpu=0x" << g << " cpu=0x" << w
                      << std::dec;
      }
    }
    EXPECT_EQ(bad, 0u) << what << ": elements that differ";
  }
};

const shoalRedOp_t kOps[] = {shoalSum, shoalProd, shoalMax, shoalMin, shoalAvg};

TEST_P(CudaReduce, EveryOpSizeAndLayoutMatchesCpu) {
  const shoalDataType_t t = GetParam();
  for (size_t count : {size_t{0}, size_t{1}, size_t{3}, size_t{1000}, size_t{(1 << 20) + 7}}) {
    std::vector<uint8_t> a, b;
    makeInputs(t, count, &a, &b, 1000 * static_cast<uint64_t>(t) + count);
    for (shoalRedOp_t op : kOps) {
      for (Layout l :
           {Layout::kAligned, Layout::kAllShifted, Layout::kOneShifted, Layout::kInPlace}) {
        check(op, count, l, a, b);
        if (HasFatalFailure()) return;
      }
    }
  }
}

TEST_P(CudaReduce, InputInMappedHostMemory) {
  const shoalDataType_t t = GetParam();
  for (size_t count : {size_t{1000}, size_t{(1 << 20) + 7}}) {
    std::vector<uint8_t> a, b;
    makeInputs(t, count, &a, &b, 7 + count);
    for (shoalRedOp_t op : {shoalSum, shoalMax, shoalAvg}) {
      check(op, count, Layout::kHostB, a, b);
      if (HasFatalFailure()) return;
    }
  }
}

TEST_P(CudaReduce, AverageOfOneRankIsTheSum) {
  const shoalDataType_t t = GetParam();
  const size_t count = 4099, esz = dtypeSize(t);
  std::vector<uint8_t> a, b;
  makeInputs(t, count, &a, &b, 99);
  DeviceBuffer d(count * esz);
  cuda::copy(d.p, a.data(), count * esz);
  StreamHolder stream;
  cuda::divideAsync(d.p, count, t, 1, stream.s);
  cuda::streamSync(stream.s, Deadline::after(60), "cuda_reduce_test");
  std::vector<uint8_t> got(count * esz), want = a;
  cuda::copy(got.data(), d.p, count * esz);
  finalizeAvg(want.data(), count, t, 1);
  for (size_t i = 0; i < count; ++i) {
    const uint64_t g = loadBits(got.data() + i * esz, esz),
                   w = loadBits(want.data() + i * esz, esz);
    if (g != w && !(isNan(g, t) && isNan(w, t))) {
      FAIL() << dtypeName(t) << " element " << i << ": gpu=0x" << std::hex << g << " cpu=0x" << w;
    }
  }
}

TEST(CudaReduceErrors, InvalidDtypeAndOpAreRejected) {
  std::string why;
  if (!cuda::available(&why)) GTEST_SKIP() << why;
  StreamHolder stream;
  DeviceBuffer d(64);
  EXPECT_THROW(cuda::reduceAsync(d.p, d.p, d.p, 4, static_cast<shoalDataType_t>(shoalNumTypes),
                                 shoalSum, stream.s),
               std::exception);
  EXPECT_THROW(cuda::reduceAsync(d.p, d.p, d.p, 4, shoalFloat32,
                                 static_cast<shoalRedOp_t>(shoalNumOps), stream.s),
               std::exception);
  EXPECT_THROW(cuda::divideAsync(d.p, 4, shoalFloat32, 0, stream.s), std::exception);
}

std::string dtypeParamName(const testing::TestParamInfo<shoalDataType_t>& info) {
  return dtypeName(info.param);
}

INSTANTIATE_TEST_SUITE_P(AllTypes, CudaReduce,
                         testing::Values(shoalInt8, shoalUint8, shoalInt32, shoalUint32, shoalInt64,
                                         shoalUint64, shoalFloat16, shoalFloat32, shoalFloat64,
                                         shoalBfloat16),
                         dtypeParamName);

}  // namespace
}  // namespace shoal
