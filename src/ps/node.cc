#include "ps/node.h"

#include <sched.h>
#include <time.h>

#include <cstring>
#include <vector>

#include "core/comm.h"
#include "core/config.h"
#include "core/error.h"
#include "core/log.h"
#include "cuda/cuda_api.h"
#include "ps/links.h"
#include "ps/server.h"

namespace shoal::ps {

namespace {

// What every rank states at init; all but roles must agree.
struct InitRecord {
  int32_t roles;
  int32_t mode;
  int32_t staleness;
  int32_t update;
  double learningRate;
  double momentum;
  uint64_t partitionBytes;
};

void exchangeRoles(shoalPs* ps, Deadline deadline) {
  InitRecord mine{ps->roles,
                  ps->options.mode,
                  ps->options.staleness,
                  ps->options.update,
                  ps->options.learningRate,
                  ps->options.momentum,
                  ps->options.partitionBytes};
  std::vector<InitRecord> all(static_cast<size_t>(ps->size));
  ps->comm->bootstrap->allgather(&mine, all.data(), sizeof(mine), deadline);
  const InitRecord& ref = all[0];
  for (int r = 0; r < ps->size; ++r) {
    const InitRecord& o = all[static_cast<size_t>(r)];
    if (o.mode != ref.mode || o.staleness != ref.staleness || o.update != ref.update ||
        o.learningRate != ref.learningRate || o.momentum != ref.momentum ||
        o.partitionBytes != ref.partitionBytes) {
      fail(shoalInvalidUsage,
           "rank %d: ps init: options differ between rank 0 (mode %d, staleness %d, update %d, lr "
           "%g, momentum %g, partition %llu bytes) and rank %d (mode %d, staleness %d, update %d, "
           "lr %g, momentum %g, partition %llu bytes); set the SHOAL_PS_* variables alike",
           ps->rank, ref.mode, ref.staleness, ref.update, ref.learningRate, ref.momentum,
           static_cast<unsigned long long>(ref.partitionBytes), r, o.mode, o.staleness, o.update,
           o.learningRate, o.momentum, static_cast<unsigned long long>(o.partitionBytes));
    }
    if (o.roles < 1 || o.roles > 3) {
      fail(shoalInvalidUsage, "rank %d: ps init: rank %d has no valid role (%d)", ps->rank, r,
           o.roles);
    }
    if (o.roles & shoalPsRoleWorker) {
      if (r == ps->rank) ps->workerIndex = ps->numWorkers;
      ++ps->numWorkers;
    }
    if (o.roles & shoalPsRoleServer) {
      if (r == ps->rank) ps->serverIndex = ps->numServers;
      ++ps->numServers;
    }
  }
  if (ps->numWorkers == 0 || ps->numServers == 0) {
    fail(shoalInvalidUsage,
         "rank %d: ps init: the job has %d workers and %d servers; it needs one of each", ps->rank,
         ps->numWorkers, ps->numServers);
  }
}

std::vector<int> ranksWith(const std::vector<int32_t>& roles, int bit) {
  std::vector<int> out;
  for (size_t r = 0; r < roles.size(); ++r) {
    if (roles[r] & bit) out.push_back(static_cast<int>(r));
  }
  return out;
}

// SHOAL_PS_SERVER_DEVICE: -1 for host memory, else the GPU of this server
// (its rank among the ranks of its host, modulo the GPUs it sees).
int serverDevice(shoalPs* ps) {
  std::string where = config::getString("SHOAL_PS_SERVER_DEVICE");
  if (where == "cpu") return -1;
  if (where != "cuda") {
    fail(shoalInvalidArgument, "rank %d: ps init: SHOAL_PS_SERVER_DEVICE=%s; use cpu or cuda",
         ps->rank, where.c_str());
  }
  std::string why;
  if (!cuda::available(&why)) {
    fail(shoalInvalidUsage, "rank %d: ps init: SHOAL_PS_SERVER_DEVICE=cuda, but %s", ps->rank,
         why.c_str());
  }
  const auto& hosts = ps->comm->hosts;
  int local = 0;
  for (int r = 0; r < ps->rank && static_cast<size_t>(r) < hosts.size(); ++r) {
    if (hosts[static_cast<size_t>(r)] == hosts[static_cast<size_t>(ps->rank)]) ++local;
  }
  return local % cuda::deviceCount();
}

void complete(shoalPs* ps, OpState& st, shoalResult_t code, const std::string& error,
              uint64_t version) {
  std::lock_guard<std::mutex> g(ps->mu);
  st.done = true;
  st.code = code;
  st.error = error;
  st.version = version;
  ps->cv.notify_all();
}

void setUp(shoalPs* ps, const UniqueIdData& id) {
  ps->comm = commCreate(id, ps->size, ps->rank);
  Deadline deadline = Deadline::after(ps->options.timeoutSeconds);
  exchangeRoles(ps, deadline);
  // The role table again, now that it is validated, to name ranks.
  std::vector<int32_t> roles(static_cast<size_t>(ps->size));
  ps->comm->bootstrap->allgather(&ps->roles, roles.data(), sizeof(int32_t), deadline);
  transport::Context& ctx = *ps->comm->transport;
  if (ctx.maxCtrlBytes() < kMaxMsg) {
    fail(shoalInternalError,
         "rank %d: ps init: the %s transport carries %zu-byte control messages; the parameter "
         "server needs %zu",
         ps->rank, ctx.name(), ctx.maxCtrlBytes(), kMaxMsg);
  }
  ps->links = std::make_unique<Links>(ctx);
  if (ps->roles & shoalPsRoleServer) {
    ServerConfig sc;
    sc.mode = ps->options.mode;
    sc.staleness = ps->options.staleness;
    sc.rule = {ps->options.update, ps->options.learningRate, ps->options.momentum};
    sc.threads = static_cast<int>(config::getInt("SHOAL_PS_SERVER_THREADS"));
    sc.cudaDevice = serverDevice(ps);
    sc.timeoutSeconds = ps->options.timeoutSeconds;
    ps->server = std::make_unique<Server>(ctx, *ps->links, ranksWith(roles, shoalPsRoleWorker), sc);
  }
  if (ps->roles & shoalPsRoleWorker) {
    ps->worker = std::make_unique<Worker>(
        ctx, *ps->links, ranksWith(roles, shoalPsRoleServer), ps->options.partitionBytes,
        ps->options.mode, ps->options.timeoutSeconds,
        [ps](OpState& st, shoalResult_t code, const std::string& e, uint64_t v) {
          complete(ps, st, code, e, v);
        });
  }
  SHOAL_INFO(PS, "rank %d: ps ready over %s: %s%s%s, %d workers, %d servers", ps->rank, ctx.name(),
             ps->worker ? "worker" : "", ps->worker && ps->server ? "+" : "",
             ps->server ? "server" : "", ps->numWorkers, ps->numServers);
}

void peerFailed(shoalPs* ps, int peer, const std::string& why) {
  if (ps->server && ps->server->isWorker(peer)) ps->server->onWorkerFailed(peer, why);
  if (ps->worker && ps->worker->isServer(peer)) ps->worker->onServerFailed(peer, why);
}

void handleEvent(shoalPs* ps, const transport::Event& e) {
  if (e.peer < 0 || e.peer >= ps->size) {
    fail(shoalInternalError, "rank %d: ps: transport reported an event from invalid rank %d",
         ps->rank, e.peer);
  }
  try {
    switch (e.kind) {
      case transport::Event::kWrite:
        if (e.imm & kPullImmBit) {
          if (!ps->worker)
            fail(shoalRemoteError,
                 "rank %d: ps: rank %d answered a pull to a rank that is no worker", ps->rank,
                 e.peer);
          ps->worker->onWrite(e.peer, e.imm);
        } else {
          if (!ps->server)
            fail(shoalRemoteError, "rank %d: ps: rank %d pushed to a rank that is no server",
                 ps->rank, e.peer);
          ps->server->onWrite(e.peer, e.imm);
        }
        return;
      case transport::Event::kCtrl: {
        if (e.len == 0 || e.len > transport::Event::kMaxCtrl) {
          fail(shoalRemoteError, "rank %d: ps: control message of %u bytes from rank %d", ps->rank,
               e.len, e.peer);
        }
        uint8_t msg[kMaxMsg] = {};
        memcpy(msg, e.payload, e.len);
        bool toServer = msg[0] < kRegisterReply;
        if (toServer && !ps->server)
          fail(shoalRemoteError,
               "rank %d: ps: rank %d sent server message %u to a rank that is no server", ps->rank,
               e.peer, msg[0]);
        if (!toServer && !ps->worker)
          fail(shoalRemoteError,
               "rank %d: ps: rank %d sent worker message %u to a rank that is no worker", ps->rank,
               e.peer, msg[0]);
        if (toServer) {
          ps->server->onCtrl(e.peer, msg, e.len);
        } else {
          ps->worker->onCtrl(e.peer, msg, e.len);
        }
        return;
      }
      case transport::Event::kSendDone:
        if (ps->server) ps->server->onSendDone(e.cookie);
        return;
      case transport::Event::kError: {
        std::string m(e.message, strnlen(e.message, sizeof(e.message)));
        peerFailed(ps, e.peer, m);
        return;
      }
    }
  } catch (const Error& err) {
    // A peer that broke the protocol is treated like one that died: nothing
    // it sends is trusted any more. (fail() logged it.)
    peerFailed(ps, e.peer, err.what());
  }
}

void checkPeers(shoalPs* ps) {
  Bootstrap& b = *ps->comm->bootstrap;
  for (int p = 0; p < ps->size; ++p) {
    if (p == ps->rank) continue;
    bool watch = (ps->server && ps->server->isWorker(p)) ||
                 (ps->worker && !ps->worker->saidBye() && ps->worker->isServer(p));
    if (watch && !b.peerAlive(p)) peerFailed(ps, p, "its process exited or closed its connection");
  }
}

void serve(shoalPs* ps) {
  transport::Context& ctx = *ps->comm->transport;
  std::vector<transport::Event> events(64);
  uint64_t idle = 0;
  auto idleSince = Clock::now();
  auto lastCheck = Clock::now();
  for (;;) {
    bool progress = false;
    if (ps->submitted.exchange(false)) {
      std::deque<Request> batch;
      {
        std::lock_guard<std::mutex> g(ps->mu);
        batch.swap(ps->submissions);
      }
      for (auto& r : batch) ps->worker->submit(r);
      progress = true;
    }
    if (ps->worker) progress = ps->worker->progressDevice() || progress;
    progress = ps->links->flush() || progress;
    size_t n = ctx.poll(events.data(), events.size());
    for (size_t i = 0; i < n; ++i) handleEvent(ps, events[i]);
    progress = progress || n > 0;
    for (auto& f : ps->links->takeFailures()) {
      SHOAL_WARN(PS, "rank %d: ps: sending to rank %d failed: %s", ps->rank, f.peer, f.why.c_str());
      peerFailed(ps, f.peer, f.why);
    }
    auto now = Clock::now();
    if (now - lastCheck > std::chrono::milliseconds(20)) {
      lastCheck = now;
      checkPeers(ps);
      if (ps->worker) ps->worker->checkDeadlines();
      if (ps->server) {
        std::lock_guard<std::mutex> g(ps->mu);
        ps->stats = ps->server->stats();
      }
    }
    if (ps->finalizing.load()) {
      if (ps->worker && !ps->worker->saidBye() && ps->worker->idle()) ps->worker->sayBye();
      bool workerDone = !ps->worker || ps->worker->saidBye();
      bool serverDone = !ps->server || ps->server->finished();
      if (workerDone && serverDone && ps->links->idle()) return;
    }
    if (progress) {
      idle = 0;
      continue;
    }
    // Back off when nothing moves (ranks may outnumber cores), as the
    // collective executor does.
    if (++idle == 1) idleSince = Clock::now();
    if (idle > 64) {
      auto waited = Clock::now() - idleSince;
      if (waited > std::chrono::milliseconds(2)) {
        long ns = waited > std::chrono::milliseconds(50)   ? 200000
                  : waited > std::chrono::milliseconds(10) ? 100000
                                                           : 20000;
        struct timespec ts = {0, ns};
        nanosleep(&ts, nullptr);
      } else {
        sched_yield();
      }
    }
  }
}

void progressMain(shoalPs* ps, UniqueIdData id) {
  try {
    setUp(ps, id);
  } catch (const Error& e) {
    std::lock_guard<std::mutex> g(ps->mu);
    ps->initCode = e.code();
    ps->initError = e.what();
  } catch (const std::exception& e) {
    std::lock_guard<std::mutex> g(ps->mu);
    ps->initCode = shoalInternalError;
    ps->initError = std::string("ps init: ") + e.what();
  }
  bool ok;
  {
    std::lock_guard<std::mutex> g(ps->mu);
    ps->ready = true;
    ok = ps->initCode == shoalSuccess;
    ps->cv.notify_all();
  }
  if (ok) {
    try {
      serve(ps);
    } catch (const std::exception& e) {
      std::lock_guard<std::mutex> g(ps->mu);
      ps->exitCode = shoalInternalError;
      if (const auto* se = dynamic_cast<const Error*>(&e)) ps->exitCode = se->code();
      ps->exitError = e.what();
      SHOAL_WARN(PS, "rank %d: ps: progress stopped: %s", ps->rank, e.what());
    }
  }
  ps->worker.reset();
  ps->server.reset();
  ps->links.reset();
  if (ps->comm) {
    try {
      commDestroy(ps->comm.get());
    } catch (const Error& e) {
      SHOAL_INFO(PS, "rank %d: ps: teardown: %s", ps->rank, e.what());
    }
    ps->comm.reset();
  }
  std::lock_guard<std::mutex> g(ps->mu);
  ps->exited = true;
  // Whatever was never answered fails now rather than waiting forever.
  for (auto& [h, st] : ps->ops) {
    if (!st->done) {
      st->done = true;
      st->code = ps->exitCode != shoalSuccess ? ps->exitCode : shoalInvalidUsage;
      st->error = ps->exitError.empty()
                      ? strprintf("rank %d: ps: finalized before the operation completed", ps->rank)
                      : ps->exitError;
    }
  }
  ps->cv.notify_all();
}

}  // namespace

std::unique_ptr<shoalPs> nodeCreate(const UniqueIdData& id, int nranks, int rank, int roles,
                                    const shoalPsOptions& options) {
  if (nranks < 1) fail(shoalInvalidArgument, "ps init: nranks=%d must be at least 1", nranks);
  if (rank < 0 || rank >= nranks)
    fail(shoalInvalidArgument, "ps init: rank=%d is outside [0, %d)", rank, nranks);
  if (roles < 1 || roles > 3) {
    fail(shoalInvalidArgument,
         "rank %d: ps init: roles=%d; use shoalPsRoleWorker, shoalPsRoleServer or both", rank,
         roles);
  }
  checkOptions(options);
  auto ps = std::make_unique<shoalPs>();
  ps->rank = rank;
  ps->size = nranks;
  ps->roles = roles;
  ps->options = options;
  shoalPs* raw = ps.get();
  ps->progress = std::thread([raw, id] { progressMain(raw, id); });
  std::unique_lock<std::mutex> lk(ps->mu);
  ps->cv.wait(lk, [&] { return ps->ready; });
  if (ps->initCode != shoalSuccess) {
    shoalResult_t code = ps->initCode;
    std::string msg = ps->initError;
    lk.unlock();
    ps->progress.join();
    throw Error(code, msg);
  }
  return ps;
}

uint64_t nodeSubmit(shoalPs* ps, Request r) {
  if (!ps->worker && !(ps->roles & shoalPsRoleWorker)) {
    fail(shoalInvalidUsage, "rank %d: ps %s: this rank is no worker", ps->rank, opName(r.kind));
  }
  if (ps->finalizing.load()) {
    fail(shoalInvalidUsage, "rank %d: ps %s: called after shoalPsFinalize", ps->rank,
         opName(r.kind));
  }
  r.state = std::make_shared<OpState>();
  std::lock_guard<std::mutex> g(ps->mu);
  if (ps->exited) {
    fail(ps->exitCode != shoalSuccess ? ps->exitCode : shoalInvalidUsage, "rank %d: ps %s: %s",
         ps->rank, opName(r.kind),
         ps->exitError.empty() ? "the parameter server has shut down" : ps->exitError.c_str());
  }
  uint64_t h = ps->nextHandle++;
  ps->ops[h] = r.state;
  ps->submissions.push_back(std::move(r));
  ps->submitted.store(true);
  return h;
}

uint64_t nodeWait(shoalPs* ps, uint64_t handle) {
  std::unique_lock<std::mutex> lk(ps->mu);
  auto it = ps->ops.find(handle);
  if (it == ps->ops.end()) {
    fail(shoalInvalidArgument, "rank %d: ps wait: unknown handle %llu (already waited for?)",
         ps->rank, static_cast<unsigned long long>(handle));
  }
  auto st = it->second;
  // The progress thread fails every operation at its own deadline; this one
  // only guards against that thread being stuck.
  auto limit = Clock::now() + std::chrono::duration_cast<Clock::duration>(
                                  std::chrono::duration<double>(ps->options.timeoutSeconds + 30));
  if (!ps->cv.wait_until(lk, limit, [&] { return st->done; })) {
    fail(shoalTimeout, "rank %d: ps wait: handle %llu got no answer within %.0f s", ps->rank,
         static_cast<unsigned long long>(handle), ps->options.timeoutSeconds + 30);
  }
  ps->ops.erase(handle);
  // Logged where it was detected; thrown as is.
  if (st->code != shoalSuccess) throw Error(st->code, st->error);
  return st->version;
}

void nodeFinalize(shoalPs* ps) {
  ps->finalizing.store(true);
  if (ps->progress.joinable()) ps->progress.join();
  std::lock_guard<std::mutex> g(ps->mu);
  if (ps->exitCode != shoalSuccess) throw Error(ps->exitCode, ps->exitError);
}

}  // namespace shoal::ps
