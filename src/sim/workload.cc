#include "sim/workload.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <exception>
#include <thread>
#include <unordered_map>

#include "algorithms/algorithm.h"
#include "core/config.h"
#include "core/error.h"

namespace shoal::sim {

bool Template::operator==(const Template& o) const {
  if (peers != o.peers || steps.size() != o.steps.size()) return false;
  for (size_t i = 0; i < steps.size(); ++i) {
    const SimStep &a = steps[i], &b = o.steps[i];
    if (a.kind != b.kind || a.chan != b.chan || a.bytes != b.bytes || a.dep[0] != b.dep[0] ||
        a.dep[1] != b.dep[1])
      return false;
  }
  return true;
}

bool Template::sameMessages(const Template& o) const {
  if (peers != o.peers || steps.size() != o.steps.size()) return false;
  for (size_t i = 0; i < steps.size(); ++i) {
    const SimStep &a = steps[i], &b = o.steps[i];
    if (a.kind != b.kind || a.chan != b.chan || a.bytes != b.bytes) return false;
  }
  return true;
}

std::vector<std::string> hostIds(const Cluster& c) {
  std::vector<std::string> hosts;
  hosts.reserve(static_cast<size_t>(c.ranks()));
  char buf[32];
  for (int r = 0; r < c.ranks(); ++r) {
    snprintf(buf, sizeof buf, "node%05d", r / c.ranksPerNode);
    hosts.emplace_back(buf);
  }
  return hosts;
}

size_t chunkBytesFromConfig() {
  // Executor's slot rounding (executor.cc): cache-line and element aligned.
  return config::getSize("SHOAL_CHUNK_SIZE") & ~size_t{63};
}

int slotsFromConfig() { return static_cast<int>(config::getInt("SHOAL_SLOTS")); }

CollArgs collArgsFor(const WorkloadSpec& spec, int rank, int nranks,
                     const std::vector<std::string>& hosts) {
  return CollArgs{spec.kind,  rank,         nranks,
                  spec.count, spec.dtype,   spec.op,
                  spec.root,  spec.inPlace, chunkBytesFromConfig(),
                  &hosts};
}

Template toTemplate(const Schedule& s, int rank, int nranks) {
  Template t;
  t.steps.reserve(s.steps.size());
  const size_t total = s.steps.size();
  std::vector<int32_t> ndeps(total + 1, 0);
  for (size_t i = 0; i < total; ++i) {
    const Step& x = s.steps[i];
    SimStep y;
    y.kind = x.kind;
    y.bytes = x.bytes;
    y.dep[0] = x.dep[0];
    y.dep[1] = x.dep[1];
    if (x.peer >= 0) {
      const int off = ((x.peer - rank) % nranks + nranks) % nranks;
      size_t c = 0;
      while (c < t.peers.size() && t.peers[c] != off) ++c;
      if (c == t.peers.size()) {
        if (c >= kLocal) fail(shoalInternalError, "sim: rank %d talks to too many peers", rank);
        t.peers.push_back(off);
        t.sendQ.emplace_back();
        t.recvQ.emplace_back();
      }
      y.chan = static_cast<uint16_t>(c);
      (x.kind == StepKind::kSend ? t.sendQ : t.recvQ)[c].push_back(static_cast<int32_t>(i));
    }
    uint8_t w = 0;
    for (int32_t d : x.dep) {
      if (d < 0) continue;
      if (static_cast<size_t>(d) >= i)
        fail(shoalInternalError, "sim: rank %d step %zu depends on a later step", rank, i);
      ++w;
      ++ndeps[static_cast<size_t>(d) + 1];
    }
    t.waiting0.push_back(w);
    t.steps.push_back(y);
  }
  for (size_t i = 0; i < total; ++i) ndeps[i + 1] += ndeps[i];
  t.depBegin = ndeps;
  t.depList.assign(static_cast<size_t>(ndeps[total]), 0);
  std::vector<int32_t> fill(ndeps.begin(), ndeps.end() - 1);
  for (size_t i = 0; i < total; ++i) {
    for (int32_t d : s.steps[i].dep) {
      if (d >= 0)
        t.depList[static_cast<size_t>(fill[static_cast<size_t>(d)]++)] = static_cast<int32_t>(i);
    }
  }
  return t;
}

namespace {

uint64_t hashOf(const Template& t) {
  uint64_t h = 1469598103934665603ull;
  auto mix = [&](uint64_t v) { h = (h ^ v) * 1099511628211ull; };
  for (int p : t.peers) mix(static_cast<uint64_t>(p));
  for (const SimStep& s : t.steps) {
    mix(static_cast<uint64_t>(s.kind) << 16 | s.chan);
    mix(s.bytes);
    mix(static_cast<uint64_t>(static_cast<uint32_t>(s.dep[0])) << 32 |
        static_cast<uint32_t>(s.dep[1]));
  }
  return h;
}

// Nodes whose schedules are compared with node 0's when assuming symmetry:
// the neighbours of the wrap-around, the middle, and a few spread ones.
std::vector<int> sampleNodes(int nodes) {
  std::vector<int> pick = {1, nodes - 1, nodes / 2, nodes / 3, (2 * nodes) / 3, nodes - 2};
  std::vector<int> out;
  for (int x : pick) {
    if (x <= 0 || x >= nodes) continue;
    bool seen = false;
    for (int y : out) seen = seen || y == x;
    if (!seen) out.push_back(x);
  }
  return out;
}

}  // namespace

Workload buildWorkload(const Cluster& c, const WorkloadSpec& spec) {
  using Clock = std::chrono::steady_clock;
  const auto t0 = Clock::now();
  const int n = c.ranks();
  if (c.nodes < 1 || c.ranksPerNode < 1)
    fail(shoalInvalidArgument, "sim: cluster %d x %d is empty", c.nodes, c.ranksPerNode);
  const auto* algo = algorithms::findAlgorithm(spec.kind, spec.algorithm);
  if (!algo) {
    fail(shoalInvalidArgument, "sim: no algorithm '%s' for %s", spec.algorithm.c_str(),
         collName(spec.kind));
  }
  Workload w;
  w.cluster = c;
  w.spec = spec;
  w.chunkBytes = chunkBytesFromConfig();
  const auto hosts = hostIds(c);
  {
    CollArgs a0 = collArgsFor(spec, 0, n, hosts);
    if (algo->applies && !algo->applies(a0)) {
      fail(shoalInvalidArgument, "sim: %s %s does not apply to %d nodes x %d ranks",
           collName(spec.kind), spec.algorithm.c_str(), c.nodes, c.ranksPerNode);
    }
  }
  // Built once: reading the configuration per rank would cost, and the
  // threads below must not touch it.
  const CollArgs base = collArgsFor(spec, 0, n, hosts);
  auto plan = [&](int r) {
    CollArgs a = base;
    a.rank = r;
    return toTemplate(algo->plan(a), r, n);
  };
  auto generate = [&](int r) {
    ++w.generated;
    return plan(r);
  };

  const int m = c.ranksPerNode;
  if (spec.symmetry > 0 && c.nodes > 2) {
    for (int l = 0; l < m; ++l) w.templates.push_back(generate(l));
    // Ranks of other nodes, generated once and compared under each symmetry.
    std::unordered_map<int, Template> samples;
    auto sample = [&](int r) -> const Template& {
      auto it = samples.find(r);
      if (it == samples.end()) it = samples.emplace(r, generate(r)).first;
      return it->second;
    };
    uint64_t nodeSteps = 0;
    for (const Template& t : w.templates) nodeSteps += t.steps.size();
    const uint64_t estimate = nodeSteps * static_cast<uint64_t>(c.nodes);
    const bool overBudget = spec.maxSteps > 0 && estimate > spec.maxSteps;
    // Where only dependencies differ, the approximation (symmetry 2, or over
    // the budget) needs every sample node to send the same messages.
    const bool acceptDeps = spec.symmetry >= 2 || overBudget;
    bool same = true, sameMessages = true;
    int checked = 0;
    for (int node : sampleNodes(c.nodes)) {
      for (int l = 0; l < m && sameMessages; ++l) {
        const Template& t = sample(node * m + l);
        const Template& ref = w.templates[static_cast<size_t>(l)];
        same = same && t == ref;
        sameMessages = t.sameMessages(ref);
        ++checked;
      }
      if (!sameMessages || (!same && !acceptDeps)) break;
    }
    // Every rank runs node 0's schedules moved by whole nodes.
    auto useNodeZero = [&]() {
      w.templateOf.resize(static_cast<size_t>(n));
      for (int r = 0; r < n; ++r) w.templateOf[static_cast<size_t>(r)] = r % m;
      w.period = m;
      w.how = same ? "node-translation symmetry, checked on " + std::to_string(checked) +
                         " ranks of other nodes"
                   : "APPROXIMATE: node 0's schedules moved to every node" +
                         (spec.symmetry >= 2 ? std::string()
                                             : " (every rank would be " + std::to_string(estimate) +
                                                   " simulated steps, over the budget of " +
                                                   std::to_string(spec.maxSteps) + ")") +
                         "; " + std::to_string(checked) +
                         " ranks of other nodes checked send the same messages but their "
                         "dependencies differ";
      w.exact = same;
      w.seconds = std::chrono::duration<double>(Clock::now() - t0).count();
    };
    if (same || (sameMessages && spec.symmetry >= 2)) {
      useNodeZero();
      return w;
    }
    // Exchange symmetry: rank l + k (k a multiple of m) is rank l with every
    // peer XORed by k. Exact only, and only where XOR keeps ranks in range
    // and maps nodes onto nodes.
    auto pow2 = [](int x) { return x > 0 && (x & (x - 1)) == 0; };
    if (pow2(n) && pow2(m)) {
      bool xorSame = true;
      int xorChecked = 0;
      for (int node : sampleNodes(c.nodes)) {
        for (int l = 0; l < m && xorSame; ++l) {
          const int r = node * m + l;
          Template moved = w.templates[static_cast<size_t>(l)];
          for (int& off : moved.peers) {
            const int peer = ((l + off) % n) ^ (node * m);
            off = ((peer - r) % n + n) % n;
          }
          xorSame = sample(r) == moved;
          ++xorChecked;
        }
        if (!xorSame) break;
      }
      if (xorSame) {
        w.templateOf.resize(static_cast<size_t>(n));
        for (int r = 0; r < n; ++r) w.templateOf[static_cast<size_t>(r)] = r % m;
        w.period = m;
        w.xorMap = true;
        w.how = "exchange (XOR) symmetry, checked on " + std::to_string(xorChecked) +
                " ranks of other nodes";
        w.seconds = std::chrono::duration<double>(Clock::now() - t0).count();
        return w;
      }
    }
    // Over the budget, an exact symmetry having failed: differing
    // dependencies are accepted as with symmetry 2.
    if (sameMessages && overBudget) {
      useNodeZero();
      return w;
    }
    w.templates.clear();
    w.how = sameMessages ? "not node-symmetric (dependencies differ on other nodes; -S 2 "
                           "would approximate); "
                         : "not node-symmetric (other nodes send different messages); ";
    if (overBudget) {
      w.overBudget = true;
      w.estimatedSteps = estimate;
      w.how += "every rank would be about " + std::to_string(estimate) +
               " simulated steps, over the budget of " + std::to_string(spec.maxSteps);
      w.seconds = std::chrono::duration<double>(Clock::now() - t0).count();
      return w;
    }
  }
  // Every rank, deduplicated. The algorithms are pure functions of their
  // arguments, so ranks are generated in parallel blocks, each deduplicated
  // on its own, then merged.
  struct Part {
    std::vector<Template> templates;
    std::vector<int32_t> of;  // per rank of the block, index into templates
    std::exception_ptr error;
  };
  auto dedupe = [](std::vector<Template>& into, std::unordered_multimap<uint64_t, int32_t>& seen,
                   Template&& t) {
    const uint64_t h = hashOf(t);
    auto range = seen.equal_range(h);
    for (auto it = range.first; it != range.second; ++it) {
      if (into[static_cast<size_t>(it->second)] == t) return it->second;
    }
    const int32_t id = static_cast<int32_t>(into.size());
    into.push_back(std::move(t));
    seen.emplace(h, id);
    return id;
  };
  const int threads =
      spec.threads > 0 ? std::min(spec.threads, n)
                       : std::max(1, std::min(static_cast<int>(std::thread::hardware_concurrency()),
                                              n / 64 + 1));
  std::vector<Part> parts(static_cast<size_t>(threads));
  auto work = [&](int t) {
    Part& part = parts[static_cast<size_t>(t)];
    try {
      std::unordered_multimap<uint64_t, int32_t> seen;
      const int lo = static_cast<int>(static_cast<long long>(n) * t / threads);
      const int hi = static_cast<int>(static_cast<long long>(n) * (t + 1) / threads);
      for (int r = lo; r < hi; ++r) part.of.push_back(dedupe(part.templates, seen, plan(r)));
    } catch (...) {
      part.error = std::current_exception();
    }
  };
  std::vector<std::thread> pool;
  for (int t = 1; t < threads; ++t) pool.emplace_back(work, t);
  work(0);
  for (auto& th : pool) th.join();
  for (const Part& part : parts) {
    if (part.error) std::rethrow_exception(part.error);
  }
  w.generated += n;
  std::unordered_multimap<uint64_t, int32_t> seen;
  w.templateOf.clear();
  w.templateOf.reserve(static_cast<size_t>(n));
  for (Part& part : parts) {
    std::vector<int32_t> global;
    for (Template& t : part.templates) global.push_back(dedupe(w.templates, seen, std::move(t)));
    for (int32_t id : part.of) w.templateOf.push_back(global[static_cast<size_t>(id)]);
  }
  w.period = n;
  w.how += "generated all " + std::to_string(n) + " ranks (" + std::to_string(w.templates.size()) +
           " distinct, " + std::to_string(threads) + " threads)";
  w.seconds = std::chrono::duration<double>(Clock::now() - t0).count();
  return w;
}

}  // namespace shoal::sim
