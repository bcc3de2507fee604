// Deterministic test inputs whose reductions are exact in every datatype, and
// the expected result computed independently on each rank.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "shoal/shoal.h"

namespace shoal::test {

// Value contributed by `rank` at element i for this op (small integers).
double inputValue(shoalDataType_t t, shoalRedOp_t op, int rank, size_t i);
// Fills buf with rank's input.
void fillInput(void* buf, size_t count, shoalDataType_t t, shoalRedOp_t op, int rank);
// Expected allreduce result over nranks at element i, stored in dtype form.
void fillExpected(void* buf, size_t count, shoalDataType_t t, shoalRedOp_t op, int nranks);
// Compares element by element (bitwise); returns "" or a description of the
// first mismatches.
std::string compare(const void* got, const void* want, size_t count, shoalDataType_t t);

size_t typeSize(shoalDataType_t t);
std::vector<shoalDataType_t> allTypes();
std::vector<shoalRedOp_t> allOps();

}  // namespace shoal::test
