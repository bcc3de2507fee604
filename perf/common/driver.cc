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

struct AlignedFree {
  void operator()(void* p) const { free(p); }
};
using Buffer = std::unique_ptr<char, AlignedFree>;

// Page-aligned and touched, so first-use page faults stay out of the timing.
Buffer allocate(size_t bytes) {
  const size_t rounded = std::max<size_t>(4096, (bytes + 4095) / 4096 * 4096);
  char* p = static_cast<char*>(aligned_alloc(4096, rounded));
  if (p == nullptr) throw RuntimeError("cannot allocate " + std::to_string(rounded) + " bytes");
  memset(p, 0, rounded);
  return Buffer(p);
}

// Algorithms seen along the sweep, as contiguous size ranges.
struct AlgoRange {
  std::string name;
  size_t from, to;
};

class Bench {
 public:
  Bench(const Options& o, const Collective& c, Runtime& rt) : o_(o), c_(c), rt_(rt) {}

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
            const std::string algo = rt_.lastAlgorithm();
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

  void printDeviceLines() {
    const int n = rt_.size();
    std::vector<unsigned char> all(kDeviceLineBytes * n, 0);
    const std::string mine = deviceLine(rt_.rank(), rt_.transport());
    memcpy(all.data() + kDeviceLineBytes * rt_.rank(), mine.data(),
           std::min(mine.size(), kDeviceLineBytes - 1));
    rt_.sumBytes(all.data(), all.size());
    if (!rank0()) return;
    printHeader(o_);
    printComment(rt_.library() + ", " + std::to_string(n) + " ranks");
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
    send_ = allocate(sendBytes);
    recv_ = allocate(recvBytes);
    if (o_.check) expected_ = allocate(recvBytes);
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
                  o_.root};
    }
    return Call{send_.get(), recv_.get(), l.callCount, t, op, o_.root};
  }

  // Both ends of the sweep, like nccl-tests; the largest last, so the header
  // reports the algorithm that carries the bulk of the bytes.
  void warmUp(shoalDataType_t t, shoalRedOp_t op) {
    for (size_t bytes : {o_.minBytes, o_.maxBytes}) {
      const Call call = makeCall(c_.layout(bytes, typeSize(t), rt_.size()), t, op, false);
      for (int i = 0; i < o_.warmupIters; ++i) c_.run(call);
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
    rt_.barrier();
    const auto start = std::chrono::steady_clock::now();
    for (int i = 0; i < o_.iters; ++i) {
      for (int a = 0; a < o_.aggIters; ++a) c_.run(call);
    }
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
  long long check(const Layout& l, const Call& call, bool inPlace) {
    const Pattern p{call.type, call.op, rt_.size(), ++seed_};
    const size_t ts = typeSize(call.type);
    char* send = const_cast<char*>(static_cast<const char*>(call.send));
    char* recv = static_cast<char*>(call.recv);
    if (inPlace) {
      poison(recv_.get(), std::max(l.recvInplaceOffset * rt_.rank() + l.recvCount,
                                   l.sendInplaceOffset * rt_.rank() + l.sendCount) *
                              ts);
    } else {
      poison(recv, l.recvCount * ts);
    }
    c_.fillInput(send, l, p, rt_.rank(), call.root);
    c_.run(call);
    long long wrong = 0;
    if (c_.fillExpected(expected_.get(), l, p, rt_.rank(), call.root)) {
      wrong = static_cast<long long>(
          countWrong(recv, expected_.get(), l.recvCount, call.type, call.op));
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
  Buffer send_, recv_, expected_;
  unsigned seed_ = 0;
  long long wrongTotal_ = 0;
  double busBwSum_ = 0;
  int busBwCount_ = 0;
  std::vector<AlgoRange> algos_;
  bool newSweep_ = true;  // the next size starts a sweep over sizes
};

}  // namespace

int runBenchmark(const Options& o, const Collective& c, Runtime& rt) {
  return Bench(o, c, rt).run();
}

int runMain(const char* program, const Options& o,
            const std::function<std::unique_ptr<Runtime>()>& makeRuntime,
            const std::function<Collective(Runtime&)>& makeCollective) {
  std::unique_ptr<Runtime> rt;
  try {
    rt = makeRuntime();
  } catch (const std::exception& e) {
    fprintf(stderr, "%s: initialization failed: %s\n", program, e.what());
    return 2;
  }
  try {
    const Collective c = makeCollective(*rt);
    return runBenchmark(o, c, *rt);
  } catch (const std::exception& e) {
    fprintf(stderr, "%s: rank %d: %s\n", program, rt->rank(), e.what());
    fflush(stderr);
    rt->abort();
    return 2;
  }
}

}  // namespace perf
