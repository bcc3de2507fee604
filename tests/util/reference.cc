#include "util/reference.h"

#include <cmath>
#include <cstring>
#include <sstream>

#include "core/reduce.h"

namespace shoal::test {

namespace {

bool isUnsigned(shoalDataType_t t) {
  return t == shoalUint8 || t == shoalUint32 || t == shoalUint64;
}
bool isFloat(shoalDataType_t t) {
  return t == shoalFloat16 || t == shoalBfloat16 || t == shoalFloat32 || t == shoalFloat64;
}

void store(void* buf, size_t i, shoalDataType_t t, double v) {
  switch (t) {
    case shoalInt8:
      static_cast<int8_t*>(buf)[i] = static_cast<int8_t>(v);
      break;
    case shoalUint8:
      static_cast<uint8_t*>(buf)[i] = static_cast<uint8_t>(v);
      break;
    case shoalInt32:
      static_cast<int32_t*>(buf)[i] = static_cast<int32_t>(v);
      break;
    case shoalUint32:
      static_cast<uint32_t*>(buf)[i] = static_cast<uint32_t>(v);
      break;
    case shoalInt64:
      static_cast<int64_t*>(buf)[i] = static_cast<int64_t>(v);
      break;
    case shoalUint64:
      static_cast<uint64_t*>(buf)[i] = static_cast<uint64_t>(v);
      break;
    case shoalFloat16:
      static_cast<uint16_t*>(buf)[i] = floatToHalf(static_cast<float>(v));
      break;
    case shoalBfloat16:
      static_cast<uint16_t*>(buf)[i] = floatToBf16(static_cast<float>(v));
      break;
    case shoalFloat32:
      static_cast<float*>(buf)[i] = static_cast<float>(v);
      break;
    case shoalFloat64:
      static_cast<double*>(buf)[i] = v;
      break;
    default:
      break;
  }
}

double load(const void* buf, size_t i, shoalDataType_t t) {
  switch (t) {
    case shoalInt8:
      return static_cast<const int8_t*>(buf)[i];
    case shoalUint8:
      return static_cast<const uint8_t*>(buf)[i];
    case shoalInt32:
      return static_cast<const int32_t*>(buf)[i];
    case shoalUint32:
      return static_cast<const uint32_t*>(buf)[i];
    case shoalInt64:
      return static_cast<double>(static_cast<const int64_t*>(buf)[i]);
    case shoalUint64:
      return static_cast<double>(static_cast<const uint64_t*>(buf)[i]);
    case shoalFloat16:
      return halfToFloat(static_cast<const uint16_t*>(buf)[i]);
    case shoalBfloat16:
      return bf16ToFloat(static_cast<const uint16_t*>(buf)[i]);
    case shoalFloat32:
      return static_cast<const float*>(buf)[i];
    case shoalFloat64:
      return static_cast<const double*>(buf)[i];
    default:
      return 0;
  }
}

// Every input pattern repeats with this period (lcm of 35, 20 and 11), so
// inputs and references are computed once per period and tiled.
constexpr size_t kPeriod = 7700;

void tile(void* buf, size_t count, size_t es) {
  size_t done = count < kPeriod ? count : kPeriod;
  char* p = static_cast<char*>(buf);
  while (done < count) {
    size_t n = done < count - done ? done : count - done;
    memcpy(p + done * es, p, n * es);
    done += n;
  }
}

}  // namespace

size_t typeSize(shoalDataType_t t) { return dtypeSize(t); }

std::vector<shoalDataType_t> allTypes() {
  return {shoalInt8,   shoalUint8,   shoalInt32,    shoalUint32,  shoalInt64,
          shoalUint64, shoalFloat16, shoalBfloat16, shoalFloat32, shoalFloat64};
}

std::vector<shoalRedOp_t> allOps() { return {shoalSum, shoalProd, shoalMax, shoalMin, shoalAvg}; }

double inputValue(shoalDataType_t t, shoalRedOp_t op, int rank, size_t i) {
  const bool u = isUnsigned(t);
  switch (op) {
    case shoalSum:
    case shoalAvg: {
      // Sums of up to 8 ranks stay within int8 and are exact in half/bf16.
      long v = static_cast<long>((static_cast<size_t>(rank + 1) * (i % 7 + 1) + i / 7) % 5);
      return u ? static_cast<double>(v) : static_cast<double>(v - 2);
    }
    case shoalProd: {
      // At most two ranks in eight contribute 2, so products stay <= 4.
      double v = ((i + static_cast<size_t>(rank)) % 4 == 0) ? 2.0 : 1.0;
      if (!u && (i + static_cast<size_t>(rank) * 3) % 5 == 1) v = -v;
      return v;
    }
    case shoalMax:
    case shoalMin: {
      long v = static_cast<long>((i * 7 + static_cast<size_t>(rank) * 13) % 11);
      return u ? static_cast<double>(v) : static_cast<double>(v - 5);
    }
    default:
      return 0;
  }
}

void fillInput(void* buf, size_t count, shoalDataType_t t, shoalRedOp_t op, int rank) {
  size_t head = count < kPeriod ? count : kPeriod;
  for (size_t i = 0; i < head; ++i) store(buf, i, t, inputValue(t, op, rank, i));
  tile(buf, count, dtypeSize(t));
}

void fillExpected(void* buf, size_t count, shoalDataType_t t, shoalRedOp_t op, int nranks) {
  size_t head = count < kPeriod ? count : kPeriod;
  for (size_t i = 0; i < head; ++i) {
    double acc = inputValue(t, op, 0, i);
    for (int r = 1; r < nranks; ++r) {
      double v = inputValue(t, op, r, i);
      switch (op) {
        case shoalSum:
        case shoalAvg:
          acc += v;
          break;
        case shoalProd:
          acc *= v;
          break;
        case shoalMax:
          acc = v > acc ? v : acc;
          break;
        case shoalMin:
          acc = v < acc ? v : acc;
          break;
        default:
          break;
      }
    }
    if (op == shoalAvg) {
      if (isFloat(t)) {
        // The exact sum, rounded to the type, divided in the type's compute
        // precision (float32 for the 16-bit types), rounded once more.
        if (t == shoalFloat64) {
          acc = acc / nranks;
        } else {
          acc = static_cast<double>(static_cast<float>(acc) / static_cast<float>(nranks));
        }
      } else {
        acc = std::trunc(acc / nranks);  // C integer division truncates toward zero
      }
    }
    store(buf, i, t, acc);
  }
  tile(buf, count, dtypeSize(t));
}

std::string compare(const void* got, const void* want, size_t count, shoalDataType_t t) {
  const size_t es = dtypeSize(t);
  size_t bad = 0;
  std::ostringstream os;
  for (size_t i = 0; i < count; ++i) {
    if (memcmp(static_cast<const char*>(got) + i * es, static_cast<const char*>(want) + i * es,
               es) != 0) {
      if (bad < 5)
        os << " [" << i << "] got " << load(got, i, t) << " want " << load(want, i, t) << ";";
      ++bad;
    }
  }
  if (bad == 0) return "";
  return std::to_string(bad) + " of " + std::to_string(count) + " elements wrong:" + os.str();
}

}  // namespace shoal::test
