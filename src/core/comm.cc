#include "core/comm.h"

#include <algorithm>
#include <atomic>
#include <cstring>

#include "algorithms/algorithm.h"
#include "core/config.h"
#include "core/error.h"
#include "core/fault_hooks.h"
#include "core/log.h"
#include "core/reduce.h"
#include "core/stream_proxy.h"
#include "core/tuner.h"
#include "cuda/cuda_api.h"
#include "topo/binding.h"
#include "transports/device.h"

namespace shoal {

Deadline Deadline::fromConfig() { return after(config::getDouble("SHOAL_TIMEOUT")); }

namespace {

// Every rank must run the same transport: each says which it can use and the
// first in preference order that all can use (and that reaches everyone) wins.
transport::Device* chooseTransport(shoalComm* comm, Deadline deadline) {
  const auto& devs = transport::devices();
  std::vector<std::string> hosts;
  for (int r = 0; r < comm->size; ++r) hosts.push_back(comm->bootstrap->hostId(r));
  std::string forced = config::getString("SHOAL_TRANSPORT");
  uint64_t mine = 0;
  std::string reasons;
  for (size_t i = 0; i < devs.size(); ++i) {
    // A transport named by SHOAL_TRANSPORT is the only one probed: starting
    // the others (UCX's probe starts a whole UCP context) costs seconds on
    // a slow machine and decides nothing.
    if (!forced.empty() && forced != devs[i]->name()) continue;
    std::string why;
    if (devs[i]->usable(&why)) {
      mine |= uint64_t{1} << i;
    } else {
      reasons += strprintf(" %s: %s;", devs[i]->name(), why.c_str());
    }
  }
  std::vector<uint64_t> all(comm->size);
  comm->bootstrap->allgather(&mine, all.data(), sizeof(mine), deadline);
  uint64_t common = ~uint64_t{0};
  for (uint64_t m : all) common &= m;
  if (!forced.empty()) {
    transport::Device* dev = transport::findDevice(forced);
    if (!dev) {
      std::string known;
      for (auto* d : devs) known += std::string(" ") + d->name();
      fail(shoalInvalidArgument,
           "rank %d: init: SHOAL_TRANSPORT=%s is not built into this shoal (built:%s)", comm->rank,
           forced.c_str(), known.c_str());
    }
    size_t idx = 0;
    while (devs[idx] != dev) ++idx;
    if (!(common & (uint64_t{1} << idx))) {
      std::string who;
      for (int r = 0; r < comm->size; ++r) {
        if (!(all[r] & (uint64_t{1} << idx))) {
          if (!who.empty()) who += ",";
          who += std::to_string(r);
        }
      }
      fail(shoalInvalidUsage, "rank %d: init: SHOAL_TRANSPORT=%s is not usable on ranks {%s}.%s",
           comm->rank, forced.c_str(), who.c_str(),
           reasons.empty() ? "" : (" Here:" + reasons).c_str());
    }
    if (!dev->reachesAll(hosts)) {
      fail(shoalInvalidUsage,
           "rank %d: init: SHOAL_TRANSPORT=%s cannot connect ranks on different hosts", comm->rank,
           forced.c_str());
    }
    return dev;
  }
  // shm first when everyone shares a host; else the RDMA-capable ones.
  transport::Device* shm = transport::findDevice("shm");
  if (shm && shm->reachesAll(hosts)) return shm;
  for (size_t i = 0; i < devs.size(); ++i) {
    if ((common & (uint64_t{1} << i)) && devs[i]->reachesAll(hosts)) return devs[i];
  }
  fail(shoalSystemError, "rank %d: init: no transport can connect all %d ranks.%s", comm->rank,
       comm->size, reasons.c_str());
}

// SHOAL_ALGO in NCCL's grammar: "ring", or "allreduce:ring;broadcast:tree".
// Returns the name forced for this collective, or "" for automatic.
std::string forcedAlgorithm(CollKind kind) {
  std::string v = config::getString("SHOAL_ALGO");
  const std::string coll = collName(kind);
  std::string pick;
  size_t pos = 0;
  while (!v.empty() && pos <= v.size()) {
    size_t end = v.find(';', pos);
    if (end == std::string::npos) end = v.size();
    std::string item = v.substr(pos, end - pos);
    size_t colon = item.find(':');
    if (colon == std::string::npos) {
      if (pick.empty()) pick = item;
    } else if (item.substr(0, colon) == coll) {
      pick = item.substr(colon + 1);
    }
    pos = end + 1;
  }
  for (auto& c : pick) c = static_cast<char>(tolower(c));
  return pick == "auto" ? "" : pick;
}

const algorithms::AlgorithmInfo& chooseAlgorithm(shoalComm* comm, const CollArgs& args) {
  std::string forced = forcedAlgorithm(args.kind);
  if (!forced.empty()) {
    const auto* a = algorithms::findAlgorithm(args.kind, forced);
    // A forced name that only exists for other collectives falls back to
    // automatic for this one, as NCCL does for "NCCL_ALGO=ring" on broadcast.
    if (a && (!a->applies || a->applies(args))) return *a;
    bool knownAnywhere = false;
    std::string known;
    for (const auto& x : algorithms::registry()) {
      knownAnywhere = knownAnywhere || forced == x.name;
      if (x.kind == args.kind) known += std::string(known.empty() ? "" : ", ") + x.name;
    }
    if (!knownAnywhere) {
      fail(shoalInvalidUsage, "rank %d: SHOAL_ALGO=%s: unknown algorithm '%s' for %s (known: %s)",
           comm->rank, config::getString("SHOAL_ALGO").c_str(), forced.c_str(), collName(args.kind),
           known.c_str());
    }
  }
  return tunerChoose(comm, args);
}

const shoalComm::Plan& plan(shoalComm* comm, const CollArgs& args) {
  bool algoChanged = false;
  comm->algoEnv.read(&algoChanged);
  if (algoChanged) comm->lastPlan = nullptr;
  shoalComm::CallShape shape{
      static_cast<int>(args.kind), args.count, args.dtype, args.op, args.root, args.inPlace};
  if (comm->lastPlan && shape == comm->lastShape) return *comm->lastPlan;
  const auto& algo = chooseAlgorithm(comm, args);
  shoalComm::PlanKey key{shape, &algo};
  auto it = comm->plans.find(key);
  if (it == comm->plans.end()) {
    constexpr size_t kMaxPlans = 64;
    if (comm->planOrder.size() >= kMaxPlans) {
      comm->plans.erase(comm->planOrder.front());
      comm->planOrder.pop_front();
      comm->lastPlan = nullptr;
    }
    comm->planOrder.push_back(key);
    shoalComm::Plan p;
    p.schedule = algo.plan(args);
    p.schedule.algorithm = algo.name;
    static std::atomic<uint64_t> lastScheduleId{0};
    p.schedule.id = ++lastScheduleId;
    p.signature = CallSignature{static_cast<uint8_t>(args.kind),
                                static_cast<uint8_t>(args.dtype),
                                static_cast<uint8_t>(args.op),
                                0,
                                args.root,
                                args.count,
                                0,
                                {}};
    snprintf(p.signature.algorithm, sizeof(p.signature.algorithm), "%s", algo.name);
    it = comm->plans.emplace(key, std::move(p)).first;
  }
  comm->lastShape = shape;
  comm->lastPlan = &it->second;
  return it->second;
}

}  // namespace

std::unique_ptr<shoalComm> commCreate(const UniqueIdData& id, int nranks, int rank) {
  if (nranks < 1) fail(shoalInvalidArgument, "init: nranks=%d must be at least 1", nranks);
  if (rank < 0 || rank >= nranks)
    fail(shoalInvalidArgument, "init: rank=%d is outside [0, %d)", rank, nranks);
  log::setRank(rank);
  auto comm = std::make_unique<shoalComm>();
  comm->rank = rank;
  comm->size = nranks;
  comm->timeoutSeconds = config::getDouble("SHOAL_TIMEOUT");
  Deadline deadline = Deadline::after(comm->timeoutSeconds);
  comm->bootstrap = Bootstrap::create(id, rank, nranks, deadline);
  const faults::Hooks hooks = faults::load(rank);
  faults::reached(hooks, faults::Phase::kBootstrap);
  for (int r = 0; r < nranks; ++r) comm->hosts.push_back(comm->bootstrap->hostId(r));
  topo::onCommInit(comm->hosts, rank);  // local rank for the transports; SHOAL_BIND
  transport::Device* dev = chooseTransport(comm.get(), deadline);
  comm->transport = dev->createContext(rank, nranks);
  comm->transport->connect(*comm->bootstrap, deadline);
  faults::reached(hooks, faults::Phase::kConnect);
  size_t chunk = config::getSize("SHOAL_CHUNK_SIZE");
  int slots = static_cast<int>(config::getInt("SHOAL_SLOTS"));
  comm->executor = std::make_unique<Executor>(*comm->transport, *comm->bootstrap, chunk, slots);
  comm->executor->setFaultHooks(hooks);
  comm->executor->connect(deadline);
  tunerAgree(comm.get());
  comm->bootstrap->barrier(deadline);
  SHOAL_INFO(INIT, "rank %d/%d: communicator ready over %s (chunk %zu bytes, %d slots)", rank,
             nranks, comm->transport->name(), comm->executor->chunkBytes(), slots);
  return comm;
}

namespace {

// What every call does first: refuse a broken communicator, take the next
// sequence number and the plan (which also names the algorithm).
const shoalComm::Plan& startCall(shoalComm* comm, CollKind kind, const void* send, void* recv,
                                 size_t count, shoalDataType_t dtype, shoalRedOp_t op, int root,
                                 uint64_t* seqOut, bool* inPlaceOut) {
  const char* name = collName(kind);
  if (!comm->brokenReason.empty()) {
    fail(shoalInvalidUsage,
         "rank %d: %s: communicator is unusable after an earlier error (%s); destroy it",
         comm->rank, name, comm->brokenReason.c_str());
  }
  uint64_t seq = ++comm->sequence;
  const size_t es = dtypeSize(dtype);
  bool inPlace = send == recv;
  // NCCL's in-place conventions for the collectives whose buffers differ in size.
  if (kind == CollKind::kReduceScatter) {
    inPlace = send == static_cast<const char*>(recv) - static_cast<size_t>(comm->rank) * count * es;
  } else if (kind == CollKind::kAllGather) {
    inPlace = static_cast<const char*>(send) ==
              static_cast<const char*>(recv) + static_cast<size_t>(comm->rank) * count * es;
  }
  CollArgs args{kind,        comm->rank, comm->size,
                count,       dtype,      op,
                root,        inPlace,    comm->executor->chunkBytes(),
                &comm->hosts};
  const shoalComm::Plan& pl = plan(comm, args);
  // Plans' ids are unique in the process: a repeated call compares one word.
  if (pl.schedule.id != comm->lastAlgorithmPlan) {
    comm->lastAlgorithm = pl.schedule.algorithm;
    comm->lastAlgorithmPlan = pl.schedule.id;
  }
  *seqOut = seq;
  *inPlaceOut = inPlace;
  return pl;
}

}  // namespace

void commCollective(shoalComm* comm, CollKind kind, const void* send, void* recv, size_t count,
                    shoalDataType_t dtype, shoalRedOp_t op, int root, int device) {
  const char* name = collName(kind);
  uint64_t seq = 0;
  bool inPlace = false;
  const shoalComm::Plan& pl =
      startCall(comm, kind, send, recv, count, dtype, op, root, &seq, &inPlace);
  const Schedule& sch = pl.schedule;
  // Schedules address the send buffer of reducescatter/allgather as the whole
  // n*count array even in place, so the executor sees NCCL's layout as is.
  ExecBuffers bufs{send, recv, nullptr, device};
  if (kind == CollKind::kAllGather && inPlace) bufs.send = recv;
  // Host scratch is kept between calls up to a bound, so repeated calls do
  // not allocate; larger scratch is freed when the call ends.
  constexpr size_t kKeepScratch = size_t{16} << 20;
  std::vector<char> bigScratch;
  if (sch.scratchBytes && device >= 0) {
    bufs.scratch = comm->executor->deviceScratch(device, sch.scratchBytes);
  } else if (sch.scratchBytes > kKeepScratch) {
    bigScratch.resize(sch.scratchBytes);
    bufs.scratch = bigScratch.data();
  } else if (sch.scratchBytes) {
    if (comm->scratch.size() < sch.scratchBytes) comm->scratch.resize(sch.scratchBytes);
    bufs.scratch = comm->scratch.data();
  }
  try {
    CallSignature sig = pl.signature;
    sig.sequence = seq;
    comm->executor->run(sch, bufs, dtype, op, ExecLabel{name, seq, sch.algorithm.c_str(), sig},
                        comm->timeoutSeconds, &comm->aborted);
  } catch (const Error& e) {
    comm->brokenReason = e.what();
    throw;
  }
}

void commSingleRankOnStream(shoalComm* comm, CollKind kind, const void* send, void* recv,
                            size_t count, shoalDataType_t dtype, shoalRedOp_t op, int root,
                            int device, cuda::Stream stream) {
  uint64_t seq = 0;
  bool inPlace = false;
  startCall(comm, kind, send, recv, count, dtype, op, root, &seq, &inPlace);
  // Every collective's result on one rank is its input (a sum, product,
  // extremum or average of one value is that value): one copy, or none.
  if (count == 0 || inPlace) return;
  const size_t bytes = count * dtypeSize(dtype);
  if (stream) {
    cuda::copyAsync(recv, send, bytes, stream);
    return;
  }
  // No stream: on the legacy default stream of the buffers' GPU, and the call
  // returns complete (a device-to-device cudaMemcpy would not wait).
  cuda::DeviceScope on(device);
  cuda::copyAsync(recv, send, bytes, nullptr);
  cuda::streamSync(nullptr, Deadline::after(comm->timeoutSeconds), collName(kind));
}

}  // namespace shoal

