// Element types and reduction operators as the benchmarks name them. The
// vocabulary is shoal.h's enums, and the sizes and names are the library's
// own (core/dtype_names.h); both are header only, so the MPI and Gloo
// baselines share them without linking shoal.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "shoal/shoal.h"

namespace perf {

size_t typeSize(shoalDataType_t t);
// nccl-tests spellings: int8, uint8, int32, uint32, int64, uint64, half, float,
// double, bfloat16.
const char* typeName(shoalDataType_t t);
const char* opName(shoalRedOp_t op);
bool isFloating(shoalDataType_t t);

// "all" expands to every type (op); false when the name is unknown.
bool parseTypes(const std::string& name, std::vector<shoalDataType_t>* out);
bool parseOps(const std::string& name, std::vector<shoalRedOp_t>* out);

// Element i of buf as a double, and the reverse (rounding to nearest even for
// half and bfloat16, truncating toward zero for integers).
double loadElement(const void* buf, size_t i, shoalDataType_t t);
void storeElement(void* buf, size_t i, shoalDataType_t t, double v);

float halfBitsToFloat(uint16_t h);
uint16_t floatToHalfBits(float f);
float bf16BitsToFloat(uint16_t b);
uint16_t floatToBf16Bits(float f);

// buf[i] /= n with shoal's documented avg semantics (integers truncate;
// half/bfloat16 divide in float32 and round once). Baselines whose library has
// no average call this after a sum.
void divideInPlace(void* buf, size_t count, shoalDataType_t t, int n);

}  // namespace perf
