// Collectives on GPU buffers, stream-ordered, in real processes sharing the
// machine's GPU(s) over shared memory: every algorithm of allreduce and every
// other collective, several world sizes, in place and out of place, every
// element of every rank checked against the reference. Inputs are copied in
// on the same stream right before the call and results copied out right
// after it, behind a long memset, so a call that did not wait for the work
// before it, or returned its stream early, reads or leaves the wrong bytes.
//
// CUDA must not be initialised in the test process before the ranks fork
// (children of such a process cannot use the GPU), so the skip probe runs in
// a child and all CUDA calls happen inside the rank bodies.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "cuda/cuda_api.h"
#include "util/multiprocess.h"
#include "util/reference.h"

namespace {

using shoal::test::compare;
using shoal::test::fillExpected;
using shoal::test::fillInput;
using shoal::test::runRanks;
using shoal::test::typeSize;
namespace cuda = shoal::cuda;

struct TypeOp {
  shoalDataType_t type;
  shoalRedOp_t op;
};
const std::vector<TypeOp> kTypeOps = {
    {shoalInt8, shoalSum},    {shoalUint8, shoalProd},   {shoalInt32, shoalMax},
    {shoalUint64, shoalMin},  {shoalFloat16, shoalSum},  {shoalBfloat16, shoalAvg},
    {shoalFloat32, shoalAvg}, {shoalFloat64, shoalProd}, {shoalFloat32, shoalSum}};

shoal::test::MultiProcessOptions shmOptions() {
  shoal::test::MultiProcessOptions o;
  o.timeoutSeconds = 240;
  o.env["SHOAL_TRANSPORT"] = "shm";
  o.env["SHOAL_TIMEOUT"] = "30";  // shorter than the test's own waits, so shoal names a stall first
  return o;
}

shoalComm_t init(int rank, int n, const shoalUniqueId& id) {
  shoalComm_t comm = nullptr;
  EXPECT_EQ(shoalCommInitRank(&comm, n, id, rank), shoalSuccess) << shoalGetLastError(nullptr);
  return comm;
}

// Device memory plus a pinned host twin for staging in and out.
struct Buf {
  explicit Buf(size_t bytes) : bytes(bytes) {
    dev = static_cast<char*>(cuda::deviceAlloc(bytes + 16));
    host = static_cast<char*>(cuda::pinnedAlloc(bytes + 16));
  }
  ~Buf() {
    cuda::deviceFree(dev);
    cuda::pinnedFree(host);
  }
  size_t bytes;
  char* dev;
  char* host;
};

// Keeps the stream busy for a while, so whatever follows is queued well
// behind the call that returns at once.
void busyWork(Buf& scratch, cuda::Stream s) {
  for (int i = 0; i < 8; ++i) cuda::memsetAsync(scratch.dev, i, scratch.bytes, s);
}

std::string where(int rank, const char* coll, const std::string& algo, size_t count,
                  const TypeOp& c, bool inPlace) {
  return "rank " + std::to_string(rank) + " " + coll + ":" + algo + " count " +
         std::to_string(count) + " type " + std::to_string(c.type) + " op " + std::to_string(c.op) +
         (inPlace ? " in place" : " out of place");
}

void allReduceBody(int rank, int n, const shoalUniqueId& id) {
  cuda::setDevice(rank % cuda::deviceCount());
  shoalComm_t comm = init(rank, n, id);
  ASSERT_NE(comm, nullptr);
  cuda::Stream s = cuda::createStream();
  Buf busy(256u << 20);
  const std::vector<size_t> counts = {0, 1, 1000, (1u << 20) + 7};
  for (const char* algo : {"ring", "tree", "rhd", "rd"}) {
    setenv("SHOAL_ALGO", (std::string("allreduce:") + algo).c_str(), 1);
    for (size_t count : counts) {
      for (const TypeOp& c : kTypeOps) {
        const size_t bytes = count * typeSize(c.type);
        Buf send(bytes), recv(bytes);
        std::vector<char> want(bytes + 1);
        fillExpected(want.data(), count, c.type, c.op, n);
        for (bool inPlace : {false, true}) {
          fillInput(send.host, count, c.type, c.op, rank);
          memset(recv.host, 0x5a, bytes);
          cuda::copy(recv.dev, recv.host, bytes);
          busyWork(busy, s);
          cuda::copyAsync(send.dev, send.host, bytes, s);
          char* out = inPlace ? send.dev : recv.dev;
          ASSERT_EQ(shoalAllReduce(send.dev, out, count, c.type, c.op, comm, s), shoalSuccess)
              << shoalGetLastError(comm);
          memset(recv.host, 0x33, bytes);
          cuda::copyAsync(recv.host, out, bytes, s);
          cuda::streamSync(s, shoal::Deadline::after(90), "test stream");
          shoalResult_t async = shoalSuccess;
          ASSERT_EQ(shoalCommGetAsyncError(comm, &async), shoalSuccess);
          ASSERT_EQ(async, shoalSuccess) << shoalGetLastError(comm);
          ASSERT_EQ(compare(recv.host, want.data(), count, c.type), "")
              << where(rank, "allreduce", algo, count, c, inPlace);
          if (count > 0) {
            EXPECT_STREQ(shoalCommLastAlgorithm(comm), algo);
          }
        }
      }
    }
  }
  cuda::destroyStream(s);
  EXPECT_EQ(shoalCommDestroy(comm), shoalSuccess);
}

TEST(CudaCollectives, AllReduceEveryAlgorithmStreamOrdered) {
  SHOAL_SKIP_UNLESS_CUDA();
  for (int n : {1, 2, 3, 4}) {
    SCOPED_TRACE("ranks " + std::to_string(n));
    shoal::test::expectAllRanksPassed(runRanks(n, allReduceBody, shmOptions()));
  }
}

// Reduce-scatter, allgather, broadcast and reduce on device buffers, with a
// NULL stream (the legacy default stream, as NCCL takes it).
void otherCollectivesBody(int rank, int n, const shoalUniqueId& id) {
  cuda::setDevice(rank % cuda::deviceCount());
  shoalComm_t comm = init(rank, n, id);
  ASSERT_NE(comm, nullptr);
  unsetenv("SHOAL_ALGO");
  for (size_t count : {size_t{1}, size_t{777}, size_t{300000}}) {
    for (const TypeOp& c : kTypeOps) {
      const size_t es = typeSize(c.type);
      const size_t total = count * static_cast<size_t>(n);
      // Reduce-scatter: rank r gets block r of the elementwise reduction.
      {
        Buf send(total * es), recv(count * es);
        std::vector<char> all(total * es + 1);
        fillInput(send.host, total, c.type, c.op, rank);
        fillExpected(all.data(), total, c.type, c.op, n);
        cuda::copy(send.dev, send.host, total * es);
        ASSERT_EQ(shoalReduceScatter(send.dev, recv.dev, count, c.type, c.op, comm, nullptr),
                  shoalSuccess)
            << shoalGetLastError(comm);
        cuda::copy(recv.host, recv.dev, count * es);
        ASSERT_EQ(
            compare(recv.host, all.data() + static_cast<size_t>(rank) * count * es, count, c.type),
            "")
            << where(rank, "reducescatter", "auto", count, c, false);
      }
      // Reduce to the last rank.
      {
        const int root = n - 1;
        Buf send(count * es), recv(count * es);
        std::vector<char> want(count * es + 1);
        fillInput(send.host, count, c.type, c.op, rank);
        fillExpected(want.data(), count, c.type, c.op, n);
        cuda::copy(send.dev, send.host, count * es);
        ASSERT_EQ(shoalReduce(send.dev, rank == root ? recv.dev : nullptr, count, c.type, c.op,
                              root, comm, nullptr),
                  shoalSuccess)
            << shoalGetLastError(comm);
        if (rank == root) {
          cuda::copy(recv.host, recv.dev, count * es);
          ASSERT_EQ(compare(recv.host, want.data(), count, c.type), "")
              << where(rank, "reduce", "auto", count, c, false);
        }
      }
    }
    for (shoalDataType_t t : {shoalInt8, shoalFloat32, shoalFloat64}) {
      const size_t block = count * typeSize(t);
      // Allgather in place (NCCL's offset form) and broadcast from rank 0.
      Buf all(block * static_cast<size_t>(n));
      std::vector<char> want(block * static_cast<size_t>(n) + 1);
      for (int r = 0; r < n; ++r) fillInput(want.data() + r * block, count, t, shoalMax, r);
      memset(all.host, 0x5a, all.bytes);
      fillInput(all.host + static_cast<size_t>(rank) * block, count, t, shoalMax, rank);
      cuda::copy(all.dev, all.host, all.bytes);
      ASSERT_EQ(shoalAllGather(all.dev + static_cast<size_t>(rank) * block, all.dev, count, t, comm,
                               nullptr),
                shoalSuccess)
          << shoalGetLastError(comm);
      cuda::copy(all.host, all.dev, all.bytes);
      ASSERT_EQ(memcmp(all.host, want.data(), all.bytes), 0) << "allgather rank " << rank;

      Buf b(block);
      memset(b.host, rank == 0 ? 0 : 0x5a, block);
      if (rank == 0) fillInput(b.host, count, t, shoalSum, 0);
      cuda::copy(b.dev, b.host, block);
      ASSERT_EQ(shoalBroadcast(b.dev, b.dev, count, t, 0, comm, nullptr), shoalSuccess)
          << shoalGetLastError(comm);
      cuda::copy(b.host, b.dev, block);
      std::vector<char> bw(block + 1);
      fillInput(bw.data(), count, t, shoalSum, 0);
      ASSERT_EQ(memcmp(b.host, bw.data(), block), 0) << "broadcast rank " << rank;
    }
  }
  EXPECT_EQ(shoalCommDestroy(comm), shoalSuccess);
}

TEST(CudaCollectives, OtherCollectivesOnDeviceBuffers) {
  SHOAL_SKIP_UNLESS_CUDA();
  for (int n : {2, 3}) {
    SCOPED_TRACE("ranks " + std::to_string(n));
    shoal::test::expectAllRanksPassed(runRanks(n, otherCollectivesBody, shmOptions()));
  }
}

// A mismatched stream-ordered call fails asynchronously: the stream is not
// held forever, shoalCommGetAsyncError reports it, the next call is refused.
TEST(CudaCollectives, MismatchIsAnAsyncErrorAndTheStreamMovesOn) {
  SHOAL_SKIP_UNLESS_CUDA();
  auto body = [](int rank, int n, const shoalUniqueId& id) {
    cuda::setDevice(0);
    shoalComm_t comm = init(rank, n, id);
    ASSERT_NE(comm, nullptr);
    ASSERT_EQ(shoalCommSetTimeout(comm, 5), shoalSuccess);
    cuda::Stream s = cuda::createStream();
    Buf b(4096);
    const size_t count = rank == 0 ? 100 : 101;
    ASSERT_EQ(shoalAllReduce(b.dev, b.dev, count, shoalFloat32, shoalSum, comm, s), shoalSuccess)
        << shoalGetLastError(comm);
    cuda::streamSync(s, shoal::Deadline::after(60), "stream after a failed call");
    // The proxy may still be recording the failure when the stream opens.
    shoalResult_t async = shoalSuccess;
    for (int i = 0; i < 200 && async == shoalSuccess; ++i) {
      ASSERT_EQ(shoalCommGetAsyncError(comm, &async), shoalSuccess);
      if (async == shoalSuccess) usleep(10000);
    }
    EXPECT_NE(async, shoalSuccess);
    EXPECT_NE(std::string(shoalGetLastError(comm)).find("allreduce"), std::string::npos)
        << shoalGetLastError(comm);
    EXPECT_NE(shoalAllReduce(b.dev, b.dev, 1, shoalFloat32, shoalSum, comm, s), shoalSuccess);
    cuda::destroyStream(s);
    shoalCommAbort(comm);
  };
  shoal::test::expectAllRanksPassed(runRanks(2, body, shmOptions()));
}

TEST(CudaCollectives, SendOnHostRecvOnGpuIsRefused) {
  SHOAL_SKIP_UNLESS_CUDA();
  auto body = [](int rank, int n, const shoalUniqueId& id) {
    shoalComm_t comm = init(rank, n, id);
    ASSERT_NE(comm, nullptr);
    Buf b(64);
    EXPECT_EQ(shoalAllReduce(b.host, b.dev, 16, shoalFloat32, shoalSum, comm, nullptr),
              shoalInvalidUsage);
    EXPECT_NE(std::string(shoalGetLastError(comm)).find("same place"), std::string::npos)
        << shoalGetLastError(comm);
    EXPECT_EQ(shoalCommDestroy(comm), shoalSuccess);
  };
  shoal::test::expectAllRanksPassed(runRanks(1, body, shmOptions()));
}

// Without a GPU (CI): a stream is refused with the reason, never dereferenced.
TEST(CudaCollectives, StreamWithoutCudaIsRefusedWithTheReason) {
  std::string why;
  if (shoal::test::cudaUsable(&why)) GTEST_SKIP() << "CUDA works here; this checks its absence";
  auto body = [](int rank, int n, const shoalUniqueId& id) {
    shoalComm_t comm = init(rank, n, id);
    ASSERT_NE(comm, nullptr);
    float x[4] = {1, 2, 3, 4};
    auto fakeStream = reinterpret_cast<shoalStream_t>(0x1);
    EXPECT_EQ(shoalAllReduce(x, x, 4, shoalFloat32, shoalSum, comm, fakeStream), shoalInvalidUsage);
    EXPECT_NE(std::string(shoalGetLastError(comm)).find("CUDA"), std::string::npos)
        << shoalGetLastError(comm);
    // The refused call leaves the communicator usable.
    EXPECT_EQ(shoalAllReduce(x, x, 4, shoalFloat32, shoalSum, comm, nullptr), shoalSuccess);
    EXPECT_EQ(x[3], 4.0f * n);
    EXPECT_EQ(shoalCommDestroy(comm), shoalSuccess);
  };
  shoal::test::expectAllRanksPassed(runRanks(2, body, shmOptions()));
}

}  // namespace
