// The parameter server's update rules on the GPU, for servers that keep their
// partitions in device memory (SHOAL_PS_SERVER_DEVICE=cuda). Bit-for-bit the
// CPU rules of ps/optimizer.cc: sum adds as core/reduce.h does for every
// dtype (16-bit floats widened, added in float32, rounded once to nearest
// even); sgd and momentum evaluate the CPU's expressions in the CPU's order
// with every multiply and add rounded on its own (no fused multiply-add).
// Pointers may be device memory or host memory mapped for the GPU
// (hostRegister/pinnedAlloc): a push is read straight from its receive slot.
#pragma once

#include <cstddef>

#include "cuda/cuda_api.h"
#include "shoal/ps.h"
#include "shoal/shoal.h"

namespace shoal::cuda {

// Applies gradient g to count elements of value (and state, momentum only),
// as ps::applyUpdate does on the CPU; replace: the sum rule assigns g (a sync
// round's result) instead of adding it. Enqueued on stream.
void psUpdateAsync(shoalPsUpdate_t kind, bool replace, void* value, const void* g, void* state,
                   size_t count, shoalDataType_t dtype, double learningRate, double momentum,
                   Stream stream);

}  // namespace shoal::cuda
