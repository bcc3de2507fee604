#include "common/driver.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "common/datatypes.h"
#include "common/report.h"

namespace perf {

namespace {

constexpr size_t kDeviceLineBytes = 256;

struct Release {
  Memory* memory;
  void operator()(char* p) const { memory->release(p); }
};
using Buffer = std::unique_ptr<char, Release>;

Buffer allocate(Memory& m, size_t bytes) {
  return Buffer(static_cast<char*>(m.allocate(bytes)), Release{&m});
}

// Algorithms seen along the sweep, as contiguous size ranges.
struct AlgoRange {
  std::string name;
  size_t from, to;
};

class Bench {
 public:
  Bench(const Options& o, const Collective& c, Runtime& rt, Memory& mem)
      : o_(o), c_(c), rt_(rt), mem_(mem) {}

  int run() {
    const int n = rt_.size();
    if (c_.usesRoot && (o_.root < 0 || o_.root >= n)) {
      throw RuntimeError("root " + std::to_string(o_.root) + " is not a rank of " +
                         std::to_string(n));
    }
    printDeviceLines();
    allocateBuffers();

    bool headerDone = false;
    // A collective without an operator runs once per type; the data pattern
    // is the sum pattern's (small integers, distinct per rank and index).
    const std::vector<shoalRedOp_t> ops = c_.usesOp ? o_.ops : std::vector<shoalRedOp_t>{shoalSum};
    for (shoalDataType_t t : o_.types) {
      for (shoalRedOp_t op : ops) {
        const std::string why = rt_.unsupported(t, op);
        if (!why.empty()) {
          if (rank0()) {
            printComment(std::string("Skipping ") + typeName(t) + " " +
                         (c_.usesOp ? opName(op) : "") + ": " + why);
          }
          continue;
        }
        warmUp(t, op);
        if (!headerDone) {
          headerDone = true;
          if (rank0()) {
            // Known only when the warm-up ran at maxBytes; with -w 0 the last
            // call was some setup call, so say nothing rather than mislead.
            const std::string algo = o_.warmupIters > 0 ? rt_.lastAlgorithm() : std::string();
            printComment(rt_.library() + ": transport " + rt_.transport() +
                         (algo.empty() ? std::string() : ", algorithm " + algo) + " (at " +
                         std::to_string(o_.maxBytes) + " B)");
            printColumnHeader();
          }
        }
        newSweep_ = true;
        for (size_t bytes : sweepSizes(o_)) measureSize(bytes, t, op);
      }
    }
    if (!headerDone && rank0()) printColumnHeader();
    if (rank0()) {
      printAlgorithms();
      printFooter(wrongTotal_, busBwCount_ ? busBwSum_ / busBwCount_ : 0.0);
    }
    return wrongTotal_ > 0 ? 1 : 0;
  }

 private:
  bool rank0() const { return rt_.rank() == 0; }

  // Waits for the stream. A failed stream-ordered call may leave it waiting
  // until the deadline; the library's own error then names the cause.
  void sync() {
    if (!mem_.onDevice()) return;
    try {
      mem_.synchronize();
    } catch (const std::exception&) {
      rt_.checkAsyncErrors();
      throw;
    }
    rt_.checkAsyncErrors();
  }

  void printDeviceLines() {
    const int n = rt_.size();
    std::vector<unsigned char> all(kDeviceLineBytes * n, 0);
    const std::string where = mem_.describe();
    const std::string mine =
        deviceLine(rt_.rank(), rt_.transport() + (where.empty() ? "" : ", " + where));
    memcpy(all.data() + kDeviceLineBytes * rt_.rank(), mine.data(),
           std::min(mine.size(), kDeviceLineBytes - 1));
    rt_.sumBytes(all.data(), all.size());
    if (!rank0()) return;
    printHeader(o_);
    printComment(rt_.library() + ", " + std::to_string(n) + " ranks" +
                 (mem_.onDevice() ? ", buffers on GPU (-g 1)" : ""));
    std::vector<std::string> lines;
    for (int r = 0; r < n; ++r) {
      const char* s = reinterpret_cast<const char*>(all.data() + kDeviceLineBytes * r);
      lines.emplace_back(s, strnlen(s, kDeviceLineBytes));
    }
    printDevices(lines);
  }

  void allocateBuffers() {
    size_t sendBytes = 0, recvBytes = 0;
    for (shoalDataType_t t : o_.types) {
      const Layout l = c_.layout(o_.maxBytes, typeSize(t), rt_.size());
      const size_t inplaceEnd = std::max(l.sendInplaceOffset * rt_.rank() + l.sendCount,
                                         l.recvInplaceOffset * rt_.rank() + l.recvCount);
      sendBytes = std::max(sendBytes, l.sendCount * typeSize(t));
      recvBytes = std::max(recvBytes, std::max(l.recvCount, inplaceEnd) * typeSize(t));
    }
    send_ = allocate(mem_, sendBytes);
    recv_ = allocate(mem_, recvBytes);
    if (o_.check) {
      expected_ = allocate(host_, recvBytes);
      if (mem_.onDevice()) {
        hostSend_ = allocate(host_, sendBytes);
        hostRecv_ = allocate(host_, recvBytes);
      }
    }
  }

