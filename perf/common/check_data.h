// Input patterns whose reductions are exact in every type, the expected
// results, and the comparison that counts wrong elements.
//
// Element `index` of rank `rank` depends on (index, rank, seed). The seed
// changes on every check, so a result left over from an earlier size or
// placement cannot pass for a fresh one.
#pragma once

#include <cstddef>

#include "shoal/shoal.h"

namespace perf {

struct Pattern {
  shoalDataType_t type;
  shoalRedOp_t op;
  int nranks;
  unsigned seed;
};

// The value `rank` contributes at global element index `index`.
double inputValue(const Pattern& p, int rank, size_t index);
// op over all ranks of inputValue at `index` (avg divided as shoal documents).
double reducedValue(const Pattern& p, size_t index);

// buf[i] = inputValue(p, rank, firstIndex + i) for i < count.
void fillInput(void* buf, size_t count, const Pattern& p, int rank, size_t firstIndex);
// buf[i] = reducedValue(p, firstIndex + i).
void fillReduced(void* buf, size_t count, const Pattern& p, size_t firstIndex);

// Bytes no correct result can equal (every pattern value is non-negative and
// below the type's maximum); receive buffers get them before a check.
void poison(void* buf, size_t bytes);

// Number of elements of got that differ from expected. Exact comparison,
// except that a floating-point average may differ by 2 units in the last place
// (dividing in a different precision, or pre-scaling, is legitimate).
size_t countWrong(const void* got, const void* expected, size_t count, shoalDataType_t t,
                  shoalRedOp_t op);

}  // namespace perf
