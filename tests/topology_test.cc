// Topology detection and the choices made from it: real detection on this
// machine checked against what sysfs and the kernel say independently, and
// hand-written hwloc XML nodes (tests/topo_fixtures, see make_fixtures.py
// there for their layout) with every path class, NIC pick, GDR decision and
// binding asserted.
#include "topo/topology.h"

#include <dirent.h>
#include <gtest/gtest.h>
#include <sched.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <functional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "core/error.h"
#include "shoal/build_config.h"
#include "shoal/shoal.h"
#include "topo/binding.h"
#include "topo/nic_choice.h"
#include "topo/node_group.h"
#include "topo/path_class.h"
#include "topo/report.h"
#include "transports/device.h"
#include "util/multiprocess.h"

namespace shoal::topo {
namespace {

#define REQUIRE_HWLOC() \
  if (!SHOAL_WITH_HWLOC_ENABLED) GTEST_SKIP() << "built without hwloc"

std::string fixture(const char* name) {
  std::string here = __FILE__;
  return here.substr(0, here.rfind('/')) + "/topo_fixtures/" + name;
}

CpuList range(int first, int last) {
  CpuList out;
  for (int i = first; i <= last; ++i) out.push_back(i);
  return out;
}

CpuList join(CpuList a, const CpuList& b) {
  a.insert(a.end(), b.begin(), b.end());
  std::sort(a.begin(), a.end());
  return a;
}

// "0-3,8,10-11" as the kernel writes CPU lists.
CpuList parseList(const std::string& text) {
  CpuList out;
  size_t i = 0;
  while (i < text.size()) {
    size_t end = text.find(',', i);
    if (end == std::string::npos) end = text.size();
    std::string item = text.substr(i, end - i);
    i = end + 1;
    if (item.empty() || item == "\n") continue;
    size_t dash = item.find('-');
    int lo = atoi(item.c_str());
    int hi = dash == std::string::npos ? lo : atoi(item.c_str() + dash + 1);
    for (int c = lo; c <= hi; ++c) out.push_back(c);
  }
  return out;
}

std::string readLine(const std::string& path) {
  std::ifstream f(path);
  std::string s;
  std::getline(f, s);
  return s;
}

std::vector<std::string> listDir(const std::string& path) {
  std::vector<std::string> out;
  DIR* d = opendir(path.c_str());
  if (!d) return out;
  while (dirent* e = readdir(d)) {
    if (e->d_name[0] != '.') out.push_back(e->d_name);
  }
  closedir(d);
  std::sort(out.begin(), out.end());
  return out;
}

CpuList intersect(const CpuList& a, const CpuList& b) {
  CpuList out;
  for (int x : a) {
    if (std::find(b.begin(), b.end(), x) != b.end()) out.push_back(x);
  }
  return out;
}

CpuList affinity() {
  cpu_set_t set;
  CPU_ZERO(&set);
  EXPECT_EQ(sched_getaffinity(0, sizeof(set), &set), 0) << strerror(errno);
  CpuList out;
  for (int c = 0; c < CPU_SETSIZE; ++c) {
    if (CPU_ISSET(c, &set)) out.push_back(c);
  }
  return out;
}

// Runs fn in a forked child so that process-wide state (the cached system
// topology, the CPU binding, the environment) stays out of the other tests.
// Returns the child's exit code: 0 passed, 1 an expectation failed, 2 threw.
int inChild(const std::function<void()>& fn) {
  pid_t pid = fork();
  if (pid == 0) {
    int code = 0;
    try {
      fn();
      code = testing::Test::HasFailure() ? 1 : 0;
    } catch (const std::exception& e) {
      fprintf(stderr, "child threw: %s\n", e.what());
      code = 2;
    }
    _exit(code);
  }
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  int status = 0;
  while (waitpid(pid, &status, WNOHANG) == 0) {
    if (std::chrono::steady_clock::now() > deadline) {
      kill(pid, SIGKILL);
      waitpid(pid, &status, 0);
      ADD_FAILURE() << "child " << pid << " did not finish within 30 s";
      return -1;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return WIFEXITED(status) ? WEXITSTATUS(status) : -WTERMSIG(status);
}

std::vector<std::string> nicNames(const Topology& t, const std::vector<int>& order) {
  std::vector<std::string> out;
  for (int n : order) out.push_back(t.nics[n].name);
  return out;
}

std::vector<std::string> classNames(const std::vector<PathClass>& cls) {
  std::vector<std::string> out;
  for (auto c : cls) out.push_back(pathClassName(c));
  return out;
}

int nicIndex(const Topology& t, const std::string& name) {
  for (size_t i = 0; i < t.nics.size(); ++i) {
    if (t.nics[i].name == name) return static_cast<int>(i);
  }
  ADD_FAILURE() << "no NIC named " << name;
  return -1;
}

// ---- path classes on their own

TEST(PathClass, NamesParseAndOrder) {
  const char* names[] = {"LOC", "PIX", "PXB", "PHB", "NODE", "SYS"};
  for (int i = 0; i < 6; ++i) {
    PathClass c;
    ASSERT_TRUE(parsePathClass(names[i], &c)) << names[i];
    EXPECT_EQ(static_cast<int>(c), i);
    EXPECT_STREQ(pathClassName(c), names[i]);
    std::string lower = names[i];
    for (auto& ch : lower) ch = static_cast<char>(tolower(ch));
    ASSERT_TRUE(parsePathClass(lower, &c));
    EXPECT_EQ(static_cast<int>(c), i);
  }
  PathClass c = PathClass::kPix;
  EXPECT_FALSE(parsePathClass("", &c));
  EXPECT_FALSE(parsePathClass("PIXX", &c));
  EXPECT_FALSE(parsePathClass("2", &c));
  EXPECT_EQ(c, PathClass::kPix);
  EXPECT_LT(PathClass::kPix, PathClass::kPxb);
  EXPECT_LT(PathClass::kPxb, PathClass::kPhb);
  EXPECT_LT(PathClass::kPhb, PathClass::kNode);
  EXPECT_LT(PathClass::kNode, PathClass::kSys);
}

TEST(PathClass, BridgePairingRules) {
  auto place = [](std::vector<uint64_t> bridges, uint64_t host, std::vector<int> numa, int pkg) {
    PciPlace p;
    p.bridges = std::move(bridges);
    p.hostBridge = host;
    p.numaNodes = std::move(numa);
    p.package = pkg;
    return p;
  };
  // Two functions behind one bridge.
  EXPECT_EQ(classifyPci(place({10, 11}, 1, {0}, 0), place({10, 11}, 1, {0}, 0)), PathClass::kPix);
  // Downstream ports 10 and 20 of the switch whose upstream port is 11.
  EXPECT_EQ(classifyPci(place({10, 11, 12}, 1, {0}, 0), place({20, 11, 12}, 1, {0}, 0)),
            PathClass::kPix);
  // A device right under root port 12, the other behind a switch below it.
  EXPECT_EQ(classifyPci(place({12}, 1, {0}, 0), place({20, 11, 12}, 1, {0}, 0)), PathClass::kPxb);
  // Two root ports of one host bridge.
  EXPECT_EQ(classifyPci(place({12}, 1, {0}, 0), place({13}, 1, {0}, 0)), PathClass::kPhb);
  // Two host bridges: one NUMA node, one package without shared NUMA node, two sockets.
  EXPECT_EQ(classifyPci(place({12}, 1, {0}, 0), place({13}, 2, {0}, 0)), PathClass::kNode);
  EXPECT_EQ(classifyPci(place({12}, 1, {0}, 0), place({13}, 2, {1}, 0)), PathClass::kNode);
  EXPECT_EQ(classifyPci(place({12}, 1, {0}, 0), place({13}, 2, {1}, 1)), PathClass::kSys);
  // No host bridge known (virtual devices): decided by locality alone.
  EXPECT_EQ(classifyPci(place({}, 0, {0}, -1), place({}, 0, {0}, -1)), PathClass::kNode);
  EXPECT_EQ(classifyPci(place({}, 0, {0}, -1), place({}, 0, {1}, -1)), PathClass::kSys);
}

// ---- this machine

// CPUs this process could be given at all: online, and in its cgroup's cpuset
// when the cgroup has one.
CpuList usableCpus() {
  CpuList online = parseList(readLine("/sys/devices/system/cpu/online"));
  std::string cg = readLine("/sys/fs/cgroup/cpuset.cpus.effective");
  return cg.empty() ? online : intersect(online, parseList(cg));
}

TEST(TopologyHere, CpusAndNumaMatchTheKernel) {
  REQUIRE_HWLOC();
  Topology t = loadTopology("", "");
  ASSERT_TRUE(t.available) << t.why;
  EXPECT_TRUE(t.thisSystem);
  EXPECT_EQ(t.source, "this machine");
  CpuList cpus = usableCpus();
  EXPECT_EQ(t.pus, cpus);

  // Cores and packages from each CPU's topology files.
  std::set<std::pair<int, int>> cores;
  std::set<int> packages;
  for (int c : cpus) {
    std::string dir = "/sys/devices/system/cpu/cpu" + std::to_string(c) + "/topology/";
    int pkg = atoi(readLine(dir + "physical_package_id").c_str());
    cores.insert({pkg, atoi(readLine(dir + "core_id").c_str())});
    packages.insert(pkg);
  }
  EXPECT_EQ(t.cores.size(), cores.size());
  EXPECT_EQ(static_cast<size_t>(t.packages), packages.size());
  size_t pusInCores = 0;
  for (const auto& core : t.cores) {
    pusInCores += core.pus.size();
    // Every PU of a core lists the others as its thread siblings.
    std::string dir = "/sys/devices/system/cpu/cpu" + std::to_string(core.pus[0]) + "/topology/";
    EXPECT_EQ(core.pus, intersect(parseList(readLine(dir + "thread_siblings_list")), cpus));
  }
  EXPECT_EQ(pusInCores, cpus.size());

  // NUMA nodes with their CPUs.
  std::vector<int> nodes;
  for (const auto& name : listDir("/sys/devices/system/node")) {
    if (name.rfind("node", 0) == 0 && isdigit(static_cast<unsigned char>(name[4])))
      nodes.push_back(atoi(name.c_str() + 4));
  }
  std::sort(nodes.begin(), nodes.end());
  if (nodes.empty()) nodes.push_back(0);  // kernel without NUMA: hwloc shows one node
  ASSERT_EQ(t.numa.size(), nodes.size());
  for (size_t i = 0; i < nodes.size(); ++i) {
    EXPECT_EQ(t.numa[i].osIndex, nodes[i]);
    std::string list =
        readLine("/sys/devices/system/node/node" + std::to_string(nodes[i]) + "/cpulist");
    if (!list.empty()) {
      EXPECT_EQ(t.numa[i].cpus, intersect(parseList(list), cpus));
    }
  }

  char host[256] = {};
  ASSERT_EQ(gethostname(host, sizeof(host) - 1), 0);
  EXPECT_EQ(t.hostName, host);
  EXPECT_EQ(currentBinding(t), intersect(affinity(), cpus));
}

TEST(TopologyHere, GpusAndNicsMatchSysfs) {
  REQUIRE_HWLOC();
  Topology t = loadTopology("", "");
  ASSERT_TRUE(t.available) << t.why;
  size_t gpus = 0;
  for (const auto& dev : listDir("/sys/bus/pci/devices")) {
    std::string dir = "/sys/bus/pci/devices/" + dev + "/";
    std::string cls = readLine(dir + "class");
    if (readLine(dir + "vendor") == "0x10de" &&
        (cls.rfind("0x0300", 0) == 0 || cls.rfind("0x0302", 0) == 0))
      ++gpus;
  }
  EXPECT_EQ(t.gpus.size(), gpus);
  // RDMA devices backed by a PCI function (Soft-RoCE and siw have none).
  std::vector<std::string> nics;
  for (const auto& dev : listDir("/sys/class/infiniband")) {
    char real[4096] = {};
    std::string link = "/sys/class/infiniband/" + dev + "/device";
    if (realpath(link.c_str(), real) && strstr(real, "/pci")) nics.push_back(dev);
  }
  std::vector<std::string> found;
  for (const auto& n : t.nics) found.push_back(n.name);
  std::sort(found.begin(), found.end());
  EXPECT_EQ(found, nics);
  ASSERT_EQ(t.gpuNic.size(), t.gpus.size());
  for (const auto& row : t.gpuNic) EXPECT_EQ(row.size(), t.nics.size());
}

TEST(TopologyHere, NoNicIsReportedCleanly) {
  REQUIRE_HWLOC();
  Topology t = loadTopology("", "");
  ASSERT_TRUE(t.available) << t.why;
  if (!t.nics.empty()) GTEST_SKIP() << "this machine has RDMA NICs (" << t.nics[0].name << ")";
  NicChoice c = chooseNics(t, 0, {});
  EXPECT_TRUE(c.order.empty());
  EXPECT_TRUE(c.classes.empty());
  EXPECT_EQ(c.why, "no RDMA NIC found in the topology (none found)");
  EXPECT_TRUE(preferredNics(t, 0).empty());
  GdrChoice g = gdrChoice(t, gpuForLocalRank(t, 0), -1, PathClass::kSys);
  EXPECT_FALSE(g.use);
  EXPECT_EQ(g.why, t.gpus.empty() ? "no GPU for this rank" : "no NIC for this rank");
}

TEST(TopologyHere, DumpReloadsToTheSameNode) {
  REQUIRE_HWLOC();
  std::string path = testing::TempDir() + "topology_here_" + std::to_string(getpid()) + ".xml";
  Topology t = loadTopology("", path);
  ASSERT_TRUE(t.available) << t.why;
  Topology back = loadTopology(path, "");
  unlink(path.c_str());
  ASSERT_TRUE(back.available);
  EXPECT_FALSE(back.thisSystem);
  EXPECT_EQ(back.source, path);
  EXPECT_EQ(back.pus, t.pus);
  EXPECT_EQ(back.packages, t.packages);
  ASSERT_EQ(back.numa.size(), t.numa.size());
  for (size_t i = 0; i < t.numa.size(); ++i) EXPECT_EQ(back.numa[i].cpus, t.numa[i].cpus);
  ASSERT_EQ(back.cores.size(), t.cores.size());
  for (size_t i = 0; i < t.cores.size(); ++i) EXPECT_EQ(back.cores[i].pus, t.cores[i].pus);
  EXPECT_EQ(back.gpus.size(), t.gpus.size());
  EXPECT_EQ(back.nics.size(), t.nics.size());
  EXPECT_EQ(back.hostName, t.hostName);
  // A topology read from a file describes some other machine: no binding.
  EXPECT_TRUE(currentBinding(back).empty());
  BindPlan plan{BindMode::kNuma, back.pus, "test"};
  try {
    applyBinding(back, plan);
    ADD_FAILURE() << "binding through a file topology succeeded";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), shoalInvalidUsage);
    EXPECT_NE(std::string(e.what()).find("the topology comes from " + path), std::string::npos)
        << e.what();
  }
}

TEST(TopologyFile, MissingAndBrokenFilesFailWithTheirName) {
  REQUIRE_HWLOC();
  try {
    loadTopology("/nonexistent/topo.xml", "");
    ADD_FAILURE() << "loading a missing file succeeded";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), shoalSystemError);
    EXPECT_STREQ(e.what(),
                 "topology: cannot read SHOAL_TOPO_FILE /nonexistent/topo.xml: No such file or "
                 "directory");
  }
  std::string bad = testing::TempDir() + "topology_bad_" + std::to_string(getpid()) + ".xml";
  {
    std::ofstream f(bad);
    f << "<topology version=\"2.0\"><object type=\"Bogus\"/>\n";
  }
  try {
    loadTopology(bad, "");
    ADD_FAILURE() << "loading a broken file succeeded";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), shoalSystemError);
    EXPECT_NE(std::string(e.what()).find(bad), std::string::npos) << e.what();
  }
  unlink(bad.c_str());
  try {
    loadTopology(fixture("cpu_2socket.xml"), "/nonexistent/dump.xml");
    ADD_FAILURE() << "dumping into a missing directory succeeded";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), shoalSystemError);
    EXPECT_NE(std::string(e.what()).find("cannot write SHOAL_TOPO_DUMP_FILE /nonexistent/dump.xml"),
              std::string::npos)
        << e.what();
  }
}

