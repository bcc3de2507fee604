// ps_optimizer_kernels.h on the GPU: one element per thread of a grid-stride
// loop. Equality with ps/optimizer.cc decides the details: every product and
// sum goes through an explicitly rounded intrinsic (__fmul_rn, __fadd_rn, ...)
// so nvcc cannot contract them into a fused multiply-add the CPU build never
// uses, and 16-bit floats convert with the same integer rules as
// core/reduce.cc (NaN payloads included).
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdint>
#include <type_traits>

#include "core/error.h"
#include "core/reduce.h"
#include "cuda/ps_optimizer_kernels.h"

namespace shoal::cuda {
namespace {

constexpr int kThreads = 256;
constexpr size_t kMaxBlocks = 8192;

__device__ __forceinline__ float halfBitsToFloat(uint16_t h) {
  uint32_t sign = static_cast<uint32_t>(h & 0x8000u) << 16;
  uint32_t exp = (h >> 10) & 0x1fu;
  uint32_t man = h & 0x3ffu;
  uint32_t bits;
  if (exp == 0) {
    if (man == 0) {
      bits = sign;
    } else {
      // Subnormal half: shift the mantissa up until its leading one shows.
      int shifts = 0;
      while ((man & 0x400u) == 0) {
        man <<= 1;
        ++shifts;
      }
      bits = sign | static_cast<uint32_t>(127 - 15 - shifts + 1) << 23 | (man & 0x3ffu) << 13;
    }
  } else if (exp == 0x1f) {
    bits = sign | 0x7f800000u | man << 13;
  } else {
    bits = sign | (exp + 127 - 15) << 23 | man << 13;
  }
  return __uint_as_float(bits);
}

__device__ __forceinline__ uint16_t floatToHalfBits(float f) {
  uint32_t x = __float_as_uint(f);
  uint32_t sign = (x >> 16) & 0x8000u;
  uint32_t absx = x & 0x7fffffffu;
  if (absx >= 0x7f800000u) {
    return static_cast<uint16_t>(sign | 0x7c00u | (absx > 0x7f800000u ? 0x200u : 0u));
  }
  if (absx >= 0x477ff000u) return static_cast<uint16_t>(sign | 0x7c00u);
  if (absx < 0x38800000u) {
    if (absx < 0x33000000u) return static_cast<uint16_t>(sign);
    uint32_t man = (absx & 0x7fffffu) | 0x800000u;
    int shift = 126 - static_cast<int>(absx >> 23);
    uint32_t half = man >> shift;
    uint32_t rem = man & ((1u << shift) - 1);
    uint32_t mid = 1u << (shift - 1);
    if (rem > mid || (rem == mid && (half & 1u))) ++half;
    return static_cast<uint16_t>(sign | half);
  }
  uint32_t e = (absx >> 23) - 127 + 15;
  uint32_t man = absx & 0x7fffffu;
  uint32_t half = e << 10 | man >> 13;
  uint32_t rem = man & 0x1fffu;
  if (rem > 0x1000u || (rem == 0x1000u && (half & 1u))) ++half;
  return static_cast<uint16_t>(sign | half);
}

__device__ __forceinline__ float bf16BitsToFloat(uint16_t b) {
  return __uint_as_float(static_cast<uint32_t>(b) << 16);
}

__device__ __forceinline__ uint16_t floatToBf16Bits(float f) {
  uint32_t x = __float_as_uint(f);
  if ((x & 0x7fffffffu) > 0x7f800000u) return static_cast<uint16_t>((x >> 16) | 0x40u);
  return static_cast<uint16_t>((x + 0x7fffu + ((x >> 16) & 1u)) >> 16);
}

// a + b with x86's NaN results rather than the GPU's canonical NaN: a NaN
// operand comes back quieted with its sign and payload, and an invalid sum
// (inf - inf) is the x86 default NaN, negative. Only a sum of two NaNs
// differs: x86 returns whichever operand the compiler put first.
__device__ __forceinline__ float addAsX86(float a, float b) {
  if (isnan(a)) return __uint_as_float(__float_as_uint(a) | 0x00400000u);
  if (isnan(b)) return __uint_as_float(__float_as_uint(b) | 0x00400000u);
  float r = __fadd_rn(a, b);
  return isnan(r) ? __uint_as_float(0xffc00000u) : r;
}

__device__ __forceinline__ double addAsX86(double a, double b) {
  constexpr unsigned long long kQuiet = 1ull << 51;
  if (isnan(a)) return __longlong_as_double(__double_as_longlong(a) | kQuiet);
  if (isnan(b)) return __longlong_as_double(__double_as_longlong(b) | kQuiet);
  double r = __dadd_rn(a, b);
  return isnan(r) ? __longlong_as_double(static_cast<long long>(0xfff8000000000000ull)) : r;
}

// a + b as core/reduce.cc's sum computes it for each storage type. Integers
// wrap (added unsigned, the two's-complement result the CPU build produces).
template <class T>
struct IntAdd {
  using Store = T;
  static __device__ __forceinline__ T add(T a, T b) {
    using U = std::make_unsigned_t<T>;
    return static_cast<T>(static_cast<U>(static_cast<U>(a) + static_cast<U>(b)));
  }
};
struct FloatAdd {
  using Store = float;
  static __device__ __forceinline__ float add(float a, float b) { return addAsX86(a, b); }
};
struct DoubleAdd {
  using Store = double;
  static __device__ __forceinline__ double add(double a, double b) { return addAsX86(a, b); }
};
struct HalfAdd {
  using Store = uint16_t;
  static __device__ __forceinline__ uint16_t add(uint16_t a, uint16_t b) {
    return floatToHalfBits(addAsX86(halfBitsToFloat(a), halfBitsToFloat(b)));
  }
};
struct Bf16Add {
  using Store = uint16_t;
  static __device__ __forceinline__ uint16_t add(uint16_t a, uint16_t b) {
    return floatToBf16Bits(addAsX86(bf16BitsToFloat(a), bf16BitsToFloat(b)));
  }
};

template <class Op>
__global__ void __launch_bounds__(kThreads)
    sumKernel(typename Op::Store* value, const typename Op::Store* g, size_t n) {
  const size_t stride = static_cast<size_t>(gridDim.x) * blockDim.x;
  for (size_t i = static_cast<size_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += stride) {
    value[i] = Op::add(value[i], g[i]);
  }
}

// The rounded intrinsics of either precision under one name, so that one
// kernel template serves float and double values.
__device__ __forceinline__ float addRn(float a, float b) { return __fadd_rn(a, b); }
__device__ __forceinline__ double addRn(double a, double b) { return __dadd_rn(a, b); }
__device__ __forceinline__ float subRn(float a, float b) { return __fsub_rn(a, b); }
__device__ __forceinline__ double subRn(double a, double b) { return __dsub_rn(a, b); }
__device__ __forceinline__ float mulRn(float a, float b) { return __fmul_rn(a, b); }
__device__ __forceinline__ double mulRn(double a, double b) { return __dmul_rn(a, b); }

// value -= lr * g
template <class T>
__global__ void __launch_bounds__(kThreads) sgdKernel(T* value, const T* g, size_t n, T lr) {
  const size_t stride = static_cast<size_t>(gridDim.x) * blockDim.x;
  for (size_t i = static_cast<size_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += stride) {
    value[i] = subRn(value[i], mulRn(lr, g[i]));
  }
}

// m = mu * m + g; value -= lr * m
template <class T>
__global__ void __launch_bounds__(kThreads)
    momentumKernel(T* value, const T* g, T* m, size_t n, T lr, T mu) {
  const size_t stride = static_cast<size_t>(gridDim.x) * blockDim.x;
  for (size_t i = static_cast<size_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += stride) {
    T mi = addRn(mulRn(mu, m[i]), g[i]);
    m[i] = mi;
    value[i] = subRn(value[i], mulRn(lr, mi));
  }
}

unsigned blocksFor(size_t n) {
  return static_cast<unsigned>(std::min(kMaxBlocks, (n + kThreads - 1) / kThreads));
}

void checkLaunch(const char* rule, size_t count, shoalDataType_t dtype) {
  cudaError_t e = cudaGetLastError();
  if (e != cudaSuccess) {
    fail(shoalUnhandledCudaError, "ps %s update of %zu %s elements on the GPU: launch failed: %s",
         rule, count, dtypeName(dtype), cudaGetErrorString(e));
  }
}

// The sgd or momentum rule on values of type T (float or double).
template <class T>
void launchRule(shoalPsUpdate_t kind, void* value, const void* g, void* state, size_t n, T lr, T mu,
                cudaStream_t s) {
  if (kind == shoalPsUpdateSgd) {
    sgdKernel<T>
        <<<blocksFor(n), kThreads, 0, s>>>(static_cast<T*>(value), static_cast<const T*>(g), n, lr);
  } else {
    momentumKernel<T><<<blocksFor(n), kThreads, 0, s>>>(
        static_cast<T*>(value), static_cast<const T*>(g), static_cast<T*>(state), n, lr, mu);
  }
}

template <class Op>
void launchSum(void* value, const void* g, size_t n, cudaStream_t s) {
  using T = typename Op::Store;
  sumKernel<Op>
      <<<blocksFor(n), kThreads, 0, s>>>(static_cast<T*>(value), static_cast<const T*>(g), n);
}

void sum(void* value, const void* g, size_t n, shoalDataType_t dtype, cudaStream_t s) {
  switch (dtype) {
    case shoalInt8:
      return launchSum<IntAdd<int8_t>>(value, g, n, s);
    case shoalUint8:
      return launchSum<IntAdd<uint8_t>>(value, g, n, s);
    case shoalInt32:
      return launchSum<IntAdd<int32_t>>(value, g, n, s);
    case shoalUint32:
      return launchSum<IntAdd<uint32_t>>(value, g, n, s);
    case shoalInt64:
      return launchSum<IntAdd<int64_t>>(value, g, n, s);
    case shoalUint64:
      return launchSum<IntAdd<uint64_t>>(value, g, n, s);
    case shoalFloat16:
      return launchSum<HalfAdd>(value, g, n, s);
    case shoalFloat32:
      return launchSum<FloatAdd>(value, g, n, s);
    case shoalFloat64:
      return launchSum<DoubleAdd>(value, g, n, s);
    case shoalBfloat16:
      return launchSum<Bf16Add>(value, g, n, s);
    default:
      fail(shoalInvalidArgument, "ps sum update on the GPU: invalid data type %d",
           static_cast<int>(dtype));
  }
}

}  // namespace

void psUpdateAsync(shoalPsUpdate_t kind, bool replace, void* value, const void* g, void* state,
                   size_t count, shoalDataType_t dtype, double learningRate, double momentum,
                   Stream stream) {
  if (count == 0) return;
  auto s = static_cast<cudaStream_t>(stream);
  if (kind == shoalPsUpdateSum) {
    if (replace) {
      copyAsync(value, g, count * dtypeSize(dtype), stream);
      return;
    }
    sum(value, g, count, dtype, s);
    checkLaunch("sum", count, dtype);
    return;
  }
  if (dtype != shoalFloat32 && dtype != shoalFloat64) {
    fail(shoalInvalidUsage, "ps %s update on the GPU: %s values; it needs float32 or float64",
         kind == shoalPsUpdateSgd ? "sgd" : "momentum", dtypeName(dtype));
  }
  if (kind == shoalPsUpdateMomentum && state == nullptr) {
    fail(shoalInternalError, "ps momentum update on the GPU: no momentum buffer");
  }
  if (dtype == shoalFloat32) {
    // The CPU rule rounds lr and mu to float once for float32 values.
    launchRule<float>(kind, value, g, state, count, static_cast<float>(learningRate),
                      static_cast<float>(momentum), s);
  } else {
    launchRule<double>(kind, value, g, state, count, learningRate, momentum, s);
  }
  checkLaunch(kind == shoalPsUpdateSgd ? "sgd" : "momentum", count, dtype);
}

}  // namespace shoal::cuda
