// Server update rules: how an aggregated gradient changes a partition's value.
#pragma once

#include <cstddef>

#include "shoal/ps.h"
#include "shoal/shoal.h"

namespace shoal::ps {

struct UpdateRule {
  shoalPsUpdate_t kind = shoalPsUpdateSum;
  double learningRate = 0.01;
  double momentum = 0.9;
};

const char* updateName(shoalPsUpdate_t kind);
// Whether the rule works on this element type ("" if so, else why not).
const char* updateRefuses(shoalPsUpdate_t kind, shoalDataType_t dtype);
// Bytes of optimizer state per value byte: 0 or 1 (momentum keeps one buffer).
bool updateHasState(shoalPsUpdate_t kind);

// Applies gradient g to elements [begin, end) of value (and state). replace:
// the sum rule assigns g instead of adding it (a sync round's result).
void applyUpdate(const UpdateRule& rule, bool replace, void* value, const void* g, void* state,
                 size_t begin, size_t end, shoalDataType_t dtype);

}  // namespace shoal::ps
