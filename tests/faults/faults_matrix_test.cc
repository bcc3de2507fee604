// The fault matrix: real rank processes over a real transport, one fault per
// case: a rank SIGKILLed at a precise phase (bootstrap, connect, the reducing
// and the distributing half of each algorithm, a parameter-server worker's or
// server's push and pull), a rank that stops reading (SIGSTOP), a malformed
// control message, and hostile connections at the bootstrap root (random
// bytes, a wrong secret, a port scan, a truncated hello). Every surviving rank
// must return the expected error, naming the rank at fault, within the
// deadline: no hang, no crash, no wrong result.
//
// Each case is its own test, named <transport>_<case>, so one transport's
// cases run with --gtest_filter (the rxe guest runs 'Matrix/Faults.Case/verbs_*').
// The outcomes go to <dir>/rows/<filter>.tsv and every run rewrites
// <dir>/FAULTS.md from all rows files there (dir: SHOAL_FAULTS_DIR, default
// this test's build folder); MatrixReport.Rebuild rewrites it alone (after
// the guest's rows were copied in).
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <map>
#include <mutex>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "core/bootstrap.h"
#include "core/bootstrap_wire.h"
#include "core/error.h"
#include "matrix_report.h"
#include "shoal/ps.h"
#include "topo/topology.h"
#include "util/fault_case.h"
#include "util/multiprocess.h"

#ifndef SHOAL_FAULTS_BUILD_DIR
#define SHOAL_FAULTS_BUILD_DIR "."
#endif

