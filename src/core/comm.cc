#include "core/comm.h"

#include <algorithm>
#include <cstring>

#include "algorithms/algorithm.h"
#include "core/config.h"
#include "core/error.h"
#include "core/log.h"
#include "core/reduce.h"
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
        if (!(all[r] & (uint64_t{1} << idx))) who += (who.empty() ? "" : ",") + std::to_string(r);
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

enum class Algo { kAuto, kRing };

Algo parseAlgo(const char* collective) {
  std::string v = config::getString("SHOAL_ALGO");
  if (v.empty()) return Algo::kAuto;
  // NCCL grammar: "ring" or "allreduce:ring;broadcast:tree"; a leading ^ excludes.
  std::string pick;
  size_t pos = 0;
  while (pos <= v.size()) {
    size_t end = v.find(';', pos);
    if (end == std::string::npos) end = v.size();
    std::string item = v.substr(pos, end - pos);
    size_t colon = item.find(':');
    if (colon == std::string::npos) {
      if (pick.empty()) pick = item;
    } else if (item.substr(0, colon) == collective) {
      pick = item.substr(colon + 1);
    }
    pos = end + 1;
  }
  for (auto& c : pick) c = static_cast<char>(tolower(c));
  if (pick.empty() || pick == "auto") return Algo::kAuto;
  if (pick == "ring") return Algo::kRing;
  fail(shoalInvalidUsage, "SHOAL_ALGO=%s: unknown algorithm '%s' for %s (known: ring)", v.c_str(),
       pick.c_str(), collective);
}

const Schedule& plan(shoalComm* comm, const CollArgs& args, const char* collective) {
  Algo algo = parseAlgo(collective);
  (void)algo;  // ring is the only allreduce for now; auto picks it
  std::string name = "ring";
  shoalComm::PlanKey key{0, args.count, args.dtype, args.op, args.root, args.inPlace, name};
  auto it = comm->plans.find(key);
  if (it != comm->plans.end()) return it->second;
  constexpr size_t kMaxPlans = 64;
  if (comm->planOrder.size() >= kMaxPlans) {
    comm->plans.erase(comm->planOrder.front());
    comm->planOrder.pop_front();
  }
  comm->planOrder.push_back(key);
  return comm->plans.emplace(key, algorithms::ringAllReduce(args)).first->second;
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
  transport::Device* dev = chooseTransport(comm.get(), deadline);
  comm->transport = dev->createContext(rank, nranks);
  comm->transport->connect(*comm->bootstrap, deadline);
  size_t chunk = config::getSize("SHOAL_CHUNK_SIZE");
  int slots = static_cast<int>(config::getInt("SHOAL_SLOTS"));
  comm->executor = std::make_unique<Executor>(*comm->transport, *comm->bootstrap, chunk, slots);
  comm->executor->connect(deadline);
  comm->bootstrap->barrier(deadline);
  SHOAL_INFO(INIT, "rank %d/%d: communicator ready over %s (chunk %zu bytes, %d slots)", rank,
             nranks, comm->transport->name(), comm->executor->chunkBytes(), slots);
  return comm;
}

void commAllReduce(shoalComm* comm, const void* send, void* recv, size_t count,
                   shoalDataType_t dtype, shoalRedOp_t op) {
  if (!comm->brokenReason.empty()) {
    fail(shoalInvalidUsage,
         "rank %d: allreduce: communicator is unusable after an earlier error (%s); destroy it",
         comm->rank, comm->brokenReason.c_str());
  }
  uint64_t seq = ++comm->sequence;
  CollArgs args{comm->rank, comm->size, count,        dtype,
                op,         0,          send == recv, comm->executor->chunkBytes()};
  const Schedule& sch = plan(comm, args, "allreduce");
  comm->lastAlgorithm = sch.algorithm;
  ExecBuffers bufs{send, recv, nullptr};
  std::vector<char> scratch;
  if (sch.scratchBytes) {
    scratch.resize(sch.scratchBytes);
    bufs.scratch = scratch.data();
  }
  try {
    comm->executor->run(sch, bufs, dtype, op, ExecLabel{"allreduce", seq, sch.algorithm.c_str()},
                        Deadline::after(comm->timeoutSeconds), &comm->aborted);
  } catch (const Error& e) {
    comm->brokenReason = e.what();
    throw;
  }
}

void commDestroy(shoalComm* comm) {
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
  comm->executor.reset();
  comm->transport.reset();
  if (comm->bootstrap) comm->bootstrap->close();
}

}  // namespace shoal