// ---- fixture: dual-socket CPU-only node

TEST(TopologyCpuNode, CpusNumaAndNics) {
  REQUIRE_HWLOC();
  Topology t = loadTopology(fixture("cpu_2socket.xml"), "");
  ASSERT_TRUE(t.available);
  EXPECT_FALSE(t.thisSystem);
  EXPECT_EQ(t.hostName, "cpu-node-a");
  EXPECT_EQ(t.machineId, "cpu-node-a");
  EXPECT_EQ(t.packages, 2);
  EXPECT_EQ(t.pus, range(0, 15));
  ASSERT_EQ(t.numa.size(), 2u);
  EXPECT_EQ(t.numa[0].osIndex, 0);
  EXPECT_EQ(t.numa[0].package, 0);
  EXPECT_EQ(t.numa[0].cpus, join(range(0, 3), range(8, 11)));
  EXPECT_EQ(t.numa[1].osIndex, 1);
  EXPECT_EQ(t.numa[1].package, 1);
  EXPECT_EQ(t.numa[1].cpus, join(range(4, 7), range(12, 15)));
  ASSERT_EQ(t.cores.size(), 8u);
  for (int c = 0; c < 8; ++c) EXPECT_EQ(t.cores[c].pus, (CpuList{c, c + 8})) << "core " << c;
  EXPECT_TRUE(t.gpus.empty());
  // eno1 is a plain Ethernet port: no OpenFabrics device, so no NIC here.
  ASSERT_EQ(t.nics.size(), 2u);
  EXPECT_EQ(t.nics[0].name, "mlx5_0");
  EXPECT_EQ(t.nics[0].link, "InfiniBand");
  EXPECT_EQ(t.nics[0].netdevs, std::vector<std::string>{"ib0"});
  EXPECT_EQ(t.nics[0].pci.busId, "0000:11:00.0");
  EXPECT_EQ(t.nics[0].pci.numaNodes, std::vector<int>{0});
  EXPECT_EQ(t.nics[0].pci.package, 0);
  EXPECT_EQ(t.nics[0].pci.localCpus, t.numa[0].cpus);
  EXPECT_EQ(t.nics[1].name, "mlx5_1");
  EXPECT_EQ(t.nics[1].pci.busId, "0000:91:00.0");
  EXPECT_EQ(t.nics[1].pci.numaNodes, std::vector<int>{1});
  EXPECT_TRUE(t.gpuNic.empty());
}

