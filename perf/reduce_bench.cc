// Google Benchmark micro-benchmarks of shoal::reduce, the CPU kernel that
// every host algorithm runs on each received chunk, next to memcpy in the
// same process. A reduction streams three buffers (two reads, one write) where
// memcpy streams two, so the x_memcpy counter compares memory traffic rates:
// 1.0 means the kernel moves bytes as fast as memcpy does, i.e. it is memory
// bound and as good as it can be. Two reference kernels show what a 16-bit
// float sum can reach on the same CPU.
#include <benchmark/benchmark.h>
#include <immintrin.h>
#include <time.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>

#include "core/reduce.h"

namespace {

struct Free {
  void operator()(void* p) const { free(p); }
};
using Buffer = std::unique_ptr<char, Free>;

Buffer makeBuffer(size_t bytes, int fill) {
  char* p = static_cast<char*>(aligned_alloc(4096, (bytes + 4095) / 4096 * 4096));
  if (p == nullptr) abort();
  memset(p, fill, bytes);
  return Buffer(p);
}

double threadCpuSeconds() {
  timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + 1e-9 * static_cast<double>(ts.tv_nsec);
}

// Bytes of traffic (read + write) per CPU second memcpy achieves at this size:
// best of several batches of at least 20 ms, measured once per size. CPU
// time, like the benchmarks' own rates, so that other processes on a shared
// machine bias neither side of the ratio.
double memcpyTrafficRate(size_t bytes) {
  static std::map<size_t, double> cache;
  auto it = cache.find(bytes);
  if (it != cache.end()) return it->second;
  Buffer src = makeBuffer(bytes, 1), dst = makeBuffer(bytes, 0);
  double best = 0;
  for (int batch = 0; batch < 7; ++batch) {
    size_t reps = 0;
    const double start = threadCpuSeconds();
    double elapsed = 0;
    do {
      memcpy(dst.get(), src.get(), bytes);
      benchmark::ClobberMemory();
      ++reps;
      elapsed = threadCpuSeconds() - start;
    } while (elapsed < 0.02);
    best = std::max(best, 2.0 * static_cast<double>(bytes * reps) / elapsed);
  }
  cache[bytes] = best;
  return best;
}

void BM_Memcpy(benchmark::State& state) {
  const size_t bytes = static_cast<size_t>(state.range(0));
  Buffer src = makeBuffer(bytes, 1), dst = makeBuffer(bytes, 0);
  for (auto _ : state) {
    memcpy(dst.get(), src.get(), bytes);
    benchmark::ClobberMemory();
  }
  const double n = static_cast<double>(state.iterations());
  state.SetBytesProcessed(static_cast<int64_t>(n * static_cast<double>(bytes)));
  state.counters["traffic"] =
      benchmark::Counter(2.0 * n * static_cast<double>(bytes), benchmark::Counter::kIsRate,
                         benchmark::Counter::kIs1024);
}

// dst = a + b over `bytes` of each buffer. bytes/s counts one buffer's bytes
// per call (what an algorithm reduces); traffic counts all three streams.
template <shoalDataType_t T>
void BM_ReduceSum(benchmark::State& state) {
  const size_t bytes = static_cast<size_t>(state.range(0));
  const size_t count = bytes / shoal::dtypeSize(T);
  // 0x3c bytes are small normal numbers in every float type (no denormals,
  // no overflow), and valid integers.
  Buffer a = makeBuffer(bytes, 0x3c), b = makeBuffer(bytes, 0x3c), dst = makeBuffer(bytes, 0);
  const double memcpyRate = memcpyTrafficRate(bytes);
  for (auto _ : state) {
    shoal::reduce(dst.get(), a.get(), b.get(), count, T, shoalSum);
    benchmark::ClobberMemory();
  }
  const double n = static_cast<double>(state.iterations());
  const double traffic = 3.0 * n * static_cast<double>(bytes);
  state.SetBytesProcessed(static_cast<int64_t>(n * static_cast<double>(bytes)));
  state.counters["traffic"] =
      benchmark::Counter(traffic, benchmark::Counter::kIsRate, benchmark::Counter::kIs1024);
  // Divided by the elapsed time this becomes traffic rate / memcpy's rate.
  state.counters["x_memcpy"] =
      benchmark::Counter(traffic / memcpyRate, benchmark::Counter::kIsRate);
  state.SetLabel(shoal::dtypeName(T));
}

// What a 16-bit float sum can reach on this CPU, for comparison with
// shoal::reduce: widen with F16C (half) or a shift (bfloat16), add in float32,
// round to nearest even. Reference points only; shoal does not call them.
__attribute__((target("avx2,f16c"))) void referenceHalfSum(uint16_t* dst, const uint16_t* a,
                                                           const uint16_t* b, size_t n) {
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const __m256 x = _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(a + i)));
    const __m256 y = _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(b + i)));
    _mm_storeu_si128(reinterpret_cast<__m128i*>(dst + i),
                     _mm256_cvtps_ph(_mm256_add_ps(x, y), _MM_FROUND_TO_NEAREST_INT));
  }
  for (; i < n; ++i)
    dst[i] = shoal::floatToHalf(shoal::halfToFloat(a[i]) + shoal::halfToFloat(b[i]));
}

