// Sizes and names of shoal.h's data types and reduction operators (the
// names are nccl-tests' spellings), header only: the library and the tools
// that do not link it (the perf baselines) share one table.
#pragma once

#include <cstddef>

#include "shoal/shoal.h"

namespace shoal {

constexpr size_t dtypeSize(shoalDataType_t t) {
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

constexpr const char* dtypeName(shoalDataType_t t) {
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

constexpr const char* opName(shoalRedOp_t op) {
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

}  // namespace shoal