TEST(TopologyCpuNode, NicNearestTheRanksCores) {
  REQUIRE_HWLOC();
  Topology t = loadTopology(fixture("cpu_2socket.xml"), "");
  ASSERT_TRUE(t.available);
  // Bound to socket 1: its own NIC first, the other across the socket link.
  NicChoice c = chooseNics(t, 0, {4, 12});
  EXPECT_EQ(c.gpu, -1);
  EXPECT_EQ(nicNames(t, c.order), (std::vector<std::string>{"mlx5_1", "mlx5_0"}));
  EXPECT_EQ(classNames(c.classes), (std::vector<std::string>{"PHB", "SYS"}));
  EXPECT_EQ(c.why, "no GPU; mlx5_1 is nearest to the rank's CPUs 4,12: PHB");
  c = chooseNics(t, 1, {0, 1, 2, 3});
  EXPECT_EQ(nicNames(t, c.order), (std::vector<std::string>{"mlx5_0", "mlx5_1"}));
  EXPECT_EQ(classNames(c.classes), (std::vector<std::string>{"PHB", "SYS"}));
  // Not bound: both are equally near, local ranks take them in turn.
  for (int lr = 0; lr < 4; ++lr) {
    c = chooseNics(t, lr, {});
    EXPECT_EQ(nicNames(t, c.order), lr % 2 == 0 ? (std::vector<std::string>{"mlx5_0", "mlx5_1"})
                                                : (std::vector<std::string>{"mlx5_1", "mlx5_0"}))
        << "local rank " << lr;
    EXPECT_EQ(classNames(c.classes), (std::vector<std::string>{"PHB", "PHB"}));
  }
  EXPECT_EQ(chooseNics(t, 1, {}).why,
            "no GPU; mlx5_1 is nearest to the rank's CPUs 0-15 (not bound): PHB; 2 NICs at PHB, "
            "spread over local ranks");
  GdrChoice g = gdrChoice(t, -1, 0, PathClass::kSys);
  EXPECT_FALSE(g.use);
  EXPECT_EQ(g.why, "no GPU for this rank");
}