  // The host copy the checker reads and writes for p, a pointer into the
  // device buffer dev whose copy is host; p itself on host buffers.
  char* hostView(const void* p, const Buffer& dev, const Buffer& host) const {
    if (!mem_.onDevice()) return static_cast<char*>(const_cast<void*>(p));
    return host.get() + (static_cast<const char*>(p) - dev.get());
  }

  Call makeCall(const Layout& l, shoalDataType_t t, shoalRedOp_t op, bool inPlace) const {
    const size_t ts = typeSize(t);
    const size_t r = static_cast<size_t>(rt_.rank());
    if (inPlace) {
      return Call{recv_.get() + r * l.sendInplaceOffset * ts,
                  recv_.get() + r * l.recvInplaceOffset * ts,
                  l.callCount,
                  t,
                  op,
                  o_.root,
                  mem_.stream()};
    }
    return Call{send_.get(), recv_.get(), l.callCount, t, op, o_.root, mem_.stream()};
  }

  // Both ends of the sweep, like nccl-tests; the largest last, so the header
  // reports the algorithm that carries the bulk of the bytes.
  void warmUp(shoalDataType_t t, shoalRedOp_t op) {
    for (size_t bytes : {o_.minBytes, o_.maxBytes}) {
      const Call call = makeCall(c_.layout(bytes, typeSize(t), rt_.size()), t, op, false);
      for (int i = 0; i < o_.warmupIters; ++i) c_.run(call);
      sync();
    }
  }

  double combineTimes(double seconds) {
    const int n = rt_.size();
    switch (o_.timeReduction) {
      case TimeReduction::kRank0:
        return rt_.reduceTime(rank0() ? seconds : 0.0, false);
      case TimeReduction::kAverage:
        return rt_.reduceTime(seconds, false) / n;
      case TimeReduction::kMin:
        return -rt_.reduceTime(-seconds, true);
      case TimeReduction::kMax:
      default:
        return rt_.reduceTime(seconds, true);
    }
  }

  Result measure(const Layout& l, shoalDataType_t t, shoalRedOp_t op, bool inPlace,
                 std::string* algo) {
    const Call call = makeCall(l, t, op, inPlace);
    c_.run(call);  // lines the ranks up and builds any per-size state
    sync();
    rt_.barrier();
    const auto start = std::chrono::steady_clock::now();
    for (int i = 0; i < o_.iters; ++i) {
      for (int a = 0; a < o_.aggIters; ++a) c_.run(call);
    }
    sync();
    const std::chrono::duration<double> elapsed = std::chrono::steady_clock::now() - start;
    *algo = rt_.lastAlgorithm();
    const double mine = elapsed.count() / (static_cast<double>(o_.iters) * o_.aggIters);
    const double seconds = combineTimes(mine);

    const size_t ts = typeSize(t);
    const double bytes = static_cast<double>(std::max(l.sendCount, l.recvCount) * ts);
    Result r;
    r.seconds = seconds;
    r.algBw = seconds > 0 ? bytes / 1e9 / seconds : 0.0;
    r.busBw = r.algBw * c_.busFactor(rt_.size());
    r.wrong = o_.check ? check(l, call, inPlace) : -1;
    rt_.barrier();
    return r;
  }

  // One more operation on fresh data; counts wrong elements over all ranks.
  // Device buffers get the pattern from host copies and give the result back
  // the same way, over the extent the call may touch.
  long long check(const Layout& l, const Call& call, bool inPlace) {
    const Pattern p{call.type, call.op, rt_.size(), ++seed_};
    const size_t ts = typeSize(call.type);
    const size_t r = static_cast<size_t>(rt_.rank());
    const size_t sendExtent = inPlace ? 0 : l.sendCount * ts;
    const size_t recvExtent = inPlace ? std::max(l.recvInplaceOffset * r + l.recvCount,
                                                 l.sendInplaceOffset * r + l.sendCount) *
                                            ts
                                      : l.recvCount * ts;
    poison(hostView(recv_.get(), recv_, hostRecv_), recvExtent);
    c_.fillInput(hostView(call.send, inPlace ? recv_ : send_, inPlace ? hostRecv_ : hostSend_), l,
                 p, rt_.rank(), call.root);
    if (mem_.onDevice()) {
      mem_.upload(send_.get(), hostSend_.get(), sendExtent);
      mem_.upload(recv_.get(), hostRecv_.get(), recvExtent);
    }
    c_.run(call);
    sync();
    if (mem_.onDevice()) mem_.download(hostRecv_.get(), recv_.get(), recvExtent);
    long long wrong = 0;
    if (c_.fillExpected(expected_.get(), l, p, rt_.rank(), call.root)) {
      wrong = static_cast<long long>(countWrong(hostView(call.recv, recv_, hostRecv_),
                                                expected_.get(), l.recvCount, call.type, call.op));
    }
    return rt_.sumOverRanks(wrong);
  }

