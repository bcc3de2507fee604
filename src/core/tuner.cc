#include "core/tuner.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>
#include <fstream>
#include <mutex>
#include <sstream>

#include "core/comm.h"
#include "core/config.h"
#include "core/error.h"
#include "core/log.h"
#include "core/reduce.h"

namespace shoal {

namespace {

constexpr double kUs = 1e-6;
constexpr double kGB = 1e9;

LinkCost link(double alphaUs, double gbps) { return {alphaUs * kUs, 1.0 / (gbps * kGB)}; }

int ceilLog2(int n) {
  int d = 0;
  while ((1 << d) < n) ++d;
  return d;
}

double msgs(double bytes, double chunk) { return std::max(1.0, std::ceil(bytes / chunk)); }

struct Topology {
  int nodes = 1;
  int maxLocal = 1;
};

Topology topologyOf(const CollArgs& a) {
  Topology t;
  if (!a.hosts || static_cast<int>(a.hosts->size()) != a.nranks) {
    t.maxLocal = a.nranks;
    return t;
  }
  std::map<std::string, int> perHost;
  for (const auto& h : *a.hosts) ++perHost[h];
  t.nodes = static_cast<int>(perHost.size());
  for (const auto& [h, c] : perHost) t.maxLocal = std::max(t.maxLocal, c);
  return t;
}

// Bytes the caller passes: the reduce-scatter input and the allgather output
// are n blocks.
double totalBytes(const CollArgs& a) {
  double b = static_cast<double>(a.count) * static_cast<double>(dtypeSize(a.dtype));
  if (a.kind == CollKind::kReduceScatter || a.kind == CollKind::kAllGather) b *= a.nranks;
  return b;
}

// Local measurements, once per process: memory copy and reduction
// throughput in bytes per second.
struct Measured {
  double copy = 0;
  double reduce = 0;
};

Measured measureLocal() {
  static std::once_flag once;
  static Measured m;
  std::call_once(once, [] {
    // Short runs, best of several: ranks measure at the same moment and may
    // outnumber the cores, and a run that lost the CPU says nothing.
    constexpr size_t kBytes = 2u << 20;
    std::vector<float> a(kBytes / sizeof(float), 1.0f), b(a.size(), 2.0f);
    using C = std::chrono::steady_clock;
    double bestCopy = 1e9, bestReduce = 1e9;
    for (int i = 0; i < 8; ++i) {
      auto t0 = C::now();
      memcpy(b.data(), a.data(), kBytes);
      auto t1 = C::now();
      reduce(a.data(), a.data(), b.data(), a.size(), shoalFloat32, shoalSum);
      auto t2 = C::now();
      bestCopy = std::min(bestCopy, std::chrono::duration<double>(t1 - t0).count());
      bestReduce = std::min(bestReduce, std::chrono::duration<double>(t2 - t1).count());
    }
    m.copy = static_cast<double>(kBytes) / std::max(bestCopy, 1e-9);
    m.reduce = static_cast<double>(kBytes) / std::max(bestReduce, 1e-9);
  });
  return m;
}

std::string key(CollKind kind, const char* name) {
  return std::string(collName(kind)) + ":" + name;
}

// Every rank builds its parameters, then all agree on the maximum of each
// (the slower estimate), so the choice is the same everywhere.
void agree(shoalComm* comm, TunerState& st) {
  const std::string transport = comm->transport->name();
  TuningParams p = defaultTuning(transport);
  std::string how = "defaults";
  if (config::getBool("SHOAL_TUNING_MEASURE")) {
    Measured m = measureLocal();
    p.gamma = 1.0 / m.reduce;
    // Shared memory moves every byte twice: into the peer's slot, then out.
    if (transport == "shm") p.intra.beta = 2.0 / m.copy;
    how = strprintf("measured copy %.1f GB/s, reduce %.1f GB/s", m.copy / kGB, m.reduce / kGB);
  }
  std::string file = config::getString("SHOAL_TUNING_FILE");
  if (!file.empty()) {
    std::ifstream in(file);
    if (!in) {
      fail(shoalInvalidArgument, "rank %d: SHOAL_TUNING_FILE=%s: cannot open: %s", comm->rank,
           file.c_str(), strerror(errno));
    }
    std::stringstream text;
    text << in.rdbuf();
    parseTuningText(text.str(), transport, file, &p);
    how += ", file " + file;
  }
  // Measured on the project's 2-core VM with 4 ranks (perf/RESULTS.md,
  // 2026-11-23b): from 16 MiB the double tree beat ring by 1.04-1.28x in 8
  // of 9 (size, run) pairs over three runs, although the model, counting
  // each rank's bytes, predicts it 1.4x slower. With ranks sharing cores
  // the total work decides, which is the same for both, and the tree's
  // ranks hand the CPU to each other less often than the ring's 2(n-1)
  // lock-step steps. Since ring's allgather half lands in place (Step::land,
  // no copy out of a slot) ring wins at 16 MiB by 1.2-1.3x, ties at 64 MiB
  // and trails by 0-6% at 256 MiB (RESULTS.md, "Direct placement"), hence
  // 64 messages per half (64 MiB at the default chunk). Only on shm where
  // ranks outnumber cores: nothing was measured otherwise.
  if (transport == "shm" && comm->transport->ranksOutnumberCores()) p.treeLong = 0.65;
  std::vector<double> mine = {p.intra.alpha, p.intra.beta, p.inter.alpha,
                              p.inter.beta,  p.gamma,      p.treeLong};
  const auto& reg = algorithms::registry();
  for (const auto& a : reg) {
    auto it = p.scale.find(key(a.kind, a.name));
    mine.push_back(it == p.scale.end() ? 1.0 : it->second);
  }
  // As a share of a node's traffic per link, so the maximum is the fewest
  // links (0: one per rank, the most).
  mine.push_back(p.nicsPerNode > 0 ? 1.0 / p.nicsPerNode : 0.0);
  if (comm->size > 1) {
    std::vector<double> all(mine.size() * static_cast<size_t>(comm->size));
    comm->bootstrap->allgather(mine.data(), all.data(), mine.size() * sizeof(double),
                               Deadline::after(comm->timeoutSeconds));
    for (int r = 0; r < comm->size; ++r) {
      for (size_t i = 0; i < mine.size(); ++i)
        mine[i] = std::max(mine[i], all[static_cast<size_t>(r) * mine.size() + i]);
    }
  }
  p.intra = {mine[0], mine[1]};
  p.inter = {mine[2], mine[3]};
  p.gamma = mine[4];
  p.treeLong = mine[5];
  p.scale.clear();
  for (size_t i = 0; i < reg.size(); ++i) {
    if (mine[6 + i] != 1.0) p.scale[key(reg[i].kind, reg[i].name)] = mine[6 + i];
  }
  p.nicsPerNode = mine.back() > 0 ? static_cast<int>(std::lround(1.0 / mine.back())) : 0;
  st.params = p;
  st.agreed = true;
  SHOAL_INFO(TUNING,
             "rank %d: tuning for %s (%s; agreed over %d ranks): intra %.2f us + %.2f GB/s, inter "
             "%.2f us + %.2f GB/s, reduce %.2f GB/s",
             comm->rank, transport.c_str(), how.c_str(), comm->size, p.intra.alpha / kUs,
             1.0 / p.intra.beta / kGB, p.inter.alpha / kUs, 1.0 / p.inter.beta / kGB,
             1.0 / p.gamma / kGB);
}

}  // namespace

TuningParams defaultTuning(const std::string& transport) {
  TuningParams p;
  if (transport == "shm") {
    p.intra = link(3, 6);
    p.inter = p.intra;  // never used: shm does not leave the host
    // Measured on the project's 2-core VM (perf/RESULTS.md): at 3 ranks the
    // double tree beats ring and rhd from 8 KiB to 2 MiB although its byte
    // count predicts 2-2.6x slower; with ranks outnumbering cores its leaves
    // sit idle while interior ranks work, which the per-rank model does not
    // see. Beyond two messages per half the ring wins again. At a power of
    // two the discount does not apply (see predictSeconds).
    p.treeShort = 0.4;
    // Two ranks on the project's VM, from 64 MiB (64 messages per half):
    // the tree took 0.90-0.96 of ring's time at 128 and 256 MiB in five
    // runs after ring became a wavefront, and usually less at 64 MiB, where
    // the model has the two equal but for the tree's pipeline fill. Below,
    // ring was ahead (perf/RESULTS.md, "Ring allreduce as a wavefront").
    p.treePair = 0.9;
  } else if (transport == "ucx") {
    p.intra = link(8, 5);
    p.inter = link(15, 10);
  } else {
    // verbs and anything else RDMA-like: 100 Gb/s class links.
    p.intra = link(3, 12);
    p.inter = link(4, 11);
  }
  p.gamma = 1.0 / (5 * kGB);
  return p;
}

void parseTuningText(const std::string& text, const std::string& transport,
                     const std::string& origin, TuningParams* p) {
  std::istringstream in(text);
  std::string line;
  int lineNo = 0;
  while (std::getline(in, line)) {
    ++lineNo;
    line = line.substr(0, line.find('#'));
    std::istringstream words(line);
    std::string what;
    if (!(words >> what)) continue;
    auto bad = [&](const char* why) {
      fail(shoalInvalidArgument, "%s:%d: %s in \"%s\"", origin.c_str(), lineNo, why, line.c_str());
    };
    std::string extra;
    if (what == "link") {
      std::string tr, cls;
      double alphaUs = 0, gbps = 0;
      if (!(words >> tr >> cls >> alphaUs >> gbps) || (words >> extra))
        bad("expected: link <transport> <intra|inter> <alpha_us> <bandwidth_GBps>");
      if (cls != "intra" && cls != "inter") bad("link class must be intra or inter");
      if (alphaUs < 0 || gbps <= 0) bad("alpha must be >= 0 and bandwidth > 0");
      if (tr != transport) continue;
      (cls == "intra" ? p->intra : p->inter) = link(alphaUs, gbps);
    } else if (what == "reduce") {
      double gbps = 0;
      if (!(words >> gbps) || (words >> extra) || gbps <= 0)
        bad("expected: reduce <GBps> (positive)");
      p->gamma = 1.0 / (gbps * kGB);
    } else if (what == "scale") {
      std::string name;
      double factor = 0;
      if (!(words >> name >> factor) || (words >> extra) || factor <= 0)
        bad("expected: scale <collective>:<algorithm> <positive factor>");
      bool known = false;
      for (const auto& a : algorithms::registry()) known = known || key(a.kind, a.name) == name;
      if (!known) bad("unknown algorithm");
      p->scale[name] = factor;
    } else if (what == "nics") {
      int nics = -1;
      if (!(words >> nics) || (words >> extra) || nics < 0)
        bad("expected: nics <per node> (0: one per rank)");
      p->nicsPerNode = nics;
    } else {
      bad("unknown setting (expected link, reduce, scale or nics)");
    }
  }
}

double predictSeconds(const CollArgs& a, const std::string& name, const TuningParams& p) {
  const int n = a.nranks;
  const double S = totalBytes(a);
  const double C = static_cast<double>(std::max<size_t>(a.chunkBytes, 1));
  const Topology topo = topologyOf(a);
  // Flat algorithms are as slow as their slowest link.
  const LinkCost& l = topo.nodes > 1 ? p.inter : p.intra;
  const double al = l.alpha, be = l.beta, ga = p.gamma;
  const double d = ceilLog2(n);
  double t = -1;
  if (n == 1) {
    t = name == "ring" || name == "dissemination" ? 0
                                                  : 1e-9;  // anything works; prefer the plain one
  } else {
    switch (a.kind) {
      case CollKind::kAllReduce:
        if (name == "ring") {
          t = 2.0 * (n - 1) * msgs(S / n, C) * al + 2.0 * (n - 1) / n * S * be +
              (n - 1.0) / n * S * ga;
        } else if (name == "tree") {
          // Each half streams through a tree of depth d; in steady state a
          // rank sends about twice the data (once up and twice down in the
          // tree where it is interior, once up where it is a leaf).
          const double c = std::min(C, S / 2);
          const double k = msgs(S / 2, C);
          const double f = n == 2 ? 1.0 : 2.0;
          // Interior ranks reduce their tree's half from each child; at two
          // ranks each is the root of one tree with one child: half in all.
          const double reduced = n == 2 ? S / 2 : S;
          t = 2.0 * d * (al + c * be) + 2.0 * k * f * al + f * S * be + reduced * ga;
          // At a power of two rhd needs no fix-up step and its allgather
          // levels land in place: at 4 ranks it beat the tree by 1.1-1.8x
          // from 256 KiB to 1 MiB (a tie at 128 KiB) and ring did by 1.2x at
          // 2 MiB (RESULTS.md, "tree discount"), where the tree was chosen.
          if (n > 2 && k <= 2 && (n & (n - 1)) != 0) t *= p.treeShort;
          if (n > 2 && k >= 64) t *= p.treeLong;
          if (n == 2 && k >= 64) t *= p.treePair;
        } else if (name == "rhd") {
          int p2 = 1;
          while (p2 * 2 <= n) p2 *= 2;
          const bool fix = p2 != n;
          double m = 0;  // messages per rank and phase: half, quarter, ... of the data
          for (int l = 0; (1 << l) < p2; ++l) m += msgs(S / (2 << l), C);
          t = 2.0 * m * al + 2.0 * (p2 - 1) / p2 * S * be + (p2 - 1.0) / p2 * S * ga;
          if (fix) t += 2.0 * (msgs(S, C) * al + S * be) + S * ga;
        } else if (name == "rd") {
          int p2 = 1;
          while (p2 * 2 <= n) p2 *= 2;
          const double levels = ceilLog2(p2);
          t = levels * (msgs(S, C) * al + S * be + S * ga);
          if (p2 != n) t += 2.0 * (msgs(S, C) * al + S * be) + S * ga;
        } else if (name == "hier") {
          const double m = topo.maxLocal, N = topo.nodes;
          const LinkCost &in = p.intra, &out = p.inter;
          t = 2.0 * (m - 1) * msgs(S / m, C) * in.alpha + 2.0 * (m - 1) / m * S * in.beta +
              (m - 1) / m * S * ga;
          // Each local rank drives 1/m of the data across, over the node's
          // k links: each link carries m/k ranks' shares.
          const double k = p.nicsPerNode > 0 ? std::min<double>(p.nicsPerNode, m) : m;
          t += 2.0 * (N - 1) * msgs(S / (m * N), C) * out.alpha +
               2.0 * (N - 1) / N * S / k * out.beta + (N - 1) / N * (S / m) * ga;
        }
        break;
      case CollKind::kReduceScatter:
        if (name == "ring")
          t = (n - 1.0) * msgs(S / n, C) * al + (n - 1.0) / n * S * be + (n - 1.0) / n * S * ga;
        break;
      case CollKind::kAllGather:
        if (name == "ring") t = (n - 1.0) * msgs(S / n, C) * al + (n - 1.0) / n * S * be;
        break;
      case CollKind::kBroadcast: {
        const double c = std::min(C, S), k = msgs(S, C);
        if (name == "ring") t = (n - 2 + k) * (al + c * be);
        if (name == "tree") t = d * (k * al + S * be);
        break;
      }
      case CollKind::kReduce: {
        const double c = std::min(C, S), k = msgs(S, C);
        if (name == "ring") t = (n - 2 + k) * (al + c * (be + ga));
        if (name == "tree") t = d * (k * al + S * (be + ga));
        break;
      }
      case CollKind::kBarrier:
        if (name == "dissemination") t = d * al;
        break;
    }
  }
  if (t < 0) return t;
  auto it = p.scale.find(std::string(collName(a.kind)) + ":" + name);
  return it == p.scale.end() ? t : t * it->second;
}

const algorithms::AlgorithmInfo* pickByModel(const CollArgs& args, const TuningParams& params,
                                             std::string* table) {
  const algorithms::AlgorithmInfo* best = nullptr;
  double bestT = 0;
  for (const auto& a : algorithms::registry()) {
    if (a.kind != args.kind) continue;
    if (a.applies && !a.applies(args)) {
      if (table) *table += strprintf(" %s n/a;", a.name);
      continue;
    }
    double t = predictSeconds(args, a.name, params);
    if (table) {
      *table +=
          t < 0 ? strprintf(" %s no model;", a.name) : strprintf(" %s %.1f us;", a.name, t / kUs);
    }
    // Algorithms without a model are only the fallback.
    if (!best || (t >= 0 && (bestT < 0 || t < bestT))) {
      best = &a;
      bestT = t;
    }
  }
  return best;
}

void tunerAgree(shoalComm* comm) {
  if (!comm->tuner) comm->tuner = std::make_shared<TunerState>();
  if (!comm->tuner->agreed) agree(comm, *comm->tuner);
}

const algorithms::AlgorithmInfo& tunerChoose(shoalComm* comm, const CollArgs& args) {
  if (!comm->tuner) comm->tuner = std::make_shared<TunerState>();
  TunerState& st = *comm->tuner;
  const auto ck =
      std::make_pair(static_cast<int>(args.kind), static_cast<size_t>(totalBytes(args)));
  auto hit = st.choices.find(ck);
  if (hit != st.choices.end()) return *hit->second;
  if (!st.agreed) agree(comm, st);
  std::string table;
  const algorithms::AlgorithmInfo* best = pickByModel(args, st.params, &table);
  if (!best) {
    fail(shoalInternalError, "rank %d: no algorithm implements %s", comm->rank,
         collName(args.kind));
  }
  SHOAL_INFO(TUNING, "rank %d: %s of %zu bytes over %d ranks, predicted:%s chose %s", comm->rank,
             collName(args.kind), ck.second, args.nranks, table.c_str(), best->name);
  if (st.choices.size() >= 4096) st.choices.clear();
  st.choices.emplace(ck, best);
  return *best;
}

}  // namespace shoal
