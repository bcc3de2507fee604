#include "sim/predict.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <string>

#include "core/reduce.h"

namespace shoal::sim {

double busFactor(CollKind kind, int n) {
  switch (kind) {
    case CollKind::kAllReduce:
      return 2.0 * (n - 1) / n;
    case CollKind::kReduceScatter:
    case CollKind::kAllGather:
      return (n - 1.0) / n;
    default:
      return 1.0;
  }
}

size_t reportedBytes(CollKind kind, size_t count, shoalDataType_t dtype, int n) {
  size_t b = count * dtypeSize(dtype);
  if (kind == CollKind::kReduceScatter || kind == CollKind::kAllGather) b *= static_cast<size_t>(n);
  return b;
}

namespace {

Prediction simulated(const Workload& w, const Profile& p, const EngineOptions& o) {
  Prediction out;
  out.how = w.how;
  out.genSeconds = w.seconds;
  out.generated = w.generated;
  out.exact = w.exact;
  out.run = simulate(w, p, o);
  out.seconds = out.run.seconds;
  return out;
}

// Over the step budget with no symmetry to use: the same collective at two
// smaller counts c1 < c2, each under the budget, and the time (and every
// per-rank count) extrapolated linearly in the count from them. Past the
// pipeline's fill, each further chunk adds one steady-state period (tree,
// hier, rhd at large sizes); below one element per rank each further
// element adds one more message to every relay's train (ring, hier at
// 8-32 KiB). Neither is exact: the error is measured in perf/SCALE.md.
Prediction extrapolate(const Cluster& c, const WorkloadSpec& spec, const Profile& p,
                       const EngineOptions& o, const Workload& over) {
  const size_t count = spec.count;
  const size_t ce = std::max<size_t>(1, over.chunkBytes / dtypeSize(spec.dtype));
  // The larger count aims at a quarter of the budget, so both runs
  // together cost 3/8 of what one run at the budget would (at 2048 x 8 a
  // tree then has 12 and 25 chunks per half: within 0.6% of exact at 64-256
  // nodes, perf/SCALE.md).
  const double scale = static_cast<double>(spec.maxSteps) / 4.0 /
                       static_cast<double>(std::max<uint64_t>(1, over.estimatedSteps));
  size_t c2 = static_cast<size_t>(static_cast<double>(count) * scale);
  // Pipelined counts stay whole chunks in each half (the double tree's
  // split), as the power-of-two sizes being extrapolated are: then every
  // rank's message and byte counts are affine in the count and come out exact.
  const size_t q = c2 >= 8 * ce ? 2 * ce : 1;
  c2 -= c2 % q;
  size_t c1 = c2 / 2;
  c1 -= c1 % q;
  Prediction r[2];
  if (c1 == 0 || c1 >= c2 || c2 >= count) {
    WorkloadSpec exact = spec;
    exact.maxSteps = 0;
    Prediction out = simulated(buildWorkload(c, exact), p, o);
    out.how = over.how + "; no smaller count to extrapolate from, simulated exactly: " + out.how;
    return out;
  }
  const size_t cs[2] = {c1, c2};
  for (int i = 0; i < 2; ++i) {
    WorkloadSpec s = spec;
    s.count = cs[i];
    Workload w = buildWorkload(c, s);
    // Still over the budget (steps not proportional to the count): exact.
    if (w.overBudget) {
      s.maxSteps = 0;
      w = buildWorkload(c, s);
    }
    r[i] = simulated(w, p, o);
  }
  const double f =
      (static_cast<double>(count) - static_cast<double>(c2)) / static_cast<double>(c2 - c1);
  auto line = [&](double y1, double y2) { return y2 + (y2 - y1) * f; };
  auto lineU = [&](uint64_t y1, uint64_t y2) {
    return static_cast<uint64_t>(
        std::llround(std::max(0.0, line(static_cast<double>(y1), static_cast<double>(y2)))));
  };
  Prediction out;
  out.exact = false;
  out.run = r[1].run;
  out.run.seconds = line(r[0].run.seconds, r[1].run.seconds);
  out.run.events = r[0].run.events + r[1].run.events;
  out.run.wallSeconds = r[0].run.wallSeconds + r[1].run.wallSeconds;
  for (size_t k = 0; k < out.run.sentMsgs.size(); ++k) {
    out.run.sentMsgs[k] = lineU(r[0].run.sentMsgs[k], r[1].run.sentMsgs[k]);
    out.run.sentBytes[k] = lineU(r[0].run.sentBytes[k], r[1].run.sentBytes[k]);
    out.run.recvMsgs[k] = lineU(r[0].run.recvMsgs[k], r[1].run.recvMsgs[k]);
    out.run.recvBytes[k] = lineU(r[0].run.recvBytes[k], r[1].run.recvBytes[k]);
  }
  out.seconds = out.run.seconds;
  out.genSeconds = over.seconds + r[0].genSeconds + r[1].genSeconds;
  out.generated = over.generated + r[0].generated + r[1].generated;
  char buf[160];
  snprintf(buf, sizeof buf,
           "EXTRAPOLATED linearly in the count from %zu and %zu elements (%.6g and %.6g us)", c1,
           c2, r[0].seconds * 1e6, r[1].seconds * 1e6);
  out.how = std::string(buf) + " [" + over.how + "; at " + std::to_string(c2) +
            " elements: " + r[1].how + "]";
  return out;
}

}  // namespace

Prediction predict(const Cluster& c, const WorkloadSpec& spec, const Profile& p,
                   const EngineOptions& o) {
  const Workload w = buildWorkload(c, spec);
  Prediction out = w.overBudget ? extrapolate(c, spec, p, o, w) : simulated(w, p, o);
  const double bytes =
      static_cast<double>(reportedBytes(spec.kind, spec.count, spec.dtype, c.ranks()));
  out.algBw = out.seconds > 0 ? bytes / out.seconds / 1e9 : 0;
  out.busBw = out.algBw * busFactor(spec.kind, c.ranks());
  return out;
}

TuningParams tuningFromProfile(const Profile& p) {
  TuningParams t;
  const double step = p.stepUs * 1e-6;
  t.intra = {p.intraLatUs * 1e-6 + step, 1.0 / (p.intraGBps * 1e9)};
  double eff = 1.0;
  if (p.packetHeaderBytes > 0 && p.mtuBytes > 0)
    eff = p.mtuBytes / (p.mtuBytes + p.packetHeaderBytes);
  t.inter = {p.nicLatUs * 1e-6 + step, 1.0 / (p.nicGBps * 1e9 * eff)};
  if (p.senderCopyGBps > 0) {
    t.intra.beta += 1.0 / (p.senderCopyGBps * 1e9) + 1.0 / (p.copyGBps * 1e9);
    t.inter.beta += 1.0 / (p.senderCopyGBps * 1e9) + 1.0 / (p.copyGBps * 1e9);
  }
  t.gamma = 1.0 / (p.reduceGBps * 1e9);
  t.nicsPerNode = p.nicsPerNode;
  return t;
}

std::string tunerPick(const Cluster& c, const WorkloadSpec& spec, const TuningParams& params) {
  const auto hosts = hostIds(c);
  const CollArgs a = collArgsFor(spec, 0, c.ranks(), hosts);
  const auto* best = pickByModel(a, params, nullptr);
  return best ? best->name : "none";
}

}  // namespace shoal::sim
