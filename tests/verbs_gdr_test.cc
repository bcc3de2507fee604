// GPUDirect RDMA in the verbs transport: the choice of method per GPU x NIC
// pair (dmabuf, peermem, staging) from the facts it depends on, gathered from
// the hwloc fixtures in tests/topo_fixtures and from a module directory laid
// out like /sys/module; shoal-info's section; and, where this machine has an
// RDMA port, the live context's answer and registrations.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <string>
#include <vector>

#include "core/error.h"
#include "cuda/cuda_api.h"
#include "shoal/build_config.h"
#include "topo/topology.h"

#if SHOAL_WITH_VERBS_ENABLED
#include "transports/verbs/context.h"
#include "transports/verbs/gdr.h"
#include "transports/verbs/hca_select.h"

namespace shoal::transport::verbs {
namespace {

using topo::PathClass;

#define REQUIRE_HWLOC() \
  if (!SHOAL_WITH_HWLOC_ENABLED) GTEST_SKIP() << "built without hwloc"

std::string fixture(const char* name) {
  std::string here = __FILE__;
  return here.substr(0, here.rfind('/')) + "/topo_fixtures/" + name;
}

// Sets or clears environment variables for one test and restores them.
class ScopedEnv {
 public:
  ScopedEnv(const char* name, const char* value) : name_(name) {
    if (const char* old = getenv(name)) {
      had_ = true;
      old_ = old;
    }
    if (value)
      setenv(name, value, 1);
    else
      unsetenv(name);
  }
  ~ScopedEnv() {
    if (had_)
      setenv(name_.c_str(), old_.c_str(), 1);
    else
      unsetenv(name_.c_str());
  }