__attribute__((target("avx2"))) void referenceBf16Sum(uint16_t* dst, const uint16_t* a,
                                                      const uint16_t* b, size_t n) {
  for (size_t i = 0; i < n; ++i) {
    const uint32_t xa = static_cast<uint32_t>(a[i]) << 16, xb = static_cast<uint32_t>(b[i]) << 16;
    float fa, fb;
    memcpy(&fa, &xa, 4);
    memcpy(&fb, &xb, 4);
    const float sum = fa + fb;
    uint32_t x;
    memcpy(&x, &sum, 4);
    // NaN inputs are not produced here, so plain round-to-nearest-even suffices.
    dst[i] = static_cast<uint16_t>((x + 0x7fffu + ((x >> 16) & 1u)) >> 16);
  }
}

template <void (*Kernel)(uint16_t*, const uint16_t*, const uint16_t*, size_t)>
void BM_Reference16(benchmark::State& state) {
  if (!__builtin_cpu_supports("avx2") ||
      (Kernel == referenceHalfSum && !__builtin_cpu_supports("f16c"))) {
    state.SkipWithError("needs AVX2 (and F16C for half)");
    return;
  }
  const size_t bytes = static_cast<size_t>(state.range(0));
  const size_t count = bytes / 2;
  Buffer a = makeBuffer(bytes, 0x3c), b = makeBuffer(bytes, 0x3c), dst = makeBuffer(bytes, 0);
  const double memcpyRate = memcpyTrafficRate(bytes);
  for (auto _ : state) {
    Kernel(reinterpret_cast<uint16_t*>(dst.get()), reinterpret_cast<const uint16_t*>(a.get()),
           reinterpret_cast<const uint16_t*>(b.get()), count);
    benchmark::ClobberMemory();
  }
  const double n = static_cast<double>(state.iterations());
  const double traffic = 3.0 * n * static_cast<double>(bytes);
  state.SetBytesProcessed(static_cast<int64_t>(n * static_cast<double>(bytes)));
  state.counters["traffic"] =
      benchmark::Counter(traffic, benchmark::Counter::kIsRate, benchmark::Counter::kIs1024);
  state.counters["x_memcpy"] =
      benchmark::Counter(traffic / memcpyRate, benchmark::Counter::kIsRate);
}

// 32 KiB fits L1, 1 MiB L2, 16 MiB the L3 of a server part, 64 MiB x 3 streams
// does not fit any cache.
void sizes(benchmark::internal::Benchmark* b) {
  for (int64_t kib : {32, 1024, 16 * 1024, 64 * 1024}) b->Arg(kib << 10);
}

BENCHMARK(BM_Memcpy)->Apply(sizes);
BENCHMARK(BM_ReduceSum<shoalFloat>)->Apply(sizes);
BENCHMARK(BM_ReduceSum<shoalHalf>)->Apply(sizes);
BENCHMARK(BM_ReduceSum<shoalBfloat16>)->Apply(sizes);
BENCHMARK(BM_ReduceSum<shoalInt32>)->Apply(sizes);
BENCHMARK(BM_ReduceSum<shoalDouble>)->Apply(sizes);
BENCHMARK(BM_Reference16<referenceHalfSum>)->Name("BM_ReferenceHalfSumF16C")->Apply(sizes);
BENCHMARK(BM_Reference16<referenceBf16Sum>)->Name("BM_ReferenceBf16Sum")->Apply(sizes);

}  // namespace

BENCHMARK_MAIN();