TEST(TopologyCpuNode, BindingFollowsTheNic) {
  REQUIRE_HWLOC();
  Topology t = loadTopology(fixture("cpu_2socket.xml"), "");
  ASSERT_TRUE(t.available);
  const CpuList socket0 = join(range(0, 3), range(8, 11));
  const CpuList socket1 = join(range(4, 7), range(12, 15));
  EXPECT_TRUE(planBinding(t, 0, BindMode::kNone).cpus.empty());
  for (int lr = 0; lr < 4; ++lr) {
    EXPECT_EQ(planBinding(t, lr, BindMode::kNuma).cpus, lr % 2 == 0 ? socket0 : socket1) << lr;
  }
  EXPECT_EQ(planBinding(t, 1, BindMode::kNuma).why, "numa: CPUs 4-7,12-15 near NIC mlx5_1");
  const CpuList cores[] = {{0, 8},  {4, 12}, {1, 9},  {5, 13}, {2, 10},
                           {6, 14}, {3, 11}, {7, 15}, {0, 8}};
  for (int lr = 0; lr < 9; ++lr)
    EXPECT_EQ(planBinding(t, lr, BindMode::kCore).cpus, cores[lr]) << "local rank " << lr;
  EXPECT_EQ(planBinding(t, 2, BindMode::kCore).why, "core: PUs 1,9, core 1 of 4 near NIC mlx5_0");
  EXPECT_EQ(planBinding(t, 8, BindMode::kCore).why,
            "core: PUs 0,8, core 0 of 4 near NIC mlx5_0 (more ranks than cores: shared)");
}

// ---- fixture: DGX-H100-like node

const char* const kDgxClasses[8][9] = {
    // mlx5_0 .. mlx5_7 (one per leaf switch), mlx5_8 (storage, socket 0's first host bridge)
    {"PIX", "PXB", "NODE", "NODE", "SYS", "SYS", "SYS", "SYS", "PHB"},
    {"PXB", "PIX", "NODE", "NODE", "SYS", "SYS", "SYS", "SYS", "PHB"},
    {"NODE", "NODE", "PIX", "PXB", "SYS", "SYS", "SYS", "SYS", "NODE"},
    {"NODE", "NODE", "PXB", "PIX", "SYS", "SYS", "SYS", "SYS", "NODE"},
    {"SYS", "SYS", "SYS", "SYS", "PIX", "PXB", "NODE", "NODE", "SYS"},
    {"SYS", "SYS", "SYS", "SYS", "PXB", "PIX", "NODE", "NODE", "SYS"},
    {"SYS", "SYS", "SYS", "SYS", "NODE", "NODE", "PIX", "PXB", "SYS"},
    {"SYS", "SYS", "SYS", "SYS", "NODE", "NODE", "PXB", "PIX", "SYS"},
};