 private:
  std::string name_;
  bool had_ = false;
  std::string old_;
};

// Defaults of the three settings, whatever the caller's environment says.
struct DefaultSettings {
  ScopedEnv a{"SHOAL_NET_GDR_ENABLE", nullptr};
  ScopedEnv b{"SHOAL_DMABUF_ENABLE", nullptr};
  ScopedEnv c{"SHOAL_NET_GDR_LEVEL", nullptr};
};

// A pair where every mechanism works: the GPU sees CUDA, supports GPUDirect
// RDMA and dma-buf, rdma-core has ibv_reg_dmabuf_mr, nvidia_peermem loaded.
GdrFacts everythingWorks(PathClass path) {
  GdrFacts f;
  f.gpu = "GPU 0 (0000:1d:00.0)";
  f.nic = "mlx5_0";
  f.pathKnown = true;
  f.path = path;
  f.gpuVisible = true;
  f.gpuRdma = true;
  f.gpuDmabuf = true;
  f.verbsDmabuf = true;
  f.peermemModule = "nvidia_peermem";
  return f;
}

// decideGdr(f) picks `method` and gives exactly `why` as the reason.
::testing::AssertionResult decides(const GdrFacts& f, GdrMethod method, const std::string& why) {
  const GdrDecision d = decideGdr(f);
  if (d.method == method && d.why == why) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure()
         << "decideGdr chose " << gdrMethodName(d.method) << ": \"" << d.why << "\"\n  expected "
         << gdrMethodName(method) << ": \"" << why << "\"";
}

int nicIndex(const topo::Topology& t, const std::string& name) {
  for (size_t i = 0; i < t.nics.size(); ++i)
    if (t.nics[i].name == name) return static_cast<int>(i);
  return -1;
}

TEST(VerbsGdr, DmabufFirstThenPeermemThenStaging) {
  GdrFacts f = everythingWorks(PathClass::kPix);
  EXPECT_TRUE(decides(f, GdrMethod::kDmabuf,
                      "dmabuf: GPU 0 (0000:1d:00.0) and mlx5_0 share a PCIe switch (PIX <= "
                      "SHOAL_NET_GDR_LEVEL=PXB); the GPU exports dma-bufs and rdma-core has "
                      "ibv_reg_dmabuf_mr"));

  f.gpuDmabuf = false;
  f.gpuDmabufWhy = "GPU 0 reports no dma-buf export";
  EXPECT_TRUE(
      decides(f, GdrMethod::kPeermem,
              "peermem: GPU 0 (0000:1d:00.0) and mlx5_0 share a PCIe switch (PIX <= "
              "SHOAL_NET_GDR_LEVEL=PXB); nvidia_peermem is loaded (dma-buf not used: GPU 0 reports "
              "no dma-buf export)"));

  f.peermemModule = "";
  EXPECT_TRUE(
      decides(f, GdrMethod::kStaging,
              "staging: nvidia_peermem not loaded and dma-buf unusable: GPU 0 reports no dma-buf "
              "export; GPU 0 (0000:1d:00.0) and mlx5_0 share a PCIe switch (PIX <= "
              "SHOAL_NET_GDR_LEVEL=PXB)"));
}

TEST(VerbsGdr, EachDmabufObstacleFallsBackToPeermem) {
  struct Case {
    const char* what;
    void (*apply)(GdrFacts*);
    const char* obstacle;
  };
  const Case cases[] = {
      {"setting", [](GdrFacts* f) { f->dmabufEnabled = false; }, "SHOAL_DMABUF_ENABLE=0"},
      {"rdma-core", [](GdrFacts* f) { f->verbsDmabuf = false; },
       "this rdma-core has no ibv_reg_dmabuf_mr (needs rdma-core >= 34)"},
      {"refused",
       [](GdrFacts* f) {
         f->dmabufRefused = "ibv_reg_dmabuf_mr(...) failed: Operation not supported";
       },
       "refused here: ibv_reg_dmabuf_mr(...) failed: Operation not supported"},
  };
  for (const Case& c : cases) {
    GdrFacts f = everythingWorks(PathClass::kPxb);
    f.peermemModule = "nv_peer_mem";
    c.apply(&f);
    EXPECT_TRUE(decides(f, GdrMethod::kPeermem,
                        std::string("peermem: GPU 0 (0000:1d:00.0) and mlx5_0 meet across PCIe "
                                    "switches below one host bridge (PXB <= "
                                    "SHOAL_NET_GDR_LEVEL=PXB); nv_peer_mem is loaded (dma-buf not "
                                    "used: ") +
                            c.obstacle + ")"))
        << c.what;
    f.peermemModule = "";
    EXPECT_EQ(decideGdr(f).method, GdrMethod::kStaging) << c.what;
  }
}

TEST(VerbsGdr, OffDistantOrUnsupportedMeansStaging) {
  GdrFacts f = everythingWorks(PathClass::kPix);
  f.enabled = false;
  EXPECT_TRUE(
      decides(f, GdrMethod::kStaging, "staging: SHOAL_NET_GDR_ENABLE=0 turns GPUDirect RDMA off"));

  f = everythingWorks(PathClass::kSys);
  EXPECT_TRUE(
      decides(f, GdrMethod::kStaging,
              "staging: GPU 0 (0000:1d:00.0) and mlx5_0 are on different sockets (SYS > "
              "SHOAL_NET_GDR_LEVEL=PXB): PCIe peer traffic that far is slower than host staging"));

  f = everythingWorks(PathClass::kPhb);
  EXPECT_EQ(decideGdr(f).method, GdrMethod::kStaging);
  f.level = PathClass::kPhb;
  EXPECT_EQ(decideGdr(f).method, GdrMethod::kDmabuf);
  f.level = PathClass::kLoc;  // "never"
  f.path = PathClass::kPix;
  EXPECT_EQ(decideGdr(f).method, GdrMethod::kStaging);

  f = everythingWorks(PathClass::kPix);
  f.gpuRdma = false;
  EXPECT_TRUE(decides(f, GdrMethod::kStaging,
                      "staging: GPU 0 (0000:1d:00.0) does not support GPUDirect RDMA "
                      "(CU_DEVICE_ATTRIBUTE_GPU_DIRECT_RDMA_SUPPORTED = 0)"));

  f = everythingWorks(PathClass::kPix);
  f.gpuVisible = false;
  f.gpuInvisibleWhy = "no GPU visible to this process";
  EXPECT_TRUE(
      decides(f, GdrMethod::kStaging,
              "staging: GPU 0 (0000:1d:00.0) is not usable by CUDA in this process (no GPU visible "
              "to this process); the path would allow GPUDirect RDMA: GPU 0 (0000:1d:00.0) and "
              "mlx5_0 share a PCIe switch (PIX <= SHOAL_NET_GDR_LEVEL=PXB)"));
}

TEST(VerbsGdr, UnknownPathCountsAsSys) {
  GdrFacts f = everythingWorks(PathClass::kPix);
  f.pathKnown = false;
  f.pathUnknownWhy = "no topology: built without hwloc";
  EXPECT_TRUE(decides(
      f, GdrMethod::kStaging,
      "staging: the GPU 0 (0000:1d:00.0)-mlx5_0 path is unknown (no topology: built without "
      "hwloc), counted as SYS against SHOAL_NET_GDR_LEVEL=PXB: PCIe peer traffic that far "
      "is slower than host staging"));
  f.level = PathClass::kSys;
  EXPECT_EQ(decideGdr(f).method, GdrMethod::kDmabuf);
  // Without the GPU there is no path to speak of: the GPU is the reason.
  f.gpuVisible = false;
  f.gpuInvisibleWhy = "this process sees 0 GPU(s)";
  f.pathUnknownWhy = "the GPU is not visible";
  EXPECT_TRUE(
      decides(f, GdrMethod::kStaging,
              "staging: GPU 0 (0000:1d:00.0) is not usable by CUDA in this process (this process "
              "sees 0 GPU(s))"));
}

TEST(VerbsGdr, PeermemModuleFromModuleDirectory) {
  char tmpl[] = "/tmp/shoal_gdr_modules_XXXXXX";
  ASSERT_NE(mkdtemp(tmpl), nullptr);
  std::string dir = tmpl;
  EXPECT_EQ(loadedPeermemModule(dir), "");
  // A plain file of that name is not a loaded module.
  { std::ofstream(dir + "/nvidia_peermem") << "x"; }
  EXPECT_EQ(loadedPeermemModule(dir), "");
  ASSERT_EQ(mkdir((dir + "/nv_peer_mem").c_str(), 0755), 0);
  EXPECT_EQ(loadedPeermemModule(dir), "nv_peer_mem");
  ASSERT_EQ(unlink((dir + "/nvidia_peermem").c_str()), 0);
  ASSERT_EQ(mkdir((dir + "/nvidia_peermem").c_str(), 0755), 0);
  EXPECT_EQ(loadedPeermemModule(dir), "nvidia_peermem");  // the driver's own module first
  rmdir((dir + "/nvidia_peermem").c_str());
  rmdir((dir + "/nv_peer_mem").c_str());
  rmdir(dir.c_str());
  EXPECT_EQ(loadedPeermemModule("/nonexistent/shoal/modules"), "");
}

// Every pair of the DGX-H100-like node: with all mechanisms present the
// path class alone decides, at the default level and at SYS.
TEST(VerbsGdr, DgxFixtureEveryPair) {
  REQUIRE_HWLOC();
  DefaultSettings defaults;
  topo::Topology t = topo::loadTopology(fixture("dgx_h100_like.xml"), "");
  ASSERT_TRUE(t.available);
  ASSERT_EQ(t.gpus.size(), 8u);
  ASSERT_EQ(t.nics.size(), 9u);
  const char* gpuBus[] = {"0000:1d:00.0", "0000:21:00.0", "0000:3d:00.0", "0000:41:00.0",
                          "0000:5d:00.0", "0000:61:00.0", "0000:7d:00.0", "0000:81:00.0"};
  for (int g = 0; g < 8; ++g) {
    for (int n = 0; n < 8; ++n) {
      // The fixture's layout (make_fixtures.py): g-mlx5_g PIX, g-mlx5_(g^1)
      // PXB, the other host bridge of the socket NODE, the other socket SYS.
      PathClass want = n == g           ? PathClass::kPix
                       : n == (g ^ 1)   ? PathClass::kPxb
                       : n / 4 == g / 4 ? PathClass::kNode
                                        : PathClass::kSys;
      int idx = nicIndex(t, "mlx5_" + std::to_string(n));
      ASSERT_GE(idx, 0);
      GdrFacts f = gdrFactsForTopologyPair(t, g, idx);
      EXPECT_EQ(f.gpu, "GPU " + std::to_string(g) + " (" + gpuBus[g] + ")");
      EXPECT_EQ(f.nic, "mlx5_" + std::to_string(n));
      ASSERT_TRUE(f.pathKnown);
      EXPECT_EQ(f.path, want) << "GPU " << g << " mlx5_" << n;
      EXPECT_EQ(f.level, PathClass::kPxb);
      EXPECT_TRUE(f.enabled);
      EXPECT_TRUE(f.dmabufEnabled);
      // Not this machine: CUDA's view of its GPUs does not apply.
      EXPECT_FALSE(f.gpuVisible);
      EXPECT_EQ(f.gpuInvisibleWhy,
                "the topology was read from a file, not detected on this machine");
      EXPECT_EQ(decideGdr(f).method, GdrMethod::kStaging);

      GdrFacts live = everythingWorks(f.path);
      live.gpu = f.gpu;
      live.nic = f.nic;
      live.peermemModule = "";
      bool near = want <= PathClass::kPxb;
      EXPECT_EQ(decideGdr(live).method, near ? GdrMethod::kDmabuf : GdrMethod::kStaging)
          << "GPU " << g << " mlx5_" << n;
      live.level = PathClass::kSys;
      EXPECT_EQ(decideGdr(live).method, GdrMethod::kDmabuf);
    }
    // The storage NIC hangs from socket 0's first host bridge: PHB to GPUs 0-1.
    GdrFacts s = gdrFactsForTopologyPair(t, g, nicIndex(t, "mlx5_8"));
    EXPECT_EQ(s.path, g < 2   ? PathClass::kPhb
                      : g < 4 ? PathClass::kNode
                              : PathClass::kSys)
        << "GPU " << g;
  }
}

TEST(VerbsGdr, SettingsComeFromTheEnvironment) {
  REQUIRE_HWLOC();
  topo::Topology t = topo::loadTopology(fixture("dgx_h100_like.xml"), "");
  ASSERT_TRUE(t.available);
  int far = nicIndex(t, "mlx5_7");  // SYS from GPU 0
  {
    ScopedEnv a("SHOAL_NET_GDR_ENABLE", "0");
    ScopedEnv b("SHOAL_DMABUF_ENABLE", "0");
    ScopedEnv c("SHOAL_NET_GDR_LEVEL", "sys");
    GdrFacts f = gdrFactsForTopologyPair(t, 0, far);
    EXPECT_FALSE(f.enabled);
    EXPECT_FALSE(f.dmabufEnabled);
    EXPECT_EQ(f.level, PathClass::kSys);
    EXPECT_EQ(f.path, PathClass::kSys);
  }
  {
    ScopedEnv c("SHOAL_NET_GDR_LEVEL", "closest");
    try {
      gdrFactsForTopologyPair(t, 0, far);
      FAIL() << "a malformed SHOAL_NET_GDR_LEVEL was accepted";
    } catch (const Error& e) {
      EXPECT_EQ(e.code(), shoalInvalidArgument);
      EXPECT_NE(std::string(e.what()).find("SHOAL_NET_GDR_LEVEL=closest"), std::string::npos)
          << e.what();
    }
  }
}

std::vector<std::string> lines(const std::string& text) {
  std::vector<std::string> out;
  size_t at = 0;
  while (at < text.size()) {
    size_t nl = text.find('\n', at);
    if (nl == std::string::npos) nl = text.size();
    out.push_back(text.substr(at, nl - at));
    at = nl + 1;
  }
  return out;
}

TEST(VerbsGdr, ShoalInfoSectionListsEveryPair) {
  REQUIRE_HWLOC();
  DefaultSettings defaults;
  topo::Topology t = topo::loadTopology(fixture("dgx_h100_like.xml"), "");
  ASSERT_TRUE(t.available);
  std::vector<std::string> out = lines(describeGdr(t));
  ASSERT_GE(out.size(), 4u);
  EXPECT_EQ(out[0], "");
  EXPECT_EQ(out[1], "GPUDirect RDMA (verbs):");
  EXPECT_EQ(out[2],
            "  settings: SHOAL_NET_GDR_ENABLE=1 SHOAL_DMABUF_ENABLE=1 SHOAL_NET_GDR_LEVEL=PXB");
  EXPECT_EQ(out[3].rfind("  this host: peer-memory module: ", 0), 0u) << out[3];
  EXPECT_EQ(out[4], "  topology: " + fixture("dgx_h100_like.xml"));
  ASSERT_EQ(out.size(), 6u + 8 * 9) << describeGdr(t);
  EXPECT_EQ(out[5], "  GPU x NIC: path class, method, why");
  size_t row = 6;
  for (size_t g = 0; g < 8; ++g) {
    for (size_t n = 0; n < 9; ++n, ++row) {
      GdrFacts f = gdrFactsForTopologyPair(t, static_cast<int>(g), static_cast<int>(n));
      char head[64];
      snprintf(head, sizeof(head), "    GPU %-2zu %-10s %-4s staging  staging: ", g,
               t.nics[n].name.c_str(), topo::pathClassName(f.path));
      EXPECT_EQ(out[row], head + decideGdr(f).why.substr(9)) << "row " << row;
    }
  }
  EXPECT_EQ(out[6].substr(0, 36), "    GPU 0  mlx5_0     PIX  staging  ");
}

TEST(VerbsGdr, ShoalInfoSectionWithoutPairs) {
  REQUIRE_HWLOC();
  DefaultSettings defaults;
  topo::Topology cpu = topo::loadTopology(fixture("cpu_2socket.xml"), "");
  ASSERT_TRUE(cpu.available);
  std::vector<std::string> out = lines(describeGdr(cpu));
  ASSERT_EQ(out.size(), 6u);
  EXPECT_EQ(out[5],
            "  no GPU x NIC pairs: no GPU in the topology; device memory (if any) is staged");

  topo::Topology none;
  none.why = "built without hwloc";
  out = lines(describeGdr(none));
  ASSERT_EQ(out.size(), 6u);
  EXPECT_EQ(out[5],
            "  no topology (built without hwloc): every GPU-NIC path is unknown, so only "
            "SHOAL_NET_GDR_LEVEL=SYS allows GPUDirect RDMA");

  topo::Topology gpusOnly = topo::loadTopology(fixture("dgx_h100_like.xml"), "");
  gpusOnly.nics.clear();
  gpusOnly.gpuNic.assign(gpusOnly.gpus.size(), {});
  out = lines(describeGdr(gpusOnly));
  ASSERT_EQ(out.size(), 6u);
  EXPECT_EQ(out[5],
            "  no GPU x NIC pairs: no RDMA NIC in the topology; device memory (if any) is staged");
}

// The live transport: needs an RDMA port (Soft-RoCE guests, real HCAs).
bool rdmaPort(std::string* why) {
  PortChoice choice;
  return choosePort(HcaFilter::parse(""), &choice, why);
}

TEST(VerbsGdr, ContextWithoutGpuStagesAndRegistersHostMemory) {
  std::string why;
  if (!rdmaPort(&why)) GTEST_SKIP() << "no RDMA port: " << why;
  if (cuda::available()) GTEST_SKIP() << "this machine has a GPU; see DeviceMemoryOnGpuAndNic";
  VerbsContext ctx(0, 1);
  EXPECT_FALSE(ctx.writesFromDevice(0));
  EXPECT_FALSE(ctx.writesFromDevice(0));  // decided once, same answer
  std::vector<char> host(1 << 16, 1);
  auto buf = ctx.registerMemory(host.data(), host.size());
  EXPECT_EQ(buf->key().addr, reinterpret_cast<uint64_t>(host.data()));
  EXPECT_EQ(buf->key().size, host.size());
}

TEST(VerbsGdr, DeviceMemoryOnGpuAndNic) {
  std::string why;
  if (!cuda::available(&why)) GTEST_SKIP() << why;
  if (!rdmaPort(&why)) {
    GTEST_SKIP() << "no RDMA port (" << why
                 << "): registering GPU memory with ibv_reg_dmabuf_mr or nvidia_peermem needs a "
                    "GPU and an RDMA NIC in one machine, so it is not exercised here";
  }
  VerbsContext ctx(0, 1);
  const size_t bytes = 4u << 20;
  void* dev = cuda::deviceAlloc(bytes);
  char* inside = static_cast<char*>(dev) + 4096 + 100;  // unaligned sub-range
  if (ctx.writesFromDevice(0)) {
    auto buf = ctx.registerMemory(inside, 10000);
    EXPECT_EQ(buf->key().addr, reinterpret_cast<uint64_t>(inside));
    EXPECT_EQ(buf->key().size, 10000u);
    buf.reset();
  } else {
    try {
      ctx.registerMemory(inside, 10000);
      ADD_FAILURE() << "GPU memory registered although the context stages it";
    } catch (const Error& e) {
      EXPECT_EQ(e.code(), shoalInvalidUsage) << e.what();
    }
  }
  cuda::deviceFree(dev);
}

}  // namespace
}  // namespace shoal::transport::verbs

#else
TEST(VerbsGdr, NeedsVerbs) { GTEST_SKIP() << "built without the verbs transport"; }
#endif
