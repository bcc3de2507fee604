// reduce_kernels.h on the GPU. One small grid-stride kernel template,
// instantiated once per dtype x op (and once per dtype for the average's
// division), so the file compiles in seconds. Each thread moves 16 bytes of
// every stream per step when the pointers allow it; everything else goes
// element by element in the same launch.
//
// Bitwise equality with core/reduce.cc decides every detail below: the ops
// are the CPU's own expressions (a > b ? a : b keeps b when either is NaN,
// and keeps -0 against +0 the same way), 16-bit floats are widened exactly,
// combined in float32 and rounded once to nearest even, and nothing here may
// be built with fast-math (IEEE division, no flush to zero, no contraction
// matters since no op multiplies and adds).
#include <cuda_runtime.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cstdint>
#include <type_traits>

#include "core/error.h"
#include "core/reduce.h"
#include "cuda/reduce_kernels.h"

namespace shoal::cuda {
namespace {

constexpr int kThreads = 256;
constexpr size_t kVecBytes = 16;

// ---- storage types and the float32 they are combined in

// Widening in the FP32 pipe rather than the conversion unit, which is the
// narrower one and would otherwise bound the 16-bit kernels: exponent and
// mantissa move into float32's fields, and one exact multiplication by 2^112
// rebias normal and subnormal values alike (no flush to zero in this build).
// Infinities and NaNs keep their payload, as core/reduce.cc's widening does.
__device__ __forceinline__ float halfToFloat(uint16_t h) {
  const uint32_t bits = static_cast<uint32_t>(h & 0x7fffu) << 13;
  uint32_t x = __float_as_uint(__uint_as_float(bits) * 0x1p112f);
  if ((h & 0x7c00u) == 0x7c00u) x = bits | 0x7f800000u;
  return __uint_as_float(x | static_cast<uint32_t>(h & 0x8000u) << 16);
}

__device__ __forceinline__ bool isNanBits(uint32_t x) { return (x & 0x7fffffffu) > 0x7f800000u; }
// Any NaN becomes the quiet NaN of its sign, as core/reduce.cc writes it.
__device__ __forceinline__ uint32_t halfNan(uint32_t x) { return (x >> 16 & 0x8000u) | 0x7e00u; }

__device__ __forceinline__ uint16_t floatToHalf(float f) {
  const uint32_t x = __float_as_uint(f);
  if (isNanBits(x)) return static_cast<uint16_t>(halfNan(x));
  uint16_t h;
  asm("cvt.rn.f16.f32 %0, %1;" : "=h"(h) : "f"(f));  // IEEE round to nearest even
  return h;
}

// Two at once (lo in the low half): one conversion instruction for both.
__device__ __forceinline__ uint32_t floatsToHalves(float lo, float hi) {
#if __CUDA_ARCH__ >= 800
  uint32_t r;
  asm("cvt.rn.f16x2.f32 %0, %1, %2;" : "=r"(r) : "f"(hi), "f"(lo));
  if (isNanBits(__float_as_uint(lo))) r = (r & 0xffff0000u) | halfNan(__float_as_uint(lo));
  if (isNanBits(__float_as_uint(hi))) r = (r & 0xffffu) | halfNan(__float_as_uint(hi)) << 16;
  return r;
#else
  return floatToHalf(lo) | static_cast<uint32_t>(floatToHalf(hi)) << 16;
#endif
}

__device__ __forceinline__ float bf16ToFloat(uint16_t b) {
  return __uint_as_float(static_cast<uint32_t>(b) << 16);
}

__device__ __forceinline__ uint16_t floatToBf16(float f) {
  const uint32_t x = __float_as_uint(f);
  if ((x & 0x7fffffffu) > 0x7f800000u) return static_cast<uint16_t>((x >> 16) | 0x40u);
  return static_cast<uint16_t>((x + 0x7fffu + ((x >> 16) & 1u)) >> 16);
}

// kPairs: store two results at a time through storePair.
template <class T>
struct Plain {
  using Store = T;
  using Math = T;
  static constexpr bool kPairs = false;
  static __device__ __forceinline__ Math load(Store s) { return s; }
  static __device__ __forceinline__ Store store(Math m) { return m; }
};
struct Half {
  using Store = uint16_t;
  using Math = float;
  static constexpr bool kPairs = true;
  static __device__ __forceinline__ Math load(Store s) { return halfToFloat(s); }
  static __device__ __forceinline__ Store store(Math m) { return floatToHalf(m); }
  static __device__ __forceinline__ uint32_t storePair(Math lo, Math hi) {
    return floatsToHalves(lo, hi);
  }
};
struct Bf16 {
  using Store = uint16_t;
  using Math = float;
  static constexpr bool kPairs = false;
  static __device__ __forceinline__ Math load(Store s) { return bf16ToFloat(s); }
  static __device__ __forceinline__ Store store(Math m) { return floatToBf16(m); }
};

// ---- the ops. Integers wrap (computed unsigned, which is what the CPU's
// hardware does with its signed overflow, without the undefined behaviour).

template <class T, bool = std::is_integral_v<T>>
struct WideOf {
  using type = T;
};
template <class T>
struct WideOf<T, true> {
  using type = std::make_unsigned_t<T>;
};
template <class T>
using Wide = typename WideOf<T>::type;

struct Sum {
  static constexpr bool kBinary = true;
  template <class T>
  __device__ __forceinline__ T operator()(T a, T b) const {
    return static_cast<T>(static_cast<Wide<T>>(a) + static_cast<Wide<T>>(b));
  }
};
struct Prod {
  static constexpr bool kBinary = true;
  template <class T>
  __device__ __forceinline__ T operator()(T a, T b) const {
    return static_cast<T>(static_cast<Wide<T>>(a) * static_cast<Wide<T>>(b));
  }
};
struct Max {
  static constexpr bool kBinary = true;
  template <class T>
  __device__ __forceinline__ T operator()(T a, T b) const {
    return a > b ? a : b;
  }
};
struct Min {
  static constexpr bool kBinary = true;
  template <class T>
  __device__ __forceinline__ T operator()(T a, T b) const {
    return a < b ? a : b;
  }
};
// finalizeAvg: integers truncate, floats divide in their own (or float32's)
// precision and round once.
struct Divide {
  static constexpr bool kBinary = false;
  int n;
  template <class T>
  __device__ __forceinline__ T operator()(T a, T) const {
    return static_cast<T>(a / static_cast<T>(n));
  }
};

// ---- the kernel

template <class Tr, class F>
__global__ void __launch_bounds__(kThreads)
    mapKernel(typename Tr::Store* dst, const typename Tr::Store* a, const typename Tr::Store* b,
              size_t count, size_t head, size_t nvec, F f) {
  using S = typename Tr::Store;
  constexpr size_t kLanes = kVecBytes / sizeof(S);
  union Vec {
    uint4 raw;
    S e[kLanes];
    uint32_t w[4];
  };
  const size_t stride = static_cast<size_t>(gridDim.x) * blockDim.x;
  const size_t tid = static_cast<size_t>(blockIdx.x) * blockDim.x + threadIdx.x;

  // [head, head + nvec * kLanes) is 16-byte aligned in all three buffers.
  const uint4* va = reinterpret_cast<const uint4*>(a + head);
  const uint4* vb = reinterpret_cast<const uint4*>(b + head);
  uint4* vd = reinterpret_cast<uint4*>(dst + head);
  for (size_t v = tid; v < nvec; v += stride) {
    Vec x, y;
    x.raw = va[v];
    if constexpr (F::kBinary) y.raw = vb[v];
    typename Tr::Math r[kLanes];
#pragma unroll
    for (size_t k = 0; k < kLanes; ++k) {
      typename Tr::Math yk{};
      if constexpr (F::kBinary) yk = Tr::load(y.e[k]);
      r[k] = f(Tr::load(x.e[k]), yk);
    }
    if constexpr (Tr::kPairs) {
#pragma unroll
      for (size_t k = 0; k < 4; ++k) x.w[k] = Tr::storePair(r[2 * k], r[2 * k + 1]);
    } else {
#pragma unroll
      for (size_t k = 0; k < kLanes; ++k) x.e[k] = Tr::store(r[k]);
    }
    vd[v] = x.raw;
  }

  // The elements before the first aligned vector and after the last one.
  const size_t vecEnd = head + nvec * kLanes;
  const size_t scalars = head + (count - vecEnd);
  for (size_t i = tid; i < scalars; i += stride) {
    const size_t j = i < head ? i : vecEnd + (i - head);
    typename Tr::Math y{};
    if constexpr (F::kBinary) y = Tr::load(b[j]);
    dst[j] = Tr::store(f(Tr::load(a[j]), y));
  }
}

// As many blocks as can be resident at once (a grid-stride loop does the
// rest): a grid-stride kernel with a second, partial wave would leave that
// wave's SMs to a fraction of the blocks. Asked per kernel, since register
// use differs between instantiations, and per device.
template <class Tr, class F>
unsigned residentBlocks() {
  static std::array<std::atomic<unsigned>, 64> perDevice{};
  int device = 0;
  cudaError_t e = cudaGetDevice(&device);
  if (e != cudaSuccess) {
    fail(shoalUnhandledCudaError, "GPU reduction: cudaGetDevice failed: %s", cudaGetErrorString(e));
  }
  std::atomic<unsigned>* slot =
      device >= 0 && device < static_cast<int>(perDevice.size()) ? &perDevice[device] : nullptr;
  unsigned blocks = slot ? slot->load(std::memory_order_relaxed) : 0;
  if (blocks == 0) {
    int sms = 0, perSm = 0;
    e = cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, device);
    if (e == cudaSuccess) {
      e = cudaOccupancyMaxActiveBlocksPerMultiprocessor(&perSm, mapKernel<Tr, F>, kThreads, 0);
    }
    if (e != cudaSuccess) {
      fail(shoalUnhandledCudaError, "GPU reduction: occupancy query on device %d failed: %s",
           device, cudaGetErrorString(e));
    }
    blocks = static_cast<unsigned>(std::max(1, sms) * std::max(1, perSm));
    if (slot) slot->store(blocks, std::memory_order_relaxed);
  }
  return blocks;
}

template <class Tr, class F>
void launch(void* dst, const void* a, const void* b, size_t count, F f, Stream stream,
            shoalDataType_t dtype, const char* what) {
  if (count == 0) return;
  using S = typename Tr::Store;
  constexpr size_t kLanes = kVecBytes / sizeof(S);
  // 16-byte steps need all buffers at the same offset within 16 bytes (then
  // a scalar head reaches the boundary); otherwise every element goes alone.
  const uintptr_t mis = reinterpret_cast<uintptr_t>(dst) % kVecBytes;
  const bool vectorizable = reinterpret_cast<uintptr_t>(a) % kVecBytes == mis &&
                            (!F::kBinary || reinterpret_cast<uintptr_t>(b) % kVecBytes == mis) &&
                            mis % sizeof(S) == 0;
  size_t head = 0, nvec = 0;
  if (vectorizable) {
    head = std::min(count, (kVecBytes - mis) % kVecBytes / sizeof(S));
    nvec = (count - head) / kLanes;
  }
  const size_t items = nvec + (count - nvec * kLanes);
  const size_t blocks =
      std::min<size_t>((items + kThreads - 1) / kThreads, residentBlocks<Tr, F>());
  mapKernel<Tr, F>
      <<<static_cast<unsigned>(blocks), kThreads, 0, static_cast<cudaStream_t>(stream)>>>(
          static_cast<S*>(dst), static_cast<const S*>(a), static_cast<const S*>(b), count, head,
          nvec, f);
  const cudaError_t e = cudaGetLastError();
  if (e != cudaSuccess) {
    fail(shoalUnhandledCudaError, "%s of %zu %s elements: kernel launch failed: %s (%s)", what,
         count, dtypeName(dtype), cudaGetErrorString(e), cudaGetErrorName(e));
  }
}

template <class F>
void byType(void* dst, const void* a, const void* b, size_t count, shoalDataType_t dtype, F f,
            Stream s, const char* what) {
  switch (dtype) {
    case shoalInt8:
      return launch<Plain<int8_t>>(dst, a, b, count, f, s, dtype, what);
    case shoalUint8:
      return launch<Plain<uint8_t>>(dst, a, b, count, f, s, dtype, what);
    case shoalInt32:
      return launch<Plain<int32_t>>(dst, a, b, count, f, s, dtype, what);
    case shoalUint32:
      return launch<Plain<uint32_t>>(dst, a, b, count, f, s, dtype, what);
    case shoalInt64:
      return launch<Plain<int64_t>>(dst, a, b, count, f, s, dtype, what);
    case shoalUint64:
      return launch<Plain<uint64_t>>(dst, a, b, count, f, s, dtype, what);
    case shoalFloat16:
      return launch<Half>(dst, a, b, count, f, s, dtype, what);
    case shoalFloat32:
      return launch<Plain<float>>(dst, a, b, count, f, s, dtype, what);
    case shoalFloat64:
      return launch<Plain<double>>(dst, a, b, count, f, s, dtype, what);
    case shoalBfloat16:
      return launch<Bf16>(dst, a, b, count, f, s, dtype, what);
    default:
      fail(shoalInvalidArgument, "%s: invalid data type %d", what, static_cast<int>(dtype));
  }
}

}  // namespace

void reduceAsync(void* dst, const void* a, const void* b, size_t count, shoalDataType_t dtype,
                 shoalRedOp_t op, Stream stream) {
  switch (op) {
    case shoalSum:
    case shoalAvg:
      return byType(dst, a, b, count, dtype, Sum{}, stream, "GPU sum");
    case shoalProd:
      return byType(dst, a, b, count, dtype, Prod{}, stream, "GPU prod");
    case shoalMax:
      return byType(dst, a, b, count, dtype, Max{}, stream, "GPU max");
    case shoalMin:
      return byType(dst, a, b, count, dtype, Min{}, stream, "GPU min");
    default:
      fail(shoalInvalidArgument, "GPU reduction: invalid op %d", static_cast<int>(op));
  }
}

void divideAsync(void* buf, size_t count, shoalDataType_t dtype, int n, Stream stream) {
  if (n <= 0) fail(shoalInvalidArgument, "GPU average: cannot divide by %d ranks", n);
  byType(buf, buf, nullptr, count, dtype, Divide{n}, stream, "GPU average");
}

}  // namespace shoal::cuda
