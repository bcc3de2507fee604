// Parameter server with GPU memory: workers push from and pull into device
// buffers (staged through pinned host memory), servers keep their partitions
// in host memory or on the GPU (SHOAL_PS_SERVER_DEVICE=cuda), sync mode over
// shm with real processes. Every element of every pull is checked against
// the reference; sgd and momentum results must equal, bit for bit, what the
// CPU update rule (ps::applyUpdate, the CPU server's own code) computes, on a
// CPU server and on a GPU server alike. The update kernels are also compared
// with the CPU rule directly on values that round (every dtype for sum).
//
// All ranks share the machine's GPU(s) (device local rank % count): CUDA
// lets processes share one device. CUDA cannot be used in a child forked
// after the parent initialized it, so the parent never touches CUDA: even the
// availability probe runs in a child. Skips without a usable GPU.
#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <span>
#include <string>
#include <tuple>
#include <vector>

#include "core/reduce.h"
#include "cuda/cuda_api.h"
#include "cuda/ps_optimizer_kernels.h"
#include "ps/optimizer.h"
#include "shoal/ps.h"
#include "shoal/ps.hpp"
#include "util/multiprocess.h"
#include "util/ps_rank.h"
#include "util/ps_values.h"

namespace {

using shoal::test::psCheckRound;
using shoal::test::psGradient;
using shoal::test::psInitRank;
using shoal::test::psRoleOf;
using shoal::test::runRanks;

// A GPU for the ranks (probed in a child, see above) and shm between them.
#define SKIP_WITHOUT_GPU()           \
  do {                               \
    SHOAL_SKIP_UNLESS_CUDA();        \
    SHOAL_SKIP_UNLESS_USABLE("shm"); \
  } while (0)

// Device memory for one test buffer.
template <class T>
class DeviceVector {
 public:
  explicit DeviceVector(size_t n) : n_(n) {
    p_ = static_cast<T*>(shoal::cuda::deviceAlloc(n * sizeof(T)));
  }
  ~DeviceVector() { shoal::cuda::deviceFree(p_); }
  DeviceVector(const DeviceVector&) = delete;
  DeviceVector& operator=(const DeviceVector&) = delete;
  T* data() { return p_; }
  size_t size() const { return n_; }
  // Through pinned memory: a copy from pageable memory may return before its
  // DMA finished, and the worker's stream does not wait for the default one.
  void upload(const std::vector<T>& v) {
    void* pinned = shoal::cuda::pinnedAlloc(n_ * sizeof(T));
    memcpy(pinned, v.data(), n_ * sizeof(T));
    shoal::cuda::copy(p_, pinned, n_ * sizeof(T));
    shoal::cuda::pinnedFree(pinned);
  }
  std::vector<T> download() const {
    std::vector<T> v(n_);
    shoal::cuda::copy(v.data(), p_, n_ * sizeof(T));
    return v;
  }

