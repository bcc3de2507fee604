// Chunks between GPU buffers of ranks on one node go GPU to GPU over CUDA IPC
// (core/ipc_slots.h): with SHOAL_CUDA_IPC=1 every rank maps every peer's GPU
// slots after the first call on GPU buffers, and the results stay exact, also
// when one rank's call runs on host buffers while its peers' run on GPUs and
// write into its GPU slots. With SHOAL_CUDA_IPC=0 nothing is mapped and the
// same calls go through host memory. Ranks share the machine's GPU(s), so on
// one GPU this is IPC between processes on the same device. Only ranks of one
// node (host identity) map each other's slots.
#include <gtest/gtest.h>
#include <stdlib.h>
#include <unistd.h>

#include <cstring>
#include <string>
#include <vector>

#include "core/comm.h"
#include "cuda/cuda_api.h"
#include "util/multiprocess.h"
#include "util/reference.h"

namespace {

using shoal::test::compare;
using shoal::test::fillExpected;
using shoal::test::fillInput;
using shoal::test::typeSize;
namespace cuda = shoal::cuda;

// One allreduce on device buffers (or host ones, onHost: with the stream
// when hostStream, as a stream-ordered host call) with every element of the
// result compared.
void allReduceChecked(shoalComm_t comm, int rank, int n, size_t count, shoalDataType_t t,
                      shoalRedOp_t op, const char* algo, bool onHost, cuda::Stream s,
                      bool hostStream = false) {
  setenv("SHOAL_ALGO", algo, 1);
  const size_t bytes = count * typeSize(t);
  std::vector<char> in(bytes + 1), out(bytes + 1), want(bytes + 1);
  fillInput(in.data(), count, t, op, rank);
  fillExpected(want.data(), count, t, op, n);
  if (onHost) {
    ASSERT_EQ(shoalAllReduce(in.data(), out.data(), count, t, op, comm, hostStream ? s : nullptr),
              shoalSuccess)
        << shoalGetLastError(comm);
    if (hostStream) cuda::streamSync(s, shoal::Deadline::after(90), "test stream");
  } else {
    void* dev = cuda::deviceAlloc(bytes);
    // On the call's stream: a plain cudaMemcpy from pageable memory may
    // return before its DMA lands, and s does not wait for it.
    cuda::copyAsync(dev, in.data(), bytes, s);
    ASSERT_EQ(shoalAllReduce(dev, dev, count, t, op, comm, s), shoalSuccess)
        << shoalGetLastError(comm);
    cuda::copyAsync(out.data(), dev, bytes, s);
    cuda::streamSync(s, shoal::Deadline::after(90), "test stream");
    cuda::deviceFree(dev);
    shoalResult_t async = shoalSuccess;
    ASSERT_EQ(shoalCommGetAsyncError(comm, &async), shoalSuccess);
    ASSERT_EQ(async, shoalSuccess) << shoalGetLastError(comm);
  }
  ASSERT_EQ(compare(out.data(), want.data(), count, t), "")
      << "rank " << rank << " " << algo << " count " << count << (onHost ? " host" : " gpu");
}

void body(int rank, int n, const shoalUniqueId& id) {
  cuda::setDevice(rank % cuda::deviceCount());
  shoalComm_t comm = nullptr;
  ASSERT_EQ(shoalCommInitRank(&comm, n, id, rank), shoalSuccess) << shoalGetLastError(nullptr);
  cuda::Stream s = cuda::createStream();
  // Several chunks per peer (SHOAL_CHUNK_SIZE is 64K here), more than the
  // slots, so slots wrap and credits come back while the GPU reads them.
  const size_t big = (1u << 20) + 7;
  for (int round = 0; round < 3; ++round) {
    for (const char* algo : {"allreduce:ring", "allreduce:rhd", "allreduce:tree"}) {
      allReduceChecked(comm, rank, n, big, shoalFloat32, shoalSum, algo, false, s);
      allReduceChecked(comm, rank, n, 1000, shoalInt32, shoalMax, algo, false, s);
    }
  }
  // Rank 1 on host buffers: its peers, on GPUs, still put their chunks in its
  // GPU slots, which its host call reads from there.
  allReduceChecked(comm, rank, n, big, shoalFloat64, shoalSum, "allreduce:ring", rank == 1, s);
  allReduceChecked(comm, rank, n, big, shoalFloat32, shoalProd, "allreduce:rhd", rank == 1, s);
  // The same with rank 1's host call made on its stream: it runs on the
  // proxy thread while that stream is parked behind it, and must read its
  // GPU slots without waiting for the parked stream.
  allReduceChecked(comm, rank, n, big, shoalInt32, shoalSum, "allreduce:ring", rank == 1, s, true);
  // And back on GPUs.
  allReduceChecked(comm, rank, n, big, shoalBfloat16, shoalSum, "allreduce:ring", false, s);
  // Every rank talks to both others in a ring of 3, so each maps both.
  const bool on = std::string(getenv("SHOAL_CUDA_IPC")) == "1";
  EXPECT_EQ(comm->executor->peersOverIpc(), on ? n - 1 : 0) << "rank " << rank;
  cuda::destroyStream(s);
  EXPECT_EQ(shoalCommDestroy(comm), shoalSuccess);
}

// Over shm, chunks of 64 KiB, IPC as given for every call however small.
shoal::test::MultiProcessOptions ipcOptions(const char* ipc) {
  shoal::test::MultiProcessOptions o;
  o.timeoutSeconds = 240;
  o.env["SHOAL_TRANSPORT"] = "shm";
  o.env["SHOAL_TIMEOUT"] = "30";
  o.env["SHOAL_CHUNK_SIZE"] = "64K";
  o.env["SHOAL_CUDA_IPC"] = ipc;
  o.env["SHOAL_CUDA_IPC_MIN_BYTES"] = "0";
  return o;
}

class CudaIpc : public ::testing::TestWithParam<const char*> {};

TEST_P(CudaIpc, EveryResultExactAndSlotsMappedAsConfigured) {
  SHOAL_SKIP_UNLESS_CUDA();
  const shoal::test::MultiProcessOptions o = ipcOptions(GetParam());
  const int n = 3;
  shoal::test::expectAllRanksPassed(shoal::test::runRanks(n, body, o));
}

// Two faked nodes of two ranks each (SHOAL_HOST_ID, with shared memory
// allowed across the fake boundary): the hierarchical allreduce's intra-node
// steps go GPU to GPU, and no rank maps the slots of a rank on the other
// "node", although the same transport connects them.
TEST(CudaIpcNodes, HierIntraNodeStepsOnlyBetweenRanksOfOneNode) {
  SHOAL_SKIP_UNLESS_CUDA();
  shoal::test::MultiProcessOptions o = ipcOptions("1");
  o.env["SHOAL_SHM_FAKE_HOSTS"] = "1";
  auto nodes = [](int rank, int n, const shoalUniqueId& id) {
    setenv("SHOAL_HOST_ID", ("fakenode" + std::to_string(rank / 2)).c_str(), 1);
    cuda::setDevice(rank % cuda::deviceCount());
    shoalComm_t comm = nullptr;
    ASSERT_EQ(shoalCommInitRank(&comm, n, id, rank), shoalSuccess) << shoalGetLastError(nullptr);
    cuda::Stream s = cuda::createStream();
    for (int round = 0; round < 3; ++round) {
      allReduceChecked(comm, rank, n, (1u << 20) + 7, shoalFloat32, shoalSum, "allreduce:hier",
                       false, s);
      allReduceChecked(comm, rank, n, 777, shoalInt64, shoalMin, "allreduce:hier", false, s);
      EXPECT_STREQ(shoalCommLastAlgorithm(comm), "hier");
    }
    EXPECT_EQ(comm->executor->peersOverIpc(), 1) << "rank " << rank;
    cuda::destroyStream(s);
    EXPECT_EQ(shoalCommDestroy(comm), shoalSuccess);
  };
  shoal::test::expectAllRanksPassed(shoal::test::runRanks(4, nodes, o));
}

INSTANTIATE_TEST_SUITE_P(Setting, CudaIpc, ::testing::Values("1", "0"),
                         [](const auto& info) { return std::string("ipc") + info.param; });

}  // namespace
