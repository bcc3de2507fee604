// Element-wise reductions on the GPU, bit-for-bit the results of the CPU
// kernels in core/reduce.h for every dtype and op (half and bfloat16 widened
// to float, combined, rounded once to nearest even; integer averages truncate).
// Pointers may be device memory or host memory mapped for the GPU
// (hostRegister/pinnedAlloc); work is enqueued on `stream`.
#pragma once

#include <cstddef>

#include "cuda/cuda_api.h"
#include "shoal/shoal.h"

namespace shoal::cuda {

// dst[i] = a[i] (op) b[i]; dst may alias a or b. Avg reduces as Sum.
void reduceAsync(void* dst, const void* a, const void* b, size_t count, shoalDataType_t dtype,
                 shoalRedOp_t op, Stream stream);
// buf[i] /= n: shoalAvg's last step (core/reduce.h finalizeAvg).
void divideAsync(void* buf, size_t count, shoalDataType_t dtype, int n, Stream stream);

}  // namespace shoal::cuda