TEST(TopologyDgx, DevicesAndEveryPathClass) {
  REQUIRE_HWLOC();
  Topology t = loadTopology(fixture("dgx_h100_like.xml"), "");
  ASSERT_TRUE(t.available);
  EXPECT_EQ(t.machineId, "dgx-a:3f1e9c6a-0d5b-4c8e-9a47-b1d2e3f40001");
  EXPECT_EQ(t.packages, 2);
  EXPECT_EQ(t.cores.size(), 16u);
  ASSERT_EQ(t.gpus.size(), 8u);
  const char* gpuBus[] = {"0000:1d:00.0", "0000:21:00.0", "0000:3d:00.0", "0000:41:00.0",
                          "0000:5d:00.0", "0000:61:00.0", "0000:7d:00.0", "0000:81:00.0"};
  for (int g = 0; g < 8; ++g) {
    EXPECT_EQ(t.gpus[g].index, g);
    EXPECT_EQ(t.gpus[g].name, "cuda" + std::to_string(g));
    EXPECT_EQ(t.gpus[g].vendor, 0x10deu);
    EXPECT_EQ(t.gpus[g].device, 0x2330u);
    EXPECT_EQ(t.gpus[g].pci.busId, gpuBus[g]);
    EXPECT_EQ(t.gpus[g].pci.numaNodes, std::vector<int>{g / 4});
    EXPECT_EQ(t.gpus[g].pci.bridges.size(), 5u);  // leaf DSP, leaf USP, top DSP, top USP, root port
  }
  // In bus order: the storage NIC sits between socket 0's two host bridges.
  std::vector<std::string> names;
  for (const auto& n : t.nics) names.push_back(n.name);
  EXPECT_EQ(names, (std::vector<std::string>{"mlx5_0", "mlx5_1", "mlx5_8", "mlx5_2", "mlx5_3",
                                             "mlx5_4", "mlx5_5", "mlx5_6", "mlx5_7"}));
  int storage = nicIndex(t, "mlx5_8");
  ASSERT_GE(storage, 0);
  EXPECT_EQ(t.nics[storage].link, "Ethernet");
  EXPECT_EQ(t.nics[storage].netdevs, std::vector<std::string>{"ens8np0"});
  EXPECT_EQ(t.nics[storage].pci.busId, "0000:29:00.0");
  EXPECT_EQ(t.nics[nicIndex(t, "mlx5_3")].link, "InfiniBand");
  EXPECT_EQ(t.nics[nicIndex(t, "mlx5_3")].netdevs, std::vector<std::string>{"ib3"});
  for (int g = 0; g < 8; ++g) {
    for (int n = 0; n < 9; ++n) {
      int idx = nicIndex(t, "mlx5_" + std::to_string(n));
      EXPECT_STREQ(pathClassName(t.gpuNic[g][idx]), kDgxClasses[g][n])
          << "GPU " << g << " - mlx5_" << n;
    }
  }
}

TEST(TopologyDgx, NicPerGpuAndGdrAtTheDefaultLevel) {
  REQUIRE_HWLOC();
  Topology t = loadTopology(fixture("dgx_h100_like.xml"), "");
  ASSERT_TRUE(t.available);
  ASSERT_EQ(unsetenv("SHOAL_NET_GDR_LEVEL"), 0);
  const PathClass level = gdrLevelFromConfig();
  EXPECT_EQ(level, PathClass::kPxb);
  // 16 local ranks: two per GPU, both on the GPU's own NIC.
  for (int lr = 0; lr < 16; ++lr) {
    int g = lr % 8;
    NicChoice c = chooseNics(t, lr, {});
    EXPECT_EQ(c.gpu, g);
    ASSERT_EQ(c.order.size(), 9u);
    EXPECT_EQ(t.nics[c.order[0]].name, "mlx5_" + std::to_string(g)) << "local rank " << lr;
    EXPECT_EQ(c.classes[0], PathClass::kPix);
    EXPECT_EQ(preferredNics(t, lr)[0], "mlx5_" + std::to_string(g));
    // GDR for every pair of this GPU: at most PXB.
    for (int n = 0; n < 9; ++n) {
      int idx = nicIndex(t, "mlx5_" + std::to_string(n));
      GdrChoice gdr = gdrChoice(t, g, idx, level);
      bool want =
          std::string(kDgxClasses[g][n]) == "PIX" || std::string(kDgxClasses[g][n]) == "PXB";
      EXPECT_EQ(gdr.use, want) << "GPU " << g << " - mlx5_" << n;
    }
  }
  EXPECT_EQ(nicNames(t, chooseNics(t, 0, {}).order),
            (std::vector<std::string>{"mlx5_0", "mlx5_1", "mlx5_8", "mlx5_2", "mlx5_3", "mlx5_4",
                                      "mlx5_5", "mlx5_6", "mlx5_7"}));
  EXPECT_EQ(
      classNames(chooseNics(t, 0, {}).classes),
      (std::vector<std::string>{"PIX", "PXB", "PHB", "NODE", "NODE", "SYS", "SYS", "SYS", "SYS"}));
  EXPECT_EQ(nicNames(t, chooseNics(t, 5, {}).order),
            (std::vector<std::string>{"mlx5_5", "mlx5_4", "mlx5_6", "mlx5_7", "mlx5_0", "mlx5_1",
                                      "mlx5_8", "mlx5_2", "mlx5_3"}));
  EXPECT_EQ(chooseNics(t, 5, {}).why, "mlx5_5 is nearest to GPU 5 (cuda5, 0000:61:00.0): PIX");
  EXPECT_EQ(gdrChoice(t, 0, nicIndex(t, "mlx5_1"), level).why,
            "cuda0 and mlx5_1 are PXB apart, within SHOAL_NET_GDR_LEVEL=PXB");
  EXPECT_EQ(gdrChoice(t, 0, nicIndex(t, "mlx5_8"), level).why,
            "cuda0 and mlx5_8 are PHB apart, beyond SHOAL_NET_GDR_LEVEL=PXB");
}