  void measureSize(size_t bytes, shoalDataType_t t, shoalRedOp_t op) {
    const Layout l = c_.layout(bytes, typeSize(t), rt_.size());
    std::string algo;
    const Result out = measure(l, t, op, false, &algo);
    noteAlgorithm(algo, std::max(l.sendCount, l.recvCount) * typeSize(t));
    const Result in = measure(l, t, op, true, &algo);
    for (const Result& r : {out, in}) {
      busBwSum_ += r.busBw;
      ++busBwCount_;
      if (r.wrong > 0) wrongTotal_ += r.wrong;
    }
    if (rank0()) {
      const size_t elements = std::max(l.sendCount, l.recvCount);
      printResultLine(elements * typeSize(t), elements, typeName(t),
                      c_.usesOp ? opName(op) : "none", c_.usesRoot ? o_.root : -1, out, in);
    }
  }

  void noteAlgorithm(const std::string& algo, size_t bytes) {
    if (algo.empty()) return;
    const bool fresh = newSweep_;
    newSweep_ = false;
    if (!fresh && !algos_.empty() && algos_.back().name == algo) {
      algos_.back().to = std::max(algos_.back().to, bytes);
      return;
    }
    algos_.push_back(AlgoRange{algo, bytes, bytes});
  }

  // Each distinct range once: sweeps over several types and ops usually
  // repeat the same choices.
  void printAlgorithms() {
    std::vector<std::string> seen;
    for (const AlgoRange& a : algos_) {
      const std::string item =
          a.name + " " + std::to_string(a.from) + ".." + std::to_string(a.to) + " B";
      if (std::find(seen.begin(), seen.end(), item) == seen.end()) seen.push_back(item);
    }
    if (seen.empty()) return;
    std::string text = "Algorithm by size:";
    for (size_t i = 0; i < seen.size(); ++i) text += (i ? ", " : " ") + seen[i];
    printComment(text);
  }

  const Options& o_;
  const Collective& c_;
  Runtime& rt_;
  Memory& mem_;
  HostMemory host_;  // expected values, and the host copies of device buffers
  Buffer send_{nullptr, Release{&mem_}}, recv_{nullptr, Release{&mem_}};
  Buffer expected_{nullptr, Release{&host_}}, hostSend_{nullptr, Release{&host_}},
      hostRecv_{nullptr, Release{&host_}};
  unsigned seed_ = 0;
  long long wrongTotal_ = 0;
  double busBwSum_ = 0;
  int busBwCount_ = 0;
  std::vector<AlgoRange> algos_;
  bool newSweep_ = true;  // the next size starts a sweep over sizes
};

}  // namespace

int runBenchmark(const Options& o, const Collective& c, Runtime& rt, Memory& mem) {
  return Bench(o, c, rt, mem).run();
}

int runBenchmark(const Options& o, const Collective& c, Runtime& rt) {
  HostMemory host;
  return runBenchmark(o, c, rt, host);
}

int runMain(const char* program, const Options& o,
            const std::function<std::unique_ptr<Runtime>()>& makeRuntime,
            const std::function<Collective(Runtime&)>& makeCollective) {
  return runMain(
      program, o, [] { return std::make_unique<HostMemory>(); }, makeRuntime, makeCollective);
}

int runMain(const char* program, const Options& o,
            const std::function<std::unique_ptr<Memory>()>& makeMemory,
            const std::function<std::unique_ptr<Runtime>()>& makeRuntime,
            const std::function<Collective(Runtime&)>& makeCollective) {
  // The buffers first: a rank without a GPU fails at once, before it waits
  // for the others at the rendezvous.
  std::unique_ptr<Memory> mem;
  try {
    mem = makeMemory();
  } catch (const std::exception& e) {
    fprintf(stderr, "%s: %s\n", program, e.what());
    return 2;
  }
  std::unique_ptr<Runtime> rt;
  try {
    rt = makeRuntime();
  } catch (const std::exception& e) {
    fprintf(stderr, "%s: initialization failed: %s\n", program, e.what());
    return 2;
  }
  try {
    const Collective c = makeCollective(*rt);
    return runBenchmark(o, c, *rt, *mem);
  } catch (const std::exception& e) {
    fprintf(stderr, "%s: rank %d: %s\n", program, rt->rank(), e.what());
    fflush(stderr);
    rt->abort();
    return 2;
  }
}

}  // namespace perf
