// Google Benchmark of the GPU reduction kernel (shoal::cuda::reduceAsync,
// dst = a + b in device memory) next to a device-to-device copy
// (shoal::cuda::copyAsync) of the same size, measured in the same run.
//
// A reduction streams three buffers (two reads, one write) where a copy
// streams two, so GB/s counts memory traffic: 3 x bytes per reduction,
// 2 x bytes per copy. fraction = reduction GB/s / copy GB/s; 1.0 means the
// kernel moves bytes as fast as the copy engine path does, which is as fast as
// this GPU's memory allows. Each timed iteration enqueues a batch of calls on
// one stream and waits for them (wall clock, manual time), so small sizes
// measure launch rate as much as memory.
//
// Without a GPU it prints why and exits 0.
#include <benchmark/benchmark.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <map>
#include <string>

#include "core/deadline.h"
#include "core/reduce.h"
#include "cuda/cuda_api.h"
#include "cuda/reduce_kernels.h"

namespace {

using WallClock = std::chrono::steady_clock;

// Calls per timed iteration: about 256 MiB of each buffer, 1 to 64 calls.
size_t batchFor(size_t bytes) { return std::clamp<size_t>((size_t{256} << 20) / bytes, 1, 64); }

struct DeviceBuffer {
  explicit DeviceBuffer(size_t bytes) : p(shoal::cuda::deviceAlloc(bytes)) {}
  ~DeviceBuffer() { shoal::cuda::deviceFree(p); }
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;
  void* p;
};

struct StreamHolder {
  StreamHolder() : s(shoal::cuda::createStream()) {}
  ~StreamHolder() { shoal::cuda::destroyStream(s); }
  StreamHolder(const StreamHolder&) = delete;
  StreamHolder& operator=(const StreamHolder&) = delete;
  shoal::cuda::Stream s;
};

void sync(shoal::cuda::Stream s) {
  shoal::cuda::streamSync(s, shoal::Deadline::after(120), "cuda_reduce_bench");
}

// Seconds for `calls` enqueued back to back and waited for.
template <class Enqueue>
double timeBatch(shoal::cuda::Stream s, size_t calls, Enqueue enqueue) {
  const auto start = WallClock::now();
  for (size_t i = 0; i < calls; ++i) enqueue();
  sync(s);
  return std::chrono::duration<double>(WallClock::now() - start).count();
}

// Copy traffic (read + write) in bytes per second at this size, measured once
// per size the same way the reductions are: at least 0.3 s of batches after
// one warm-up batch, total bytes over total time.
double copyTrafficRate(size_t bytes) {
  static std::map<size_t, double> cache;
  auto it = cache.find(bytes);
  if (it != cache.end()) return it->second;
  DeviceBuffer src(bytes), dst(bytes);
  StreamHolder stream;
  shoal::cuda::memsetAsync(src.p, 0x3c, bytes, stream.s);
  const size_t calls = batchFor(bytes);
  auto enqueue = [&] { shoal::cuda::copyAsync(dst.p, src.p, bytes, stream.s); };
  timeBatch(stream.s, calls, enqueue);
  double seconds = 0;
  size_t total = 0;
  while (seconds < 0.3) {
    seconds += timeBatch(stream.s, calls, enqueue);
    total += calls;
  }
  const double rate = 2.0 * static_cast<double>(bytes) * static_cast<double>(total) / seconds;
  cache[bytes] = rate;
  return rate;
}

void BM_CopyD2D(benchmark::State& state) {
  const size_t bytes = static_cast<size_t>(state.range(0));
  DeviceBuffer src(bytes), dst(bytes);
  StreamHolder stream;
  shoal::cuda::memsetAsync(src.p, 0x3c, bytes, stream.s);
  sync(stream.s);
  const size_t calls = batchFor(bytes);
  double seconds = 0;
  size_t total = 0;
  for (auto _ : state) {
    const double t =
        timeBatch(stream.s, calls, [&] { shoal::cuda::copyAsync(dst.p, src.p, bytes, stream.s); });
    state.SetIterationTime(t);
    seconds += t;
    total += calls;
  }
  state.counters["calls"] = static_cast<double>(calls);
  state.counters["GB/s"] =
      2.0 * static_cast<double>(bytes) * static_cast<double>(total) / seconds / 1e9;
}

template <shoalDataType_t T>
void BM_ReduceSum(benchmark::State& state) {
  const size_t bytes = static_cast<size_t>(state.range(0));
  const size_t count = bytes / shoal::dtypeSize(T);
  const double copyRate = copyTrafficRate(bytes);
  DeviceBuffer a(bytes), b(bytes), dst(bytes);
  StreamHolder stream;
  // 0x3c bytes are small normal numbers in every float type (no NaN, no
  // denormals, no overflow when added), and valid integers.
  shoal::cuda::memsetAsync(a.p, 0x3c, bytes, stream.s);
  shoal::cuda::memsetAsync(b.p, 0x3c, bytes, stream.s);
  sync(stream.s);
  const size_t calls = batchFor(bytes);
  double seconds = 0;
  size_t total = 0;
  for (auto _ : state) {
    const double t = timeBatch(stream.s, calls, [&] {
      shoal::cuda::reduceAsync(dst.p, a.p, b.p, count, T, shoalSum, stream.s);
    });
    state.SetIterationTime(t);
    seconds += t;
    total += calls;
  }
  const double rate = 3.0 * static_cast<double>(bytes) * static_cast<double>(total) / seconds;
  state.counters["calls"] = static_cast<double>(calls);
  state.counters["GB/s"] = rate / 1e9;
  state.counters["copy_GB/s"] = copyRate / 1e9;
  state.counters["fraction"] = rate / copyRate;
  state.SetLabel(shoal::dtypeName(T));
}

// 1 MiB and 4 MiB per buffer fit the H100's 50 MB L2 even three at a time;
// from 64 MiB every stream comes from HBM.
void sizes(benchmark::internal::Benchmark* b) {
  for (int64_t mib = 1; mib <= 1024; mib *= 4) b->Arg(mib << 20);
  b->UseManualTime()->Unit(benchmark::kMicrosecond);
}

BENCHMARK(BM_CopyD2D)->Apply(sizes);
BENCHMARK(BM_ReduceSum<shoalFloat32>)->Apply(sizes);
BENCHMARK(BM_ReduceSum<shoalFloat16>)->Apply(sizes);
BENCHMARK(BM_ReduceSum<shoalBfloat16>)->Apply(sizes);
BENCHMARK(BM_ReduceSum<shoalInt32>)->Apply(sizes);
BENCHMARK(BM_ReduceSum<shoalFloat64>)->Apply(sizes);

}  // namespace

int main(int argc, char** argv) {
  std::string why;
  if (!shoal::cuda::available(&why)) {
    printf("cuda_reduce_bench: skipped, %s\n", why.c_str());
    return 0;
  }
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
