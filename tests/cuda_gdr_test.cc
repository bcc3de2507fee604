// The CUDA side of GPUDirect RDMA (src/cuda/gdr.h): device attributes, the
// allocation behind a pointer, and dma-buf export of an unaligned sub-range.
// Needs a GPU; registering the dma-buf with a NIC (ibv_reg_dmabuf_mr) needs an
// RDMA device as well and is tested in verbs_gdr_test where both exist.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdint>
#include <string>
#include <vector>

#include "core/error.h"
#include "cuda/cuda_api.h"
#include "cuda/gdr.h"

namespace shoal::cuda {
namespace {

constexpr uintptr_t kPage = 4096;

uintptr_t pageSize() { return static_cast<uintptr_t>(sysconf(_SC_PAGESIZE)); }

// Owns one cudaMalloc block for a test.
struct DeviceBlock {
  explicit DeviceBlock(size_t n) : bytes(n), p(deviceAlloc(n)) {}
  ~DeviceBlock() { deviceFree(p); }
  size_t bytes;
  void* p;
  char* at(size_t off) const { return static_cast<char*>(p) + off; }
};

TEST(CudaGdr, AllocationRangeAndId) {
  std::string why;
  if (!available(&why)) GTEST_SKIP() << why;
  DeviceBlock a(4u << 20), b(4u << 20);
  uintptr_t base = 0;
  size_t size = 0;
  allocationRange(a.at(12345), &base, &size);
  EXPECT_EQ(base, reinterpret_cast<uintptr_t>(a.p));
  EXPECT_GE(size, a.bytes);

  uint64_t id = allocationId(a.p);
  EXPECT_NE(id, 0u);
  EXPECT_EQ(allocationId(a.at(a.bytes - 1)), id);  // any byte of the block
  EXPECT_NE(allocationId(b.p), 0u);
  EXPECT_NE(allocationId(b.p), id);
  std::vector<char> host(64);
  EXPECT_EQ(allocationId(host.data()), 0u);
}

TEST(CudaGdr, DmabufFdOfUnalignedSubRange) {
  std::string why;
  if (!available(&why)) GTEST_SKIP() << why;
  int dev = currentDevice();
  if (!dmabufSupported(dev, &why)) GTEST_SKIP() << why;
  ASSERT_EQ(pageSize(), kPage) << "the expected offsets below assume 4 KiB host pages";
  DeviceBlock block(4u << 20);
  ASSERT_EQ(reinterpret_cast<uintptr_t>(block.p) % kPage, 0u);

  struct Case {
    size_t offset, bytes;
  };
  // Inside one page, across a page boundary, starting on a boundary, the
  // block's last bytes.
  const Case cases[] = {{3 * kPage + 100, 1000},
                        {5 * kPage + 4000, 10000},
                        {8 * kPage, kPage},
                        {(4u << 20) - 10, 10}};
  for (const Case& c : cases) {
    size_t off = 12345;
    int fd = dmabufFd(block.at(c.offset), c.bytes, &off);
    ASSERT_GE(fd, 0) << "offset " << c.offset;
    EXPECT_EQ(off, c.offset % kPage) << "offset " << c.offset;
    // A dma-buf reports its size through lseek(SEEK_END): the page-rounded range.
    size_t first = c.offset / kPage * kPage;
    size_t last = (c.offset + c.bytes + kPage - 1) / kPage * kPage;
    EXPECT_EQ(lseek(fd, 0, SEEK_END), static_cast<off_t>(last - first)) << "offset " << c.offset;
    char link[256] = {};
    std::string path = "/proc/self/fd/" + std::to_string(fd);
    ssize_t n = readlink(path.c_str(), link, sizeof(link) - 1);
    ASSERT_GT(n, 0);
    EXPECT_NE(std::string(link).find("dmabuf"), std::string::npos) << link;
    EXPECT_EQ(close(fd), 0);
  }
}

TEST(CudaGdr, DmabufFdRefusesRangesOutsideOneAllocation) {
  std::string why;
  if (!available(&why)) GTEST_SKIP() << why;
  // 2 MiB: cudaMalloc's granularity, so the allocation ends where asked.
  DeviceBlock block(2u << 20);
  size_t off = 0;
  try {
    dmabufFd(block.at(block.bytes - 10), 100, &off);
    FAIL() << "a range past its allocation was exported";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), shoalInvalidArgument) << e.what();
  }
  std::vector<char> host(8192);
  try {
    dmabufFd(host.data(), 100, &off);
    FAIL() << "host memory was exported as a GPU dma-buf";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), shoalInvalidArgument) << e.what();
  }
}

TEST(CudaGdr, AttributesAgreeWithTheDriver) {
  std::string why;
  if (!available(&why)) GTEST_SKIP() << why;
  for (int d = 0; d < deviceCount(); ++d) {
    std::string w;
    if (!dmabufSupported(d, &w)) {
      EXPECT_FALSE(w.empty()) << "GPU " << d << ": no reason given";
    }
  }
  EXPECT_FALSE(gpuDirectRdmaSupported(deviceCount()));  // no such device
  EXPECT_FALSE(dmabufSupported(deviceCount(), &why));
  EXPECT_FALSE(why.empty());
}

}  // namespace
}  // namespace shoal::cuda
