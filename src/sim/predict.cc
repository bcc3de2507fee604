#include "sim/predict.h"

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

Prediction predict(const Cluster& c, const WorkloadSpec& spec, const Profile& p,
                   const EngineOptions& o) {
  Prediction out;
  Workload w = buildWorkload(c, spec);
  out.how = w.how;
  out.genSeconds = w.seconds;
  out.generated = w.generated;
  out.exact = w.exact;
  out.run = simulate(w, p, o);
  out.seconds = out.run.seconds;
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