TEST(TopologyDgx, GdrLevelFromTheEnvironment) {
  REQUIRE_HWLOC();
  Topology t = loadTopology(fixture("dgx_h100_like.xml"), "");
  ASSERT_TRUE(t.available);
  int storage = nicIndex(t, "mlx5_8");
  EXPECT_EQ(inChild([&] {
              setenv("SHOAL_NET_GDR_LEVEL", "phb", 1);
              PathClass level = gdrLevelFromConfig();
              EXPECT_EQ(level, PathClass::kPhb);
              EXPECT_TRUE(gdrChoice(t, 1, storage, level).use);
              EXPECT_FALSE(gdrChoice(t, 2, storage, level).use);  // NODE
              setenv("SHOAL_NET_GDR_LEVEL", "LOC", 1);
              level = gdrLevelFromConfig();
              EXPECT_FALSE(gdrChoice(t, 0, nicIndex(t, "mlx5_0"), level).use);  // never
              setenv("SHOAL_NET_GDR_LEVEL", "NEAR", 1);
              try {
                gdrLevelFromConfig();
                ADD_FAILURE() << "SHOAL_NET_GDR_LEVEL=NEAR was accepted";
              } catch (const Error& e) {
                EXPECT_EQ(e.code(), shoalInvalidArgument);
                EXPECT_STREQ(e.what(),
                             "topology: SHOAL_NET_GDR_LEVEL=NEAR is not one of LOC, PIX, PXB, "
                             "PHB, NODE, SYS");
              }
            }),
            0);
}

TEST(TopologyDgx, BindingNearEachGpu) {
  REQUIRE_HWLOC();
  Topology t = loadTopology(fixture("dgx_h100_like.xml"), "");
  ASSERT_TRUE(t.available);
  const CpuList socket0 = join(range(0, 7), range(16, 23));
  const CpuList socket1 = join(range(8, 15), range(24, 31));
  for (int lr = 0; lr < 8; ++lr) {
    EXPECT_EQ(planBinding(t, lr, BindMode::kNuma).cpus, lr < 4 ? socket0 : socket1) << lr;
    // Four GPUs per socket: local ranks 0-3 take socket 0's cores 0-3, 4-7 socket 1's 8-11.
    int core = lr < 4 ? lr : 8 + lr - 4;
    EXPECT_EQ(planBinding(t, lr, BindMode::kCore).cpus, (CpuList{core, core + 16})) << lr;
  }
  // The second rank on GPU 0 is the fifth near socket 0.
  EXPECT_EQ(planBinding(t, 8, BindMode::kCore).cpus, (CpuList{4, 20}));
  EXPECT_EQ(planBinding(t, 6, BindMode::kNuma).why, "numa: CPUs 8-15,24-31 near GPU cuda6");
}

// ---- fixture: one NIC for two GPUs across the socket link

TEST(TopologyAcrossSockets, BothGpusShareTheFarNic) {
  REQUIRE_HWLOC();
  Topology t = loadTopology(fixture("gpu_nic_across_sockets.xml"), "");
  ASSERT_TRUE(t.available);
  ASSERT_EQ(t.gpus.size(), 2u);
  // No CUDA/NVML devices in this file: named by bus id, numbered in bus order.
  EXPECT_EQ(t.gpus[0].index, 0);
  EXPECT_EQ(t.gpus[0].name, "0000:93:00.0");
  EXPECT_EQ(t.gpus[1].index, 1);
  EXPECT_EQ(t.gpus[1].name, "0000:94:00.0");
  ASSERT_EQ(t.nics.size(), 1u);
  EXPECT_EQ(t.nics[0].name, "mlx5_0");
  EXPECT_EQ(t.gpuNic, (std::vector<std::vector<PathClass>>{{PathClass::kSys}, {PathClass::kSys}}));
  for (int lr = 0; lr < 2; ++lr) {
    NicChoice c = chooseNics(t, lr, {});
    EXPECT_EQ(c.gpu, lr);
    EXPECT_EQ(nicNames(t, c.order), std::vector<std::string>{"mlx5_0"});
    EXPECT_EQ(classNames(c.classes), std::vector<std::string>{"SYS"});
    GdrChoice g = gdrChoice(t, lr, 0, PathClass::kPxb);
    EXPECT_FALSE(g.use);
    EXPECT_EQ(g.path, PathClass::kSys);
    EXPECT_TRUE(gdrChoice(t, lr, 0, PathClass::kSys).use);
  }
  EXPECT_EQ(chooseNics(t, 1, {}).why, "mlx5_0 is nearest to GPU 1 (0000:94:00.0): SYS");
  EXPECT_EQ(gdrChoice(t, 0, 0, PathClass::kPxb).why,
            "0000:93:00.0 and mlx5_0 are SYS apart, beyond SHOAL_NET_GDR_LEVEL=PXB");
  // Binding goes with the GPU (socket 1), not with the NIC.
  const CpuList socket1 = join(range(4, 7), range(12, 15));
  EXPECT_EQ(planBinding(t, 0, BindMode::kNuma).cpus, socket1);
  EXPECT_EQ(planBinding(t, 1, BindMode::kNuma).cpus, socket1);
  EXPECT_EQ(planBinding(t, 0, BindMode::kCore).cpus, (CpuList{4, 12}));
  EXPECT_EQ(planBinding(t, 1, BindMode::kCore).cpus, (CpuList{5, 13}));
}

// ---- node grouping