namespace {

constexpr int kRanks = 4;
constexpr int kCalls = 3;             // collectives each rank attempts
constexpr double kTimeout = 5.0;      // SHOAL_TIMEOUT for kill cases
constexpr double kStopTimeout = 2.0;  // SHOAL_TIMEOUT where a peer stops reading
// Init over verbs in the emulated guest takes 3-5 s on a quiet host and was
// seen past 20 s on a busy one; this deadline bounds init there. No survivor
// waits on it: a killed peer is noticed within a second.
constexpr double kVerbsTimeout = 90.0;
constexpr double kSlack = 1.0;  // see Case::slack
constexpr double kGuestSlack = 3.0;
constexpr size_t kCount = 3000;  // int32 elements per allreduce, float32 per PS round
// PS cases: ranks below this are workers, the others servers; 4 KiB
// partitions put the key on both servers.
constexpr int kPsWorkers = 2;
constexpr size_t kPsPartitionBytes = 4096;

enum class Fault { kKill, kStop, kCorruptCtrl, kGarbage, kWrongSecret, kPortScan, kTruncatedHello };

struct Case {
  std::string transport;
  std::string algorithm;  // "" for automatic
  Fault fault;
  std::string phase;  // kill/stop phase
  int victim = -1;    // rank at fault (-1: none)
  // "ps": sync mode; "psasync": async, where the other workers go on.
  bool ps() const { return algorithm == "ps" || algorithm == "psasync"; }
  bool psAsync() const { return algorithm == "psasync"; }
  bool psServer(int rank) const { return ps() && rank >= kPsWorkers; }
  std::string name() const {
    static const char* kFault[] = {"kill",        "stop",     "badctrl",       "garbage",
                                   "wrongsecret", "portscan", "truncatedhello"};
    std::string n = transport + "_" + kFault[static_cast<int>(fault)];
    if (!algorithm.empty()) n += "_" + algorithm;
    if (!phase.empty()) n += "_" + phase;
    if (ps() && victim >= 0) n += psServer(victim) ? "_server" : "_worker";
    if (victim >= 0) n += "_r" + std::to_string(victim);
    return n;
  }
  // SHOAL_TIMEOUT, which bounds init too (slow in the emulated guest).
  double initTimeout() const { return transport == "verbs" ? kVerbsTimeout : kTimeout; }
  // The deadline of the calls that meet the fault: short where the peer
  // stops, as only the deadline can end that wait.
  double timeout() const { return fault == Fault::kStop ? kStopTimeout : initTimeout(); }
  // How far past its deadline a survivor may return: the work before the
  // call's first wait and the way out after it. The guest's emulated CPUs
  // stall while the host is busy: survivors of a 2 s deadline took 3.3 s
  // there at host load 19.
  double slack() const { return transport == "verbs" ? kGuestSlack : kSlack; }
};

// Every rank killed as it pushes and as it pulls in sync mode (the workers
// and the servers), and each worker killed as it pushes and as it pulls in
// async mode.
void addPsCases(const std::string& t, std::vector<Case>* cases) {
  for (const char* phase : {"push", "pull"}) {
    for (int v = 0; v < kRanks; ++v) cases->push_back({t, "ps", Fault::kKill, phase, v});
  }
  for (const char* phase : {"push", "pull"}) {
    for (int v = 0; v < kPsWorkers; ++v) cases->push_back({t, "psasync", Fault::kKill, phase, v});
  }
}

// The same grid for every transport: every rank killed at every phase of
// every algorithm and of the parameter server, a peer stopped in each half
// of the ring and in the tree's way down, a malformed control message. verbs
// runs in the Soft-RoCE guest (tests/rxe, suite faults).
std::vector<Case> allCases() {
  std::vector<Case> cases;
  for (const char* t : {"shm", "ucx", "verbs"}) {
    for (const char* phase : {"bootstrap", "connect"}) {
      for (int v = 0; v < kRanks; ++v) cases.push_back({t, "ring", Fault::kKill, phase, v});
    }
    struct AlgoPhases {
      const char* algo;
      const char* reduce;
      const char* gather;
    };
    std::vector<AlgoPhases> algos = {{"ring", "reducescatter", "allgather"},
                                     {"tree", "up", "down"},
                                     {"rhd", "reducescatter", "allgather"}};
    // hier needs ranks on several (fake) hosts, which shm cannot connect.
    if (std::string(t) != "shm") algos.push_back({"hier", "reducescatter", "allgather"});
    for (const auto& a : algos) {
      for (const char* phase : {a.reduce, a.gather}) {
        for (int v = 0; v < kRanks; ++v) cases.push_back({t, a.algo, Fault::kKill, phase, v});
      }
    }
    cases.push_back({t, "ring", Fault::kStop, "reducescatter", 1});
    cases.push_back({t, "ring", Fault::kStop, "allgather", 3});
    cases.push_back({t, "tree", Fault::kStop, "down", 0});
    cases.push_back({t, "ring", Fault::kCorruptCtrl, "", 2});
    addPsCases(t, &cases);
  }
  // Hostile connections end at the bootstrap root, before any transport is
  // chosen: the same code whatever the transport.
  for (Fault f : {Fault::kGarbage, Fault::kWrongSecret, Fault::kPortScan, Fault::kTruncatedHello})
    cases.push_back({"shm", "ring", f, "", -1});
  return cases;
}

// What each rank reports, in memory shared with the test process.
struct Slot {
  pid_t pid;
  int code;         // shoalResult_t of the first failure, 0 if none, -2 wrong result
  int call;         // 0 init, 1..kCalls the collective that failed, kCalls+1 finalize
  double secs;      // from the start of that call to its return
  int deadWorkers;  // a PS server's count at finalize
  char msg[768];
  char leaks[256];  // what the rank still held after destroy/abort/finalize, "" if nothing
};
struct Shared {
  Slot slot[kRanks];
  std::atomic<int> finished;
};

std::mutex rowsMutex;
std::vector<shoal::test::MatrixRow> rows;

// True when msg names rank v: "rank v", "peer v" or a rank list holding v.
bool namesRank(const std::string& msg, int v) {
  std::string n = std::to_string(v);
  for (const char* word : {"rank ", "peer ", "peer rank "}) {
    size_t pos = 0;
    std::string needle = word + n;
    while ((pos = msg.find(needle, pos)) != std::string::npos) {
      size_t end = pos + needle.size();
      if (end >= msg.size() || !isdigit(static_cast<unsigned char>(msg[end]))) return true;
      pos = end;
    }
  }
  for (size_t open = msg.find('{'); open != std::string::npos; open = msg.find('{', open + 1)) {
    size_t close = msg.find('}', open);
    if (close == std::string::npos) break;
    std::stringstream list(msg.substr(open + 1, close - open - 1));
    std::string item;
    while (std::getline(list, item, ',')) {
      if (item == n) return true;
    }
  }
  return false;
}

const char* codeName(int code) {
  switch (code) {
    case shoalSuccess:
      return "Success";
    case shoalSystemError:
      return "SystemError";
    case shoalInternalError:
      return "InternalError";
    case shoalInvalidArgument:
      return "InvalidArgument";
    case shoalInvalidUsage:
      return "InvalidUsage";
    case shoalRemoteError:
      return "RemoteError";
    case shoalTimeout:
      return "Timeout";
    case -2:
      return "WRONG RESULT";
    default:
      return "other";
  }
}

int connectTo(const shoal::UniqueIdData& id) {
  sockaddr_storage ss{};
  socklen_t len = 0;
  if (id.family == AF_INET) {
    auto* a = reinterpret_cast<sockaddr_in*>(&ss);
    a->sin_family = AF_INET;
    a->sin_port = id.port;
    memcpy(&a->sin_addr, id.addr, 4);
    len = sizeof(*a);
  } else {
    auto* a = reinterpret_cast<sockaddr_in6*>(&ss);
    a->sin6_family = AF_INET6;
    a->sin6_port = id.port;
    memcpy(&a->sin6_addr, id.addr, 16);
    len = sizeof(*a);
  }
  int fd = socket(id.family, SOCK_STREAM, 0);
  if (fd < 0) return -1;
  if (connect(fd, reinterpret_cast<sockaddr*>(&ss), len) != 0) {
    close(fd);
    return -1;
  }
  return fd;
}

// Hostile traffic at the rendezvous root before the ranks join.
void attackRoot(Fault f, const shoalUniqueId& uid) {
  shoal::UniqueIdData id;
  memcpy(&id, uid.internal, sizeof(id));
  std::mt19937 rng(1234);
  auto sendAll = [](int fd, const std::vector<uint8_t>& b) {
    size_t off = 0;
    while (off < b.size()) {
      ssize_t n = send(fd, b.data() + off, b.size() - off, MSG_NOSIGNAL);
      if (n <= 0) return;
      off += static_cast<size_t>(n);
    }
  };
  if (f == Fault::kPortScan) {
    for (int i = 0; i < 32; ++i) {
      int fd = connectTo(id);
      if (fd >= 0) close(fd);
    }
    return;
  }
  int fd = connectTo(id);
  ASSERT_GE(fd, 0) << "cannot reach the bootstrap root";
  std::vector<uint8_t> bytes;
  if (f == Fault::kGarbage) {
    bytes.resize(4096);
    for (auto& b : bytes) b = static_cast<uint8_t>(rng());
  } else {
    shoal::wire::Writer w;
    w.u32(shoal::wire::kHelloMagic);
    uint8_t secret[shoal::wire::kSecretBytes];
    memcpy(secret, id.secret, sizeof(secret));
    if (f == Fault::kWrongSecret) secret[7] ^= 0x5a;
    w.raw(secret, sizeof(secret));
    // A hello body claiming rank 0 of 4, cut short for kTruncatedHello.
    w.u32(shoal::wire::kVersion);
    w.i32(0);
    w.i32(kRanks);
    if (f == Fault::kWrongSecret) {
      w.u16(AF_INET);
      w.u16(1);
      uint8_t addr[16] = {127, 0, 0, 1};
      w.raw(addr, sizeof(addr));
      w.u32(1);
      w.u16(4);
      w.u16(0);
      w.str("evil");
    }
    bytes = w.bytes();
  }
  sendAll(fd, bytes);
  close(fd);
}

void record(Slot& s, int code, int call, double secs, const std::string& msg) {
  s.code = code;
  s.call = call;
  s.secs = secs;
  snprintf(s.msg, sizeof(s.msg), "%s", msg.c_str());
}

// What worker w pushes in call c.
float psGrad(int w, int c, size_t i) {
  return static_cast<float>((w + 1) * (c + static_cast<int>(i % 97)));
}

// Sync: kCalls push_pull rounds, each checked element by element.
void syncWorker(Slot& s, shoalPs_t ps, int rank) {
  std::vector<float> grad(kCount), out(kCount);
  for (int call = 1; call <= kCalls; ++call) {
    for (size_t i = 0; i < kCount; ++i) grad[i] = psGrad(rank, call, i);
    auto t0 = std::chrono::steady_clock::now();
    shoalPsHandle_t h;
    shoalResult_t r = shoalPsPushPull(ps, 1, grad.data(), out.data(), kCount, shoalFloat32, &h);
    if (r == shoalSuccess) r = shoalPsWait(ps, h, nullptr);
    if (r != shoalSuccess) {
      record(s, r, call, shoal::test::secondsSince(t0), shoalPsGetLastError(ps));
      return;
    }
    for (size_t i = 0; i < kCount; ++i) {
      float sum = 0;
      for (int w = 0; w < kPsWorkers; ++w) sum += psGrad(w, call, i);
      if (out[i] != sum) {
        record(s, -2, call, shoal::test::secondsSince(t0),
               "push_pull returned success with a wrong result");
        return;
      }
    }
    record(s, 0, call, shoal::test::secondsSince(t0), "");
  }
}

// Async: kCalls pushes, then pulls (call kCalls+1) until every accepted
// push is in: the survivors' and what the victim pushed before it died (one
// push when killed at its second, all when killed at its first pull). The
// value must be exactly their sum.
void asyncWorker(const Case& c, Slot& s, shoalPs_t ps, int rank) {
  std::vector<float> grad(kCount), out(kCount);
  for (int call = 1; call <= kCalls; ++call) {
    for (size_t i = 0; i < kCount; ++i) grad[i] = psGrad(rank, call, i);
    auto t0 = std::chrono::steady_clock::now();
    shoalPsHandle_t h;
    shoalResult_t r = shoalPsPush(ps, 1, grad.data(), kCount, shoalFloat32, &h);
    if (r == shoalSuccess) r = shoalPsWait(ps, h, nullptr);
    record(s, r, call, shoal::test::secondsSince(t0),
           r == shoalSuccess ? "" : shoalPsGetLastError(ps));
    if (r != shoalSuccess) return;
  }
  const int victimPushes = c.phase == "push" ? 1 : kCalls;
  const uint64_t want = static_cast<uint64_t>((kPsWorkers - 1) * kCalls + victimPushes);
  auto t0 = std::chrono::steady_clock::now();
  auto deadline = t0 + std::chrono::duration<double>(c.timeout());
  uint64_t version = 0;
  shoalResult_t r = shoalSuccess;
  while (r == shoalSuccess && version < want && std::chrono::steady_clock::now() < deadline) {
    shoalPsHandle_t h;
    r = shoalPsPull(ps, 1, out.data(), kCount, shoalFloat32, &h);
    if (r == shoalSuccess) r = shoalPsWait(ps, h, &version);
    if (version < want) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  double secs = shoal::test::secondsSince(t0);
  if (r != shoalSuccess) {
    record(s, r, kCalls + 1, secs, shoalPsGetLastError(ps));
    return;
  }
  if (version != want) {
    record(s, shoalTimeout, kCalls + 1, secs,
           "pulled version " + std::to_string(version) + ", want " + std::to_string(want));
    return;
  }
  for (size_t i = 0; i < kCount; ++i) {
    float sum = 0;
    for (int w = 0; w < kPsWorkers; ++w) {
      for (int call = 1; call <= (w == c.victim ? victimPushes : kCalls); ++call)
        sum += psGrad(w, call, i);
    }
    if (out[i] != sum) {
      record(s, -2, kCalls + 1, secs, "pull returned a wrong value after the worker died");
      return;
    }
  }
  record(s, 0, kCalls + 1, secs, "");
}

void runPsRole(const Case& c, Slot& s, int rank, int n, const shoalUniqueId& id,
               const shoalPsOptions& o);

// A PS rank: workers run syncWorker or asyncWorker on one key; servers serve
// until every worker finalized or died. What the rank holds afterwards, beyond
// what it held before init, is a leak.
void runPsRank(const Case& c, Slot& s, int rank, int n, const shoalUniqueId& id) {
  shoalPsOptions o{};
  o.mode = c.psAsync() ? shoalPsAsync : shoalPsSync;
  o.update = shoalPsUpdateSum;
  o.partitionBytes = kPsPartitionBytes;
  o.timeoutSeconds = c.timeout();
  const shoal::test::ProcessResources before = shoal::test::processResources();
  runPsRole(c, s, rank, n, id, o);
  snprintf(s.leaks, sizeof(s.leaks), "%s", shoal::test::leakedSince(before, 2.0).c_str());
}

// Init, the worker's or server's part, finalize.
void runPsRole(const Case& c, Slot& s, int rank, int n, const shoalUniqueId& id,
               const shoalPsOptions& o) {
  const bool server = c.psServer(rank);
  auto t0 = std::chrono::steady_clock::now();
  shoalPs_t ps = nullptr;
  shoalResult_t r =
      shoalPsInitRank(&ps, n, id, rank, server ? shoalPsRoleServer : shoalPsRoleWorker, &o);
  if (r != shoalSuccess) {
    record(s, r, 0, shoal::test::secondsSince(t0), shoalPsGetLastError(nullptr));
    return;
  }
  if (server) {
    // Where a worker dies the server must count it (the stats are gone after
    // finalize, so they are read before, waiting at most the deadline).
    const int wantDead = c.psServer(c.victim) ? 0 : 1;
    auto deadline =
        std::chrono::steady_clock::now() + std::chrono::duration<double>(c.timeout() * 3);
    shoalPsServerStats stats{};
    while ((r = shoalPsGetServerStats(ps, &stats)) == shoalSuccess &&
           stats.deadWorkers < wantDead && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    s.deadWorkers = stats.deadWorkers;
    // Finalize returns once every worker said goodbye or was seen dead.
    t0 = std::chrono::steady_clock::now();
    if (r == shoalSuccess) r = shoalPsFinalize(ps);
    record(s, r, kCalls + 1, shoal::test::secondsSince(t0),
           r == shoalSuccess ? "" : shoalPsGetLastError(nullptr));
    return;
  }
  if (c.psAsync()) {
    asyncWorker(c, s, ps, rank);
  } else {
    syncWorker(s, ps, rank);
  }
  t0 = std::chrono::steady_clock::now();
  r = shoalPsFinalize(ps);
  if (r != shoalSuccess && s.code == 0)
    record(s, r, kCalls + 1, shoal::test::secondsSince(t0), shoalPsGetLastError(nullptr));
}

void runRank(const Case& c, Shared* sh, int rank, int n, const shoalUniqueId& id) {
  Slot& s = sh->slot[rank];
  s.pid = getpid();
  s.code = 0;
  s.call = -1;
  s.secs = 0;
  s.deadWorkers = -1;
  s.msg[0] = '\0';
  s.leaks[0] = '\0';
  if (c.ps()) {
    runPsRank(c, s, rank, n, id);
    sh->finished.fetch_add(1);
    return;
  }
  if (c.algorithm == "hier") {
    setenv("SHOAL_HOST_ID", rank < n / 2 ? "faultnodeA" : "faultnodeB", 1);
  }
  if (rank == 0 && c.fault >= Fault::kGarbage) attackRoot(c.fault, id);
  const shoal::test::ProcessResources before = shoal::test::processResources();
  auto t0 = std::chrono::steady_clock::now();
  shoalComm_t comm = nullptr;
  shoalResult_t r = shoalCommInitRank(&comm, n, id, rank);
  if (r == shoalSuccess && c.fault == Fault::kStop) r = shoalCommSetTimeout(comm, c.timeout());
  if (r != shoalSuccess) {
    record(s, r, 0, shoal::test::secondsSince(t0), shoalGetLastError(comm));
    if (comm) shoalCommAbort(comm);
  } else {
    std::vector<int32_t> buf(kCount);
    for (int call = 1; call <= kCalls; ++call) {
      for (size_t i = 0; i < kCount; ++i)
        buf[i] = static_cast<int32_t>((rank + 1) * (call + static_cast<int>(i % 97)));
      t0 = std::chrono::steady_clock::now();
      r = shoalAllReduce(buf.data(), buf.data(), kCount, shoalInt32, shoalSum, comm, nullptr);
      if (r != shoalSuccess) {
        record(s, r, call, shoal::test::secondsSince(t0), shoalGetLastError(comm));
        break;
      }
      bool exact = true;
      for (size_t i = 0; i < kCount && exact; ++i) {
        exact = buf[i] == static_cast<int32_t>(n * (n + 1) / 2 * (call + static_cast<int>(i % 97)));
      }
      if (!exact) {
        record(s, -2, call, shoal::test::secondsSince(t0),
               "allreduce returned success with a wrong result");
        break;
      }
      record(s, 0, call, shoal::test::secondsSince(t0), "");
    }
    // A broken communicator is aborted, a working one destroyed (its barrier
    // is the last step every rank completes); both must free everything.
    if (r == shoalSuccess) {
      t0 = std::chrono::steady_clock::now();
      r = shoalCommDestroy(comm);
      if (r != shoalSuccess)
        record(s, r, kCalls + 1, shoal::test::secondsSince(t0), shoalGetLastError(nullptr));
    } else {
      shoalCommAbort(comm);
    }
  }
  snprintf(s.leaks, sizeof(s.leaks), "%s", shoal::test::leakedSince(before, 2.0).c_str());
  // The last rank to finish ends a stopped victim, which would never exit.
  int survivors = c.fault == Fault::kStop ? n - 1 : n;
  if (sh->finished.fetch_add(1) + 1 == survivors && c.fault == Fault::kStop) {
    kill(sh->slot[c.victim].pid, SIGKILL);
  }
}

std::string faultsDir() {
  const char* d = getenv("SHOAL_FAULTS_DIR");
  return d && *d ? d : SHOAL_FAULTS_BUILD_DIR;
}

// This machine's topology as hwloc XML in a file that lives as long as the
// test process, detected once in a child (like the transport probes, so the
// test process loads no hardware library before it forks the ranks); ""
// where it cannot be written, and the ranks detect it themselves.
const std::string& topologyFile() {
  struct File {
    std::string path;
    ~File() {
      if (!path.empty()) unlink(path.c_str());
    }
  };
  static File file = [] {
    File f;
    std::string path = "/tmp/shoal-faults-topology-" + std::to_string(getpid()) + ".xml";
    std::string why;
    bool ok = shoal::test::probeInChild(
        [&](std::string* reason) {
          try {
            shoal::topo::loadTopology("", path);
          } catch (const std::exception& e) {
            *reason = e.what();
            return false;
          }
          return access(path.c_str(), R_OK) == 0;
        },
        &why);
    if (ok) {
      f.path = path;
    } else {
      unlink(path.c_str());
      fprintf(stderr, "faults: no topology file (%s); every rank detects its own\n", why.c_str());
    }
    return f;
  }();
  return file.path;
}

class Faults : public testing::TestWithParam<Case> {};

TEST_P(Faults, Case) {
  const Case& c = GetParam();
  // Probed once per transport: each probe forks a child that opens the
  // transport, a second or more per case on the guest's emulated CPUs.
  static std::map<std::string, std::pair<bool, std::string>> probed;
  if (!probed.count(c.transport)) {
    std::string why;
    bool ok = shoal::test::transportUsable(c.transport, &why);
    probed[c.transport] = {ok, why};
  }
  const auto& [usable, why] = probed[c.transport];
  if (!usable) {
    GTEST_SKIP() << c.transport << " is not usable here: " << why;
  }
  void* mem =
      mmap(nullptr, sizeof(Shared), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  ASSERT_NE(mem, MAP_FAILED);
  auto* sh = new (mem) Shared{};
  const bool killing = c.fault == Fault::kKill;
  const double timeout = c.timeout();
  shoal::test::MultiProcessOptions opts;
  opts.env["SHOAL_TRANSPORT"] = c.transport;
  if (!c.ps()) opts.env["SHOAL_ALGO"] = c.algorithm;
  opts.env["SHOAL_TIMEOUT"] = std::to_string(c.initTimeout());
  opts.env["UCX_WARN_UNUSED_ENV_VARS"] = "n";
  if (c.transport == "verbs") {
    // On the guest's emulated CPUs each rank spent a second or two detecting
    // the same topology and measuring copy and reduction speed for the cost
    // model, which a forced algorithm never consults: the ranks read the
    // topology detected once per run, and the model keeps its defaults.
    if (!topologyFile().empty()) opts.env["SHOAL_TOPO_FILE"] = topologyFile();
    opts.env["SHOAL_TUNING_MEASURE"] = "0";
  }
  // Collective and PS phases fire in the second call, after a clean first.
  bool initPhase = c.phase == "bootstrap" || c.phase == "connect";
  std::string spec = c.phase + ":" + std::to_string(c.victim) + (initPhase ? "" : ":2");
  if (killing) opts.env["SHOAL_TEST_KILL_AT"] = spec;
  if (c.fault == Fault::kStop) opts.env["SHOAL_TEST_STOP_AT"] = spec;
  if (c.fault == Fault::kCorruptCtrl)
    opts.env["SHOAL_TEST_CORRUPT_CTRL"] = std::to_string(c.victim);
  opts.timeoutSeconds = 3 * c.initTimeout() + 20;
  const shoal::test::SharedMemoryObjects shmBefore = shoal::test::sharedMemoryObjects();
  auto start = std::chrono::steady_clock::now();
  auto results = shoal::test::runRanks(
      kRanks, [&](int rank, int n, const shoalUniqueId& id) { runRank(c, sh, rank, n, id); }, opts);
  double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  ASSERT_EQ(results.size(), static_cast<size_t>(kRanks));

  // Expected outcome per rank.
  const bool attack = c.fault >= Fault::kGarbage;
  std::string expected;
  std::vector<int> okCodes;
  if (attack) {
    expected = "Success (root drops the connection)";
    okCodes = {shoalSuccess};
  } else if (c.fault == Fault::kStop) {
    expected = "Timeout/RemoteError; r" + std::to_string(c.victim) + " named by its neighbours";
    okCodes = {shoalTimeout, shoalRemoteError};
  } else if (c.psAsync()) {
    expected = "Success: pulls after the pushes (call " + std::to_string(kCalls + 1) +
               ") reach the exact sum of every accepted push";
    okCodes = {shoalSuccess};
  } else {
    expected = "RemoteError naming r" + std::to_string(c.victim);
    okCodes = {shoalRemoteError};
  }
  // A PS server has no calls to fail: it must finalize cleanly, having
  // counted the dead worker if the victim was one.
  const int psDeadWorkers = c.ps() && !c.psServer(c.victim) ? 1 : 0;
  if (c.ps()) {
    expected += " (workers); servers finalize Success, " + std::to_string(psDeadWorkers) +
                " dead worker" + (psDeadWorkers == 1 ? "" : "s");
  }
  // Leaks: what each survivor still held after destroy/abort/finalize, and
  // shared memory any rank (the victim too) left once all exited.
  std::vector<int> pids;
  for (int r = 0; r < kRanks; ++r) pids.push_back(sh->slot[r].pid);
  std::string leaks = shoal::test::sharedMemoryLeftBy(shmBefore, pids);
  if (!leaks.empty()) leaks = "job: " + leaks;
  std::string observed;
  int namedBy = 0;
  double worst = 0;
  bool pass = true;
  for (int r = 0; r < kRanks; ++r) {
    const Slot& s = sh->slot[r];
    const auto& res = results[r];
    bool isVictim = r == c.victim && c.fault != Fault::kCorruptCtrl;
    if (isVictim) {
      bool died = res.exitCode == -SIGKILL;
      EXPECT_TRUE(died) << "victim rank " << r << ": " << res.what;
      pass = pass && died;
      continue;
    }
    std::string line = "r" + std::to_string(r) + " ";
    if (res.exitCode == 0 && s.leaks[0] != '\0') {
      leaks += (leaks.empty() ? "r" : "; r") + std::to_string(r) + ": " + s.leaks;
    }
    if (res.exitCode != 0) {
      line += "CRASH/HANG (" + res.what + ")";
      pass = false;
      ADD_FAILURE() << "rank " << r << ": " << res.what;
    } else if (c.psServer(r)) {
      bool ok = s.code == shoalSuccess && s.call == kCalls + 1 && s.deadWorkers == psDeadWorkers;
      EXPECT_TRUE(ok) << "server rank " << r << ": finalize " << codeName(s.code) << " (" << s.msg
                      << "), " << s.deadWorkers << " dead workers, want " << psDeadWorkers;
      pass = pass && ok;
      char t[64];
      snprintf(t, sizeof(t), "%.2fs", s.secs);
      line += "server finalize " + std::string(codeName(s.code)) + " " + t + ", " +
              std::to_string(s.deadWorkers) + " dead worker" + (s.deadWorkers == 1 ? "" : "s");
    } else {
      bool codeOk = std::find(okCodes.begin(), okCodes.end(), s.code) != okCodes.end();
      // A stopped rank looks alive: ranks time out naming the ranks they
      // wait for, which names the stopped one only at its neighbours.
      bool namesOk = attack || c.fault == Fault::kStop || c.psAsync() || namesRank(s.msg, c.victim);
      namedBy += !attack && namesRank(s.msg, c.victim);
      // A victim that finished its part of allreduce #1 may die in #2 while
      // slower ranks still wait in #1 for what it owed them.
      int firstBadCall = 1;
      bool callOk = attack        ? s.call == kCalls
                    : c.psAsync() ? s.call == kCalls + 1
                    : initPhase   ? s.call == 0
                                  : s.call >= firstBadCall;
      bool timeOk = s.secs <= timeout + c.slack();
      EXPECT_TRUE(codeOk) << "rank " << r << " returned " << codeName(s.code) << ": " << s.msg;
      EXPECT_TRUE(namesOk) << "rank " << r << " error does not name rank " << c.victim << ": "
                           << s.msg;
      EXPECT_TRUE(callOk) << "rank " << r << " failed at call " << s.call << ": " << s.msg;
      EXPECT_TRUE(timeOk) << "rank " << r << " took " << s.secs << " s: " << s.msg;
      pass = pass && codeOk && namesOk && callOk && timeOk;
      char t[64];
      snprintf(t, sizeof(t), "%.2fs", s.secs);
      line += std::string(codeName(s.code)) +
              (attack ? ""
                      : "@" + std::string(s.call == 0 ? "init" : "call" + std::to_string(s.call))) +
              " " + t + (namesOk ? "" : " (victim not named)");
      if (!attack) worst = std::max(worst, s.secs);
    }
    observed += (observed.empty() ? "" : "; ") + line;
  }
  if (c.fault == Fault::kStop) {
    EXPECT_GE(namedBy, 1) << "no survivor named the stopped rank " << c.victim;
    pass = pass && namedBy >= 1;
  }
  EXPECT_EQ(leaks, "") << "resources left after the ranks ended";
  pass = pass && leaks.empty();
  munmap(mem, sizeof(Shared));
  char t[64];
  snprintf(t, sizeof(t), "%.2f s (case %.1f s)", worst, wall);
  static const char* kFaultText[] = {"SIGKILL",
                                     "SIGSTOP",
                                     "malformed ctrl message",
                                     "4 KiB random bytes at root",
                                     "wrong secret at root",
                                     "port scan (32 connects)",
                                     "truncated hello at root"};
  std::string victim = c.victim >= 0 ? std::to_string(c.victim) : "-";
  if (c.ps()) victim += c.psServer(c.victim) ? " (server)" : " (worker)";
  shoal::test::MatrixRow row{
      c.name(),
      c.transport,
      c.algorithm,
      victim,
      c.phase.empty() ? kFaultText[static_cast<int>(c.fault)]
                      : std::string(kFaultText[static_cast<int>(c.fault)]) + " at " + c.phase,
      expected,
      observed,
      t,
      leaks.empty() ? "none" : leaks,
      pass ? "pass" : "FAIL"};
  std::lock_guard<std::mutex> lock(rowsMutex);
  rows.push_back(row);
}

INSTANTIATE_TEST_SUITE_P(Matrix, Faults, testing::ValuesIn(allCases()),
                         [](const testing::TestParamInfo<Case>& p) { return p.param.name(); });

constexpr shoal::test::MatrixSetup kSetup{kRanks,   kCalls,       kCount,
                                          kTimeout, kStopTimeout, kVerbsTimeout};

// Writes this run's rows, then FAULTS.md from every rows file in the folder
// (the matrix runs as several ctest entries, one per transport).
class Report : public testing::Environment {
 public:
  void TearDown() override {
    if (rows.empty()) return;
    // Shards of one filter (the rxe guest runs two at once) keep their own rows.
    std::string name = testing::GTEST_FLAG(filter);
    if (const char* shard = getenv("GTEST_SHARD_INDEX")) name += std::string("_shard") + shard;
    shoal::test::writeMatrixRows(faultsDir(), name, rows);
    shoal::test::writeMatrixMarkdown(faultsDir(), kSetup);
  }
};

// FAULTS.md from the rows files alone: tests/rxe/run.sh runs it after copying
// the guest's verbs rows in.
TEST(MatrixReport, Rebuild) {
  if (!shoal::test::writeMatrixMarkdown(faultsDir(), kSetup))
    GTEST_SKIP() << "no rows in " << faultsDir() << "/rows yet";
  std::ifstream md(faultsDir() + "/FAULTS.md");
  std::string first;
  std::getline(md, first);
  EXPECT_EQ(first, "# Fault matrix");
}

testing::Environment* const report = testing::AddGlobalTestEnvironment(new Report);

}  // namespace