shoalComm::shoalComm() = default;

shoalComm::~shoalComm() { streams.reset(); }

void shoalComm::release() {
  streams.reset();
  executor.reset();
  transport.reset();
  bootstrap.reset();
  tuner.reset();
  lastPlan = nullptr;
  plans.clear();
  planOrder.clear();
  std::vector<char>().swap(scratch);
  std::vector<std::string>().swap(hosts);
  std::string().swap(brokenReason);
  std::string().swap(lastError);
}

namespace shoal {

void commDestroy(shoalComm* comm) {
  // Stream-ordered calls still queued run (or fail at once when the
  // communicator is aborted or broken) before the connections go.
  comm->streams.reset();
  // A short barrier first, so no peer is still waiting for a transport-level
  // acknowledgement from this rank when its connections go away. Best effort:
  // a dead peer must not turn destroy into an error or a hang.
  if (comm->bootstrap && comm->brokenReason.empty() && !comm->aborted.load()) {
    try {
      comm->bootstrap->barrier(Deadline::after(std::min(comm->timeoutSeconds, 10.0)));
    } catch (const Error& e) {
      SHOAL_INFO(INIT, "rank %d: destroy: peers did not all reach the final barrier: %s",
                 comm->rank, e.what());
    }
  }
  if (comm->transport) comm->transport->quiesce();
  comm->executor.reset();
  comm->transport.reset();
  if (comm->bootstrap) comm->bootstrap->close();
}

}  // namespace shoal