TEST(NodeGrouping, KeysFromTopologiesGroupRanks) {
  REQUIRE_HWLOC();
  Topology dgx = loadTopology(fixture("dgx_h100_like.xml"), "");
  Topology cpu = loadTopology(fixture("cpu_2socket.xml"), "");
  Topology far = loadTopology(fixture("gpu_nic_across_sockets.xml"), "");
  EXPECT_EQ(
      inChild([&] {
        unsetenv("SHOAL_HOST_ID");
        EXPECT_EQ(nodeKey(dgx), "dgx-a:3f1e9c6a-0d5b-4c8e-9a47-b1d2e3f40001");
        EXPECT_EQ(nodeKey(cpu), "cpu-node-a");
        // Ranks interleaved over three nodes, as a launcher may place them.
        std::vector<std::string> keys = {nodeKey(dgx), nodeKey(cpu), nodeKey(dgx), nodeKey(far),
                                         nodeKey(cpu), nodeKey(dgx), nodeKey(far)};
        EXPECT_EQ(nodeOfRanks(keys), (std::vector<int>{0, 1, 0, 2, 1, 0, 2}));
        EXPECT_EQ(ranksByNode(keys), (std::vector<std::vector<int>>{{0, 2, 5}, {1, 4}, {3, 6}}));
        EXPECT_EQ(localRanks(keys), (std::vector<int>{0, 0, 1, 0, 1, 2, 1}));
        // SHOAL_HOST_ID wins over what the topology says.
        setenv("SHOAL_HOST_ID", "fake-node-7", 1);
        EXPECT_EQ(nodeKey(dgx), "fake-node-7");
      }),
      0);
  EXPECT_TRUE(nodeOfRanks({}).empty());
  EXPECT_EQ(ranksByNode({"a"}), (std::vector<std::vector<int>>{{0}}));
}

// ---- process-wide: SHOAL_TOPO_FILE, SHOAL_TOPO_DUMP_FILE, communicator init

TEST(SystemTopology, FileAndDumpFromTheEnvironment) {
  REQUIRE_HWLOC();
  std::string dump = testing::TempDir() + "topology_dump_" + std::to_string(getpid()) + ".xml";
  EXPECT_EQ(inChild([&] {
              setenv("SHOAL_TOPO_FILE", fixture("dgx_h100_like.xml").c_str(), 1);
              setenv("SHOAL_TOPO_DUMP_FILE", dump.c_str(), 1);
              setenv("SHOAL_LOCAL_RANK", "6", 1);
              const Topology& t = systemTopology();
              ASSERT_TRUE(t.available) << t.why;
              EXPECT_EQ(t.source, fixture("dgx_h100_like.xml"));
              EXPECT_EQ(t.gpus.size(), 8u);
              EXPECT_EQ(localRankHint(), 6);
              EXPECT_EQ(preferredNicsForThisProcess(),
                        (std::vector<std::string>{"mlx5_6", "mlx5_7", "mlx5_4", "mlx5_5", "mlx5_0",
                                                  "mlx5_1", "mlx5_8", "mlx5_2", "mlx5_3"}));
              // The communicator's own count wins over SHOAL_LOCAL_RANK.
              onCommInit({"a", "b", "a", "a"}, 3);
              EXPECT_EQ(localRankHint(), 2);
              EXPECT_EQ(preferredNicsForThisProcess()[0], "mlx5_2");
              Topology back = loadTopology(dump, "");
              EXPECT_EQ(back.gpus.size(), 8u);
              EXPECT_EQ(back.nics.size(), 9u);
              EXPECT_EQ(back.gpuNic, t.gpuNic);
              EXPECT_EQ(back.machineId, t.machineId);
            }),
            0);
  unlink(dump.c_str());
  EXPECT_EQ(inChild([&] {
              setenv("SHOAL_TOPO_FILE", "/nonexistent/topo.xml", 1);
              const Topology& t = systemTopology();
              EXPECT_FALSE(t.available);
              EXPECT_EQ(t.why,
                        "topology unavailable: topology: cannot read SHOAL_TOPO_FILE "
                        "/nonexistent/topo.xml: No such file or directory");
              EXPECT_TRUE(preferredNicsForThisProcess().empty());
            }),
            0);
}

TEST(SystemTopology, CommInitRejectsUnknownSettings) {
  EXPECT_EQ(inChild([&] {
              setenv("SHOAL_BIND", "sometimes", 1);
              try {
                onCommInit({"h", "h"}, 1);
                ADD_FAILURE() << "SHOAL_BIND=sometimes was accepted";
              } catch (const Error& e) {
                EXPECT_EQ(e.code(), shoalInvalidArgument);
                EXPECT_STREQ(e.what(),
                             "rank 1: init: SHOAL_BIND=sometimes is not one of none, numa, core");
              }
              setenv("SHOAL_BIND", "none", 1);
              setenv("SHOAL_NET_GDR_LEVEL", "FAR", 1);
              try {
                onCommInit({"h", "h"}, 0);
                ADD_FAILURE() << "SHOAL_NET_GDR_LEVEL=FAR was accepted";
              } catch (const Error& e) {
                EXPECT_EQ(e.code(), shoalInvalidArgument);
                EXPECT_STREQ(e.what(),
                             "rank 0: init: SHOAL_NET_GDR_LEVEL=FAR is not one of LOC, PIX, PXB, "
                             "PHB, NODE, SYS");
              }
            }),
            0);
}

TEST(SystemTopology, CommInitBindsToOneCore) {
  REQUIRE_HWLOC();
  EXPECT_EQ(inChild([&] {
              setenv("SHOAL_BIND", "core", 1);
              unsetenv("SHOAL_TOPO_FILE");
              onCommInit({"h", "h", "h"}, 1);
              const Topology& t = systemTopology();
              BindPlan plan = planBinding(t, 1, BindMode::kCore);
              ASSERT_FALSE(plan.cpus.empty()) << plan.why;
              EXPECT_EQ(affinity(), plan.cpus) << plan.why;
              EXPECT_EQ(currentBinding(t), plan.cpus);
              // Exactly the hardware threads of one core, per the kernel.
              std::string siblings =
                  readLine("/sys/devices/system/cpu/cpu" + std::to_string(plan.cpus[0]) +
                           "/topology/thread_siblings_list");
              EXPECT_EQ(plan.cpus, intersect(parseList(siblings), usableCpus()));
              // Local rank 1 takes the second core near its device when there is one.
              if (t.cores.size() >= 2 && t.gpus.empty() && t.nics.empty() && t.numa.size() == 1) {
                EXPECT_EQ(plan.cpus, t.cores[1].pus);
              }
            }),
            0);
}

