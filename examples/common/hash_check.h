// --check's comparison of the parameters across ranks, by hash
// (hashParameters), shared by train_allreduce (every rank holds parameters)
// and train_ps (only the workers do). Both functions are collective: every
// rank calls them, a rank without parameters passing nothing.
#pragma once

#include <cstddef>
#include <cstdint>

#include "common/shoal_comm.h"

namespace train {

// Whether every holder passed the same value (max == min over the holders;
// value is null on the others). alsoMax, when given, is max-reduced over all
// ranks in the same call: a verdict carried to everyone at no extra cost.
bool sameOnHolders(Comm& comm, const uint64_t* value, const char* what,
                   uint64_t* alsoMax = nullptr);

// After sameOnHolders said no: gathers every rank's hash and, on rank 0,
// prints "<program>: check failed at step <step>: the parameters on <holder>
// r differ from <holder> 0's (...)" for each of ranks 1..holders-1 that does.
void reportDifferingHashes(Comm& comm, uint64_t hash, int holders, const char* holder, size_t step,
                           const char* program);

}  // namespace train