 private:
  T* p_ = nullptr;
  size_t n_;
};

shoalPsOptions options(shoalPsUpdate_t update, size_t partitionBytes) {
  shoalPsOptions o{};
  o.mode = shoalPsSync;
  o.staleness = 0;
  o.update = update;
  o.learningRate = 0.01;
  o.momentum = 0.9;
  o.partitionBytes = partitionBytes;
  o.timeoutSeconds = 60;
  return o;
}

shoal::test::MultiProcessOptions processOptions(const std::string& serverDevice) {
  shoal::test::MultiProcessOptions mp;
  mp.env["SHOAL_TRANSPORT"] = "shm";
  mp.env["SHOAL_PS_SERVER_DEVICE"] = serverDevice;
  mp.timeoutSeconds = 240;
  return mp;
}

constexpr size_t kPartition = 64 * 1024;
// 3 elements; 50021 floats: four partitions, the last short; 1000 floats.
const std::vector<size_t> kCounts = {3, 50021, 1000};

// Ranks 0..W-1 workers, W..W+S-1 servers. Keys 1 and 2 live in device memory
// both ways; key 3 mixes: host gradient into a device pull on odd rounds,
// device gradient into a host pull on even ones.
void runSum(int workers, int servers, const std::string& serverDevice) {
  auto results = runRanks(
      workers + servers,
      [&](int rank, int n, const shoalUniqueId& id) {
        const bool isWorker = rank < workers;
        const shoalPsOptions opts = options(shoalPsUpdateSum, kPartition);
        shoalPs_t ps = nullptr;
        ASSERT_NO_FATAL_FAILURE(psInitRank(&ps, n, id, rank, psRoleOf(rank, workers), opts));
        if (isWorker) {
          const size_t keys = kCounts.size();
          std::vector<std::unique_ptr<DeviceVector<float>>> dGrad, dOut;
          std::vector<std::vector<float>> hGrad(keys), hOut(keys);
          for (size_t k = 0; k < keys; ++k) {
            dGrad.push_back(std::make_unique<DeviceVector<float>>(kCounts[k]));
            dOut.push_back(std::make_unique<DeviceVector<float>>(kCounts[k]));
            hGrad[k].resize(kCounts[k]);
            hOut[k].assign(kCounts[k], -1.0f);
            dOut[k]->upload(hOut[k]);
          }
          // Round 0: zeros at version 0, pulled into device memory.
          std::vector<shoalPsHandle_t> h(keys);
          for (size_t k = 0; k < keys; ++k) {
            ASSERT_EQ(shoalPsPull(ps, k + 1, dOut[k]->data(), kCounts[k], shoalFloat32, &h[k]),
                      shoalSuccess)
                << shoalPsGetLastError(ps);
          }
          for (size_t k = 0; k < keys; ++k) {
            uint64_t version = 99;
            ASSERT_EQ(shoalPsWait(ps, h[k], &version), shoalSuccess) << shoalPsGetLastError(ps);
            EXPECT_EQ(version, 0u);
            ASSERT_EQ(psCheckRound(dOut[k]->download(), workers, 0, k + 1), "");
          }
          for (int r = 1; r <= 3; ++r) {
            const bool odd = r % 2 == 1;
            for (size_t k = 0; k < keys; ++k) {
              for (size_t i = 0; i < kCounts[k]; ++i) hGrad[k][i] = psGradient(rank, r, k + 1, i);
              dGrad[k]->upload(hGrad[k]);
              std::fill(hOut[k].begin(), hOut[k].end(), -1.0f);
              dOut[k]->upload(hOut[k]);
            }
            std::vector<shoalPsHandle_t> push(keys), pull(keys);
            for (size_t k = 0; k < keys; ++k) {
              const bool mixed = k == 2;
              const void* grad = mixed && odd ? static_cast<const void*>(hGrad[k].data())
                                              : static_cast<const void*>(dGrad[k]->data());
              void* out = mixed && !odd ? static_cast<void*>(hOut[k].data())
                                        : static_cast<void*>(dOut[k]->data());
              if (odd) {
                ASSERT_EQ(shoalPsPush(ps, k + 1, grad, kCounts[k], shoalFloat32, &push[k]),
                          shoalSuccess)
                    << shoalPsGetLastError(ps);
                ASSERT_EQ(shoalPsPull(ps, k + 1, out, kCounts[k], shoalFloat32, &pull[k]),
                          shoalSuccess)
                    << shoalPsGetLastError(ps);
              } else {
                ASSERT_EQ(shoalPsPushPull(ps, k + 1, grad, out, kCounts[k], shoalFloat32, &pull[k]),
                          shoalSuccess)
                    << shoalPsGetLastError(ps);
              }
            }
            for (size_t k = 0; k < keys; ++k) {
              uint64_t version = 0;
              if (odd) {
                ASSERT_EQ(shoalPsWait(ps, push[k], &version), shoalSuccess)
                    << shoalPsGetLastError(ps);
                EXPECT_EQ(version, static_cast<uint64_t>(r));
              }
              ASSERT_EQ(shoalPsWait(ps, pull[k], &version), shoalSuccess)
                  << shoalPsGetLastError(ps);
              EXPECT_EQ(version, static_cast<uint64_t>(r));
              const bool hostOut = k == 2 && !odd;
              ASSERT_EQ(psCheckRound(hostOut ? hOut[k] : dOut[k]->download(), workers, r, k + 1),
                        "");
            }
          }
        } else {
          int index = -1, count = 0;
          ASSERT_EQ(shoalPsServerIndex(ps, &index, &count), shoalSuccess);
          EXPECT_EQ(count, servers);
        }
        ASSERT_EQ(shoalPsFinalize(ps), shoalSuccess) << shoalPsGetLastError(nullptr);
      },
      processOptions(serverDevice));
  shoal::test::expectAllRanksPassed(results);
}

using Shape = std::tuple<int, int, std::string>;  // workers, servers, server device

std::string shapeName(const testing::TestParamInfo<Shape>& info) {
  return std::to_string(std::get<0>(info.param)) + "w" + std::to_string(std::get<1>(info.param)) +
         "s_" + std::get<2>(info.param);
}

class CudaPsSync : public testing::TestWithParam<Shape> {};

TEST_P(CudaPsSync, DeviceBuffersEveryRoundIsTheExactSum) {
  SKIP_WITHOUT_GPU();
  auto [workers, servers, device] = GetParam();
  runSum(workers, servers, device);
}

INSTANTIATE_TEST_SUITE_P(Shm, CudaPsSync,
                         testing::Combine(testing::Range(1, 4), testing::Range(1, 3),
                                          testing::Values("cpu", "cuda")),
                         shapeName);

// sgd and momentum over device buffers: every pull equals, bit for bit, the
// value the CPU rule gives for the rounds so far (the gradients are small
// integers, so each round's sum is exact whatever order pushes arrive in, and
// lr/mu make every product round).
template <class T>
void runOptimizer(shoalPsUpdate_t update, const std::string& serverDevice) {
  const int workers = 2, servers = 2, rounds = 4;
  const size_t count = 40000;  // several partitions of 64 KiB
  constexpr shoalDataType_t dtype = sizeof(T) == 4 ? shoalFloat32 : shoalFloat64;
  auto results = runRanks(
      workers + servers,
      [&](int rank, int n, const shoalUniqueId& id) {
        const bool isWorker = rank < workers;
        const shoalPsOptions opts = options(update, kPartition);
        shoalPs_t ps = nullptr;
        ASSERT_NO_FATAL_FAILURE(psInitRank(&ps, n, id, rank, psRoleOf(rank, workers), opts));
        if (isWorker) {
          shoal::ps::UpdateRule rule{update, opts.learningRate, opts.momentum};
          std::vector<T> want(count, 0), state(count, 0), sum(count), grad(count);
          DeviceVector<T> dGrad(count), dOut(count);
          for (int r = 1; r <= rounds; ++r) {
            for (size_t i = 0; i < count; ++i) {
              grad[i] = static_cast<T>(psGradient(rank, r, 5, i));
              T s = 0;
              for (int w = 0; w < workers; ++w) s += static_cast<T>(psGradient(w, r, 5, i));
              sum[i] = s;
            }
            shoal::ps::applyUpdate(rule, true, want.data(), sum.data(), state.data(), 0, count,
                                   dtype);
            dGrad.upload(grad);
            shoalPsHandle_t h;
            ASSERT_EQ(shoalPsPushPull(ps, 5, dGrad.data(), dOut.data(), count, dtype, &h),
                      shoalSuccess)
                << shoalPsGetLastError(ps);
            uint64_t version = 0;
            ASSERT_EQ(shoalPsWait(ps, h, &version), shoalSuccess) << shoalPsGetLastError(ps);
            EXPECT_EQ(version, static_cast<uint64_t>(r));
            std::vector<T> got = dOut.download();
            for (size_t i = 0; i < count; ++i) {
              ASSERT_EQ(memcmp(&got[i], &want[i], sizeof(T)), 0)
                  << shoal::ps::updateName(update) << " round " << r << " element " << i << ": got "
                  << got[i] << ", the CPU rule gives " << want[i];
            }
          }
        }
        ASSERT_EQ(shoalPsFinalize(ps), shoalSuccess) << shoalPsGetLastError(nullptr);
      },
      processOptions(serverDevice));
  shoal::test::expectAllRanksPassed(results);
}

class CudaPsOptimizer : public testing::TestWithParam<std::string> {};

TEST_P(CudaPsOptimizer, SgdFloat32BitwiseAsTheCpuRule) {
  SKIP_WITHOUT_GPU();
  runOptimizer<float>(shoalPsUpdateSgd, GetParam());
}

TEST_P(CudaPsOptimizer, MomentumFloat32BitwiseAsTheCpuRule) {
  SKIP_WITHOUT_GPU();
  runOptimizer<float>(shoalPsUpdateMomentum, GetParam());
}

TEST_P(CudaPsOptimizer, MomentumFloat64BitwiseAsTheCpuRule) {
  SKIP_WITHOUT_GPU();
  runOptimizer<double>(shoalPsUpdateMomentum, GetParam());
}

INSTANTIATE_TEST_SUITE_P(Server, CudaPsOptimizer, testing::Values("cpu", "cuda"),
                         [](const testing::TestParamInfo<std::string>& i) { return i.param; });

// Async mode applies each push as it arrives (on a GPU server: the update
// kernel reads the push straight from its mapped receive slot). One worker,
// so the order of updates is known and every pull has an exact reference.
TEST_P(CudaPsOptimizer, AsyncSgdOnePushAtATimeBitwiseAsTheCpuRule) {
  SKIP_WITHOUT_GPU();
  const size_t count = 30000;
  auto results = runRanks(
      3,
      [&](int rank, int n, const shoalUniqueId& id) {
        shoalPsOptions opts = options(shoalPsUpdateSgd, kPartition);
        opts.mode = shoalPsAsync;
        shoalPs_t ps = nullptr;
        ASSERT_NO_FATAL_FAILURE(psInitRank(&ps, n, id, rank, psRoleOf(rank, 1), opts));
        if (rank == 0) {
          shoal::ps::UpdateRule rule{shoalPsUpdateSgd, opts.learningRate, opts.momentum};
          std::vector<float> want(count, 0), grad(count);
          DeviceVector<float> dGrad(count), dOut(count);
          for (int r = 1; r <= 4; ++r) {
            for (size_t i = 0; i < count; ++i) grad[i] = psGradient(0, r, 6, i);
            shoal::ps::applyUpdate(rule, false, want.data(), grad.data(), nullptr, 0, count,
                                   shoalFloat32);
            dGrad.upload(grad);
            shoalPsHandle_t h;
            ASSERT_EQ(shoalPsPushPull(ps, 6, dGrad.data(), dOut.data(), count, shoalFloat32, &h),
                      shoalSuccess)
                << shoalPsGetLastError(ps);
            uint64_t version = 0;
            ASSERT_EQ(shoalPsWait(ps, h, &version), shoalSuccess) << shoalPsGetLastError(ps);
            EXPECT_EQ(version, static_cast<uint64_t>(r));
            std::vector<float> got = dOut.download();
            for (size_t i = 0; i < count; ++i) {
              ASSERT_EQ(memcmp(&got[i], &want[i], sizeof(float)), 0)
                  << "push " << r << " element " << i << ": got " << got[i]
                  << ", the CPU rule gives " << want[i];
            }
          }
        }
        ASSERT_EQ(shoalPsFinalize(ps), shoalSuccess) << shoalPsGetLastError(nullptr);
      },
      processOptions(GetParam()));
  shoal::test::expectAllRanksPassed(results);
}

// The C++ API over device memory: spans that view GPU buffers.
TEST(CudaPsCpp, PushPullSpansOfDeviceMemory) {
  SKIP_WITHOUT_GPU();
  const int workers = 2;
  const size_t count = 20000;
  auto results = runRanks(
      workers + 1,
      [&](int rank, int n, const shoalUniqueId& raw) {
        shoalPsOptions opts = options(shoalPsUpdateSum, kPartition);
        shoal::UniqueId id(raw);
        shoal::ps::ParameterServer ps(
            id, n, rank, rank < workers ? shoal::ps::Role::Worker : shoal::ps::Role::Server, &opts);
        if (rank < workers) {
          DeviceVector<float> dGrad(count), dOut(count);
          std::vector<float> grad(count);
          for (int r = 1; r <= 2; ++r) {
            for (size_t i = 0; i < count; ++i) grad[i] = psGradient(rank, r, 11, i);
            dGrad.upload(grad);
            auto h = ps.pushPull(11, std::span<const float>(dGrad.data(), count),
                                 std::span<float>(dOut.data(), count));
            EXPECT_EQ(ps.wait(h), static_cast<uint64_t>(r));
            ASSERT_EQ(psCheckRound(dOut.download(), workers, r, 11), "");
          }
        }
        ps.finalize();
      },
      processOptions("cuda"));
  shoal::test::expectAllRanksPassed(results);
}

// SHOAL_PS_SERVER_DEVICE on a one-rank job (worker and server): with a GPU the
// server runs there and host buffers work against it; without one init
// refuses with the reason; an unknown value is refused everywhere.
TEST(CudaPsServerDevice, CudaServerWithHostBuffersOrRefusedWithoutGpu) {
  SHOAL_SKIP_UNLESS_USABLE("shm");
  const bool gpu = shoal::test::cudaUsable(nullptr);
  auto results = runRanks(
      1,
      [&](int rank, int n, const shoalUniqueId& id) {
        shoalPsOptions opts = options(shoalPsUpdateSum, kPartition);
        shoalPs_t ps = nullptr;
        shoalResult_t rc = shoalPsInitRank(&ps, n, id, rank, shoalPsRoleBoth, &opts);
        if (!gpu) {
          EXPECT_EQ(rc, shoalInvalidUsage);
          EXPECT_NE(std::string(shoalPsGetLastError(nullptr)).find("SHOAL_PS_SERVER_DEVICE=cuda"),
                    std::string::npos)
              << shoalPsGetLastError(nullptr);
          return;
        }
        ASSERT_EQ(rc, shoalSuccess) << shoalPsGetLastError(nullptr);
        const size_t count = 30000;
        std::vector<float> grad(count), out(count);
        for (int r = 1; r <= 3; ++r) {
          for (size_t i = 0; i < count; ++i) grad[i] = psGradient(rank, r, 4, i);
          shoalPsHandle_t h;
          ASSERT_EQ(shoalPsPushPull(ps, 4, grad.data(), out.data(), count, shoalFloat32, &h),
                    shoalSuccess)
              << shoalPsGetLastError(ps);
          uint64_t version = 0;
          ASSERT_EQ(shoalPsWait(ps, h, &version), shoalSuccess) << shoalPsGetLastError(ps);
          EXPECT_EQ(version, static_cast<uint64_t>(r));
          ASSERT_EQ(psCheckRound(out, 1, r, 4), "");
        }
        ASSERT_EQ(shoalPsFinalize(ps), shoalSuccess) << shoalPsGetLastError(nullptr);
      },
      processOptions("cuda"));
  shoal::test::expectAllRanksPassed(results);
}

TEST(CudaPsServerDevice, UnknownDeviceRefused) {
  SHOAL_SKIP_UNLESS_USABLE("shm");
  auto results = runRanks(
      1,
      [&](int rank, int n, const shoalUniqueId& id) {
        shoalPsOptions opts = options(shoalPsUpdateSum, kPartition);
        shoalPs_t ps = nullptr;
        EXPECT_EQ(shoalPsInitRank(&ps, n, id, rank, shoalPsRoleBoth, &opts), shoalInvalidArgument);
        EXPECT_NE(std::string(shoalPsGetLastError(nullptr)).find("SHOAL_PS_SERVER_DEVICE=gpu"),
                  std::string::npos)
            << shoalPsGetLastError(nullptr);
      },
      processOptions("gpu"));
  shoal::test::expectAllRanksPassed(results);
}

// ---- the update kernels against the CPU rule, in one child process

// Bits that exercise rounding: uniform in (-4, 4) for floats, any bit pattern
// (infinities, subnormals, NaNs unless noNan) for 16-bit floats, every value
// for integers. A sum of two NaNs is left out: on x86 it returns whichever
// operand the compiler happened to put first.
bool isNan16(uint16_t h, shoalDataType_t dtype) {
  if (dtype == shoalFloat16) return (h & 0x7c00u) == 0x7c00u && (h & 0x3ffu) != 0;
  return (h & 0x7f80u) == 0x7f80u && (h & 0x7fu) != 0;
}

std::vector<uint8_t> patternBytes(size_t count, shoalDataType_t dtype, uint32_t seed, bool noNan) {
  const size_t es = shoal::dtypeSize(dtype);
  std::vector<uint8_t> out(count * es);
  uint64_t x = 0x9e3779b97f4a7c15ull * (seed + 1);
  auto next = [&] {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return x;
  };
  for (size_t i = 0; i < count; ++i) {
    uint64_t v = next();
    if (dtype == shoalFloat32) {
      float f = static_cast<float>(static_cast<double>(v >> 11) / 9007199254740992.0 * 8 - 4);
      memcpy(&out[i * es], &f, es);
    } else if (dtype == shoalFloat64) {
      double d = static_cast<double>(v >> 11) / 9007199254740992.0 * 8 - 4;
      memcpy(&out[i * es], &d, es);
    } else {
      if (es == 2 && (dtype == shoalFloat16 || dtype == shoalBfloat16) && noNan &&
          isNan16(static_cast<uint16_t>(v), dtype)) {
        v = 0;
      }
      memcpy(&out[i * es], &v, es);
    }
  }
  return out;
}

TEST(CudaPsKernels, EveryRuleBitwiseAsTheCpuRule) {
  SKIP_WITHOUT_GPU();
  auto results = runRanks(1, [](int, int, const shoalUniqueId&) {
    const size_t count = 100003;
    struct Case {
      shoalPsUpdate_t kind;
      bool replace;
      shoalDataType_t dtype;
    };
    std::vector<Case> cases;
    for (int t = 0; t < shoalNumTypes; ++t) {
      cases.push_back({shoalPsUpdateSum, false, static_cast<shoalDataType_t>(t)});
      cases.push_back({shoalPsUpdateSum, true, static_cast<shoalDataType_t>(t)});
    }
    for (shoalDataType_t t : {shoalFloat32, shoalFloat64}) {
      cases.push_back({shoalPsUpdateSgd, false, t});
      cases.push_back({shoalPsUpdateMomentum, false, t});
    }
    shoal::cuda::Stream stream = shoal::cuda::createStream();
    uint32_t seed = 1;
    for (const Case& c : cases) {
      const size_t bytes = count * shoal::dtypeSize(c.dtype);
      shoal::ps::UpdateRule rule{c.kind, 0.01, 0.9};
      std::vector<uint8_t> value = patternBytes(count, c.dtype, seed++, false);
      std::vector<uint8_t> g = patternBytes(count, c.dtype, seed++, true);
      std::vector<uint8_t> state = patternBytes(count, c.dtype, seed++, false);
      void* dValue = shoal::cuda::deviceAlloc(bytes);
      void* dState = shoal::cuda::deviceAlloc(bytes);
      // The gradient from pinned host memory, as a server reads a push.
      void* hG = shoal::cuda::pinnedAlloc(bytes);
      memcpy(hG, value.data(), bytes);
      shoal::cuda::copy(dValue, hG, bytes);
      memcpy(hG, state.data(), bytes);
      shoal::cuda::copy(dState, hG, bytes);
      memcpy(hG, g.data(), bytes);
      // Twice: momentum's second step starts from its own state.
      for (int step = 0; step < 2; ++step) {
        shoal::ps::applyUpdate(rule, c.replace, value.data(), g.data(), state.data(), 0, count,
                               c.dtype);
        shoal::cuda::psUpdateAsync(c.kind, c.replace, dValue, hG, dState, count, c.dtype,
                                   rule.learningRate, rule.momentum, stream);
      }
      shoal::cuda::streamSync(stream, shoal::Deadline::after(30), "update kernels");
      std::vector<uint8_t> gotValue(bytes), gotState(bytes);
      shoal::cuda::copy(gotValue.data(), dValue, bytes);
      shoal::cuda::copy(gotState.data(), dState, bytes);
      const std::string what = std::string(shoal::ps::updateName(c.kind)) +
                               (c.replace ? " (replace) " : " ") + shoal::dtypeName(c.dtype);
      const size_t es = shoal::dtypeSize(c.dtype);
      for (size_t i = 0; i < count; ++i) {
        ASSERT_EQ(memcmp(&gotValue[i * es], &value[i * es], es), 0)
            << what << ": value element " << i << " differs from the CPU rule";
      }
      if (c.kind == shoalPsUpdateMomentum) {
        for (size_t i = 0; i < count; ++i) {
          ASSERT_EQ(memcmp(&gotState[i * es], &state[i * es], es), 0)
              << what << ": momentum element " << i << " differs from the CPU rule";
        }
      }
      shoal::cuda::deviceFree(dValue);
      shoal::cuda::deviceFree(dState);
      shoal::cuda::pinnedFree(hG);
    }
    shoal::cuda::destroyStream(stream);
  });
  shoal::test::expectAllRanksPassed(results);
}

}  // namespace