// The hook in commCreate: two real ranks over shared memory bind themselves.
TEST(SystemTopology, CommunicatorInitBindsEachRank) {
  REQUIRE_HWLOC();
  auto* shm = transport::findDevice("shm");
  std::string why;
  if (!shm || !shm->usable(&why)) GTEST_SKIP() << "shm transport not usable: " << why;
  if (getenv("SHOAL_HOST_ID")) GTEST_SKIP() << "shm needs one host";
  test::MultiProcessOptions opts;
  opts.timeoutSeconds = 60;
  opts.env["SHOAL_TRANSPORT"] = "shm";
  opts.env["SHOAL_BIND"] = "core";
  auto results = test::runRanks(
      2,
      [&](int rank, int n, const shoalUniqueId& id) {
        shoalComm_t comm = nullptr;
        ASSERT_EQ(shoalCommInitRank(&comm, n, id, rank), shoalSuccess)
            << shoalGetLastError(nullptr);
        BindPlan plan = planBinding(systemTopology(), rank, BindMode::kCore);
        EXPECT_EQ(affinity(), plan.cpus) << "rank " << rank << ": " << plan.why;
        const Topology& t = systemTopology();
        if (t.cores.size() >= 2 && t.gpus.empty() && t.nics.empty() && t.numa.size() == 1) {
          EXPECT_EQ(plan.cpus, t.cores[rank].pus);
        }
        int data = rank + 1, sum = 0;
        ASSERT_EQ(shoalAllReduce(&data, &sum, 1, shoalInt32, shoalSum, comm, nullptr), shoalSuccess)
            << shoalGetLastError(nullptr);
        EXPECT_EQ(sum, 3);
        EXPECT_EQ(shoalCommDestroy(comm), shoalSuccess);
      },
      opts);
  test::expectAllRanksPassed(results);
}

// ---- shoal-info --topo

TEST(TopologyReport, MatrixAndChoicesPerLocalRank) {
  REQUIRE_HWLOC();
  Topology t = loadTopology(fixture("dgx_h100_like.xml"), "");
  ASSERT_TRUE(t.available);
  EXPECT_EQ(
      inChild([&] {
        unsetenv("SHOAL_HOST_ID");
        unsetenv("SHOAL_IB_HCA");
        unsetenv("SHOAL_NET_GDR_LEVEL");
        setenv("SHOAL_BIND", "numa", 1);
        std::string r = describe(t, 9);
        const char* lines[] = {
            "  node key dgx-a:3f1e9c6a-0d5b-4c8e-9a47-b1d2e3f40001\n",
            "  2 package(s), 2 NUMA node(s), 16 core(s), 32 PU(s)\n",
            "    GPU 5  cuda5          0000:61:00.0 [10de:2330] NUMA 1\n",
            "    mlx5_8     Ethernet     0000:29:00.0 NUMA 0 netdev ens8np0\n",
            "           mlx5_0 mlx5_1 mlx5_8 mlx5_2 mlx5_3 mlx5_4 mlx5_5 mlx5_6 mlx5_7\n",
            "    GPU 0  PIX    PXB    PHB    NODE   NODE   SYS    SYS    SYS    SYS\n",
            "    GPU 7  SYS    SYS    SYS    SYS    SYS    NODE   NODE   PXB    PIX\n",
            "  Choices per local rank (9; SHOAL_NET_GDR_LEVEL=PXB, SHOAL_BIND=numa):\n",
            "    local rank 8: GPU 0 (cuda0)\n"
            "      NIC: mlx5_0 is nearest to GPU 0 (cuda0, 0000:1d:00.0): PIX\n"
            "      GDR: yes (cuda0 and mlx5_0 are PIX apart, within SHOAL_NET_GDR_LEVEL=PXB)\n"
            "      binding: numa: CPUs 0-7,16-23 near GPU cuda0\n",
        };
        for (const char* l : lines) EXPECT_NE(r.find(l), std::string::npos) << l << r;
        setenv("SHOAL_IB_HCA", "mlx5_3", 1);
        EXPECT_NE(describe(t, 1).find("      NIC: SHOAL_IB_HCA=mlx5_3 (topology not consulted)\n"),
                  std::string::npos);
        setenv("SHOAL_BIND", "everywhere", 1);
        EXPECT_NE(describe(t, 1).find("  choices: topology: SHOAL_BIND=everywhere is not one of "
                                      "none, numa, core\n"),
                  std::string::npos);
      }),
      0);
  Topology none;
  none.source = "this machine";
  none.why = "topology unavailable: built without hwloc";
  EXPECT_EQ(describe(none, 1),
            "\nTopology (this machine):\n  topology unavailable: built without hwloc\n"
            "  choices: verbs takes the first active port (or SHOAL_IB_HCA); no binding; no GDR\n");
}

// ---- without hwloc

TEST(TopologyWithoutHwloc, UnavailableAndChoicesFallBack) {
  if (SHOAL_WITH_HWLOC_ENABLED) GTEST_SKIP() << "built with hwloc";
  Topology t = loadTopology("", "");
  EXPECT_FALSE(t.available);
  EXPECT_EQ(t.why, "topology unavailable: built without hwloc");
  EXPECT_EQ(loadTopology(fixture("cpu_2socket.xml"), "").why,
            "topology unavailable: built without hwloc (SHOAL_TOPO_FILE and "
            "SHOAL_TOPO_DUMP_FILE are ignored)");
  NicChoice c = chooseNics(t, 0, {});
  EXPECT_TRUE(c.order.empty());
  EXPECT_EQ(c.why, "topology unavailable: built without hwloc");
  EXPECT_TRUE(preferredNics(t, 0).empty());
  EXPECT_FALSE(gdrChoice(t, -1, -1, PathClass::kSys).use);
  BindPlan b = planBinding(t, 0, BindMode::kCore);
  EXPECT_TRUE(b.cpus.empty());
  EXPECT_EQ(b.why, "topology unavailable: built without hwloc");
  EXPECT_EQ(inChild([] {
              setenv("SHOAL_BIND", "numa", 1);
              onCommInit({"h"}, 0);  // warns, does not throw
              EXPECT_TRUE(preferredNicsForThisProcess().empty());
            }),
            0);
}

}  // namespace
}  // namespace shoal::topo
