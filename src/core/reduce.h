// Element-wise reduction kernels for every shoalDataType_t x shoalRedOp_t.
// Written as loops the compiler vectorizes, compiled for the baseline of the
// target and, on x86-64 only, for AVX2 (+F16C), the 16-bit types also for
// AVX-512, picked at run time by the CPU's features; all give bit-identical
// results. float16 and bfloat16 are widened
// to float32, combined, and rounded once (round to nearest even).
#pragma once

#include <cstddef>
#include <cstdint>

#include "core/dtype_names.h"  // dtypeSize, dtypeName, opName
#include "shoal/shoal.h"

namespace shoal {

inline bool validDtype(int t) { return t >= 0 && t < shoalNumTypes; }
inline bool validOp(int op) { return op >= 0 && op < shoalNumOps; }

// dst[i] = a[i] (op) b[i]. dst may alias a or b. Avg reduces as Sum; the
// division happens once at the end (finalizeAvg).
void reduce(void* dst, const void* a, const void* b, size_t count, shoalDataType_t t,
            shoalRedOp_t op);
// The kernels of one instruction set, whatever the CPU check would pick, so
// that tests can compare them; a set reduceIsaAvailable denies (off x86-64,
// every one but kPortable) runs the portable loops instead.
// kAvx512: AVX2 with the 16-bit types in AVX-512. The streaming variants write
// dst with non-temporal stores, which reduce() uses for large buffers that do
// not overlap.
enum class ReduceIsa { kPortable, kAvx2, kAvx2Streaming, kAvx512, kAvx512Streaming };
bool reduceIsaAvailable(ReduceIsa isa);
void reduceWithIsa(ReduceIsa isa, void* dst, const void* a, const void* b, size_t count,
                   shoalDataType_t t, shoalRedOp_t op);

// buf[i] /= n (integers: truncating division; floats: multiply by nothing,
// divide in float32/float64 and round once).
void finalizeAvg(void* buf, size_t count, shoalDataType_t t, int n);

// Conversions used by kernels, tests and examples.
float halfToFloat(uint16_t h);
uint16_t floatToHalf(float f);
float bf16ToFloat(uint16_t b);
uint16_t floatToBf16(float f);

}  // namespace shoal
