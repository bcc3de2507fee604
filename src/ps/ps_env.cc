// Variables read here that are not shoal's own (config_table.inc lists only
// SHOAL_*), from ps-lite / BytePS launches: DMLC_ROLE (worker, server,
// scheduler), DMLC_NUM_WORKER, DMLC_NUM_SERVER, DMLC_PS_ROOT_URI,
// DMLC_PS_ROOT_PORT, DMLC_WORKER_ID and DMLC_SERVER_ID.
#include "ps/ps_env.h"

#include <cerrno>
#include <cstdlib>

#include "core/bootstrap_root.h"
#include "core/config.h"
#include "core/env_init.h"
#include "core/error.h"
#include "core/log.h"
#include "core/socket.h"
#include "ps/node.h"

namespace shoal::ps {

namespace {

std::string env(const char* name) {
  const char* v = getenv(name);
  return v ? std::string(v) : std::string();
}

int envInt(const char* name, int lo, int hi) {
  std::string text = env(name);
  char* end = nullptr;
  errno = 0;
  long v = strtol(text.c_str(), &end, 10);
  if (text.empty() || errno || *end || v < lo || v > hi) {
    fail(shoalInvalidArgument, "shoalPsInitFromEnv: %s='%s' is not an integer in %d..%d", name,
         text.c_str(), lo, hi);
  }
  return static_cast<int>(v);
}

int parseRole(const std::string& text, const char* var) {
  if (text == "worker") return shoalPsRoleWorker;
  if (text == "server") return shoalPsRoleServer;
  if (text == "both") return shoalPsRoleBoth;
  if (text == "scheduler" && std::string(var) == "DMLC_ROLE") return 0;
  fail(shoalInvalidArgument, "shoalPsInitFromEnv: %s=%s; use worker, server%s", var, text.c_str(),
       std::string(var) == "DMLC_ROLE" ? " or scheduler" : " or both");
}

}  // namespace

PsEnv resolvePsEnv() {
  PsEnv e;
  std::string role = config::getString("SHOAL_ROLE");
  if (!role.empty()) {
    e.roles = parseRole(role, "SHOAL_ROLE");
    EnvInit base = resolveEnvInit();
    e.rank = base.rank;
    e.size = base.size;
    e.rootHostPort = base.rootHostPort;
    e.secretHex = base.secretHex;
    e.listen = base.rank == 0;
    e.source = "SHOAL_ROLE with " + base.source;
    return e;
  }
  std::string dmlc = env("DMLC_ROLE");
  if (dmlc.empty()) {
    fail(shoalInvalidUsage,
         "shoalPsInitFromEnv: no role: set SHOAL_ROLE=worker|server|both (with SHOAL_RANK, "
         "SHOAL_WORLD_SIZE, SHOAL_ROOT as for shoalCommInitFromEnv), or ps-lite's DMLC_ROLE, "
         "DMLC_NUM_WORKER, DMLC_NUM_SERVER, DMLC_PS_ROOT_URI and DMLC_PS_ROOT_PORT");
  }
  e.source = "DMLC_ROLE=" + dmlc;
  e.roles = parseRole(dmlc, "DMLC_ROLE");
  int workers = envInt("DMLC_NUM_WORKER", 1, 1 << 20);
  int servers = envInt("DMLC_NUM_SERVER", 1, 1 << 20);
  e.size = workers + servers;
  std::string uri = env("DMLC_PS_ROOT_URI");
  if (uri.empty())
    fail(shoalInvalidUsage, "shoalPsInitFromEnv: DMLC_ROLE is set but DMLC_PS_ROOT_URI is not");
  int port = envInt("DMLC_PS_ROOT_PORT", 1, 65535);
  bool v6 = uri.find(':') != std::string::npos && uri[0] != '[';
  e.rootHostPort = (v6 ? "[" + uri + "]" : uri) + ":" + std::to_string(port);
  net::resolveHostPort(e.rootHostPort, "DMLC_PS_ROOT_URI:DMLC_PS_ROOT_PORT");
  // ps-lite always starts a scheduler; here it only hosts the rendezvous.
  e.listen = e.roles == 0;
  if (e.roles != 0) {
    if (!config::getString("SHOAL_RANK").empty()) {
      e.rank = envInt("SHOAL_RANK", 0, e.size - 1);
    } else if (e.roles == shoalPsRoleWorker) {
      if (env("DMLC_WORKER_ID").empty()) {
        fail(shoalInvalidUsage,
             "shoalPsInitFromEnv: DMLC_ROLE=worker needs DMLC_WORKER_ID (0..%d) or SHOAL_RANK",
             workers - 1);
      }
      e.rank = envInt("DMLC_WORKER_ID", 0, workers - 1);
    } else {
      if (env("DMLC_SERVER_ID").empty()) {
        fail(shoalInvalidUsage,
             "shoalPsInitFromEnv: DMLC_ROLE=server needs DMLC_SERVER_ID (0..%d) or SHOAL_RANK "
             "(servers are ranks %d..%d)",
             servers - 1, workers, e.size - 1);
      }
      e.rank = workers + envInt("DMLC_SERVER_ID", 0, servers - 1);
    }
  }
  e.secretHex = config::getString("SHOAL_SECRET");
  if (e.secretHex.empty()) {
    uint8_t derived[32];
    bootstrap::secretFromText("shoal-unauthenticated:" + e.rootHostPort, derived);
    e.secretHex = net::toHex(derived, sizeof(derived));
  }
  SHOAL_INFO(ENV, "shoalPsInitFromEnv: rank %d of %d, roles %d, from %s, root %s", e.rank, e.size,
             e.roles, e.source.c_str(), e.rootHostPort.c_str());
  return e;
}

shoalPsOptions optionsFromEnv() {
  shoalPsOptions o{};
  std::string mode = config::getString("SHOAL_PS_MODE");
  if (mode == "sync") {
    o.mode = shoalPsSync;
  } else if (mode == "async") {
    o.mode = shoalPsAsync;
  } else if (mode == "ssp") {
    o.mode = shoalPsBoundedStaleness;
  } else {
    fail(shoalInvalidArgument, "SHOAL_PS_MODE=%s; use sync, async or ssp", mode.c_str());
  }
  o.staleness = static_cast<int>(config::getInt("SHOAL_PS_STALENESS"));
  std::string up = config::getString("SHOAL_PS_UPDATE");
  if (up == "sum") {
    o.update = shoalPsUpdateSum;
  } else if (up == "sgd") {
    o.update = shoalPsUpdateSgd;
  } else if (up == "momentum") {
    o.update = shoalPsUpdateMomentum;
  } else {
    fail(shoalInvalidArgument, "SHOAL_PS_UPDATE=%s; use sum, sgd or momentum", up.c_str());
  }
  o.learningRate = config::getDouble("SHOAL_PS_LR");
  o.momentum = config::getDouble("SHOAL_PS_MOMENTUM");
  o.partitionBytes = config::getSize("SHOAL_PS_PARTITION_BYTES");
  o.timeoutSeconds = config::getDouble("SHOAL_TIMEOUT");
  checkOptions(o);
  return o;
}

void checkOptions(const shoalPsOptions& o) {
  if (o.mode < shoalPsSync || o.mode > shoalPsBoundedStaleness)
    fail(shoalInvalidArgument, "ps: mode %d is not a shoalPsMode_t", static_cast<int>(o.mode));
  if (o.update < shoalPsUpdateSum || o.update > shoalPsUpdateMomentum)
    fail(shoalInvalidArgument, "ps: update %d is not a shoalPsUpdate_t",
         static_cast<int>(o.update));
  if (o.staleness < 0 || o.staleness > (1 << 20))
    fail(shoalInvalidArgument, "ps: staleness %d must be in 0..%d", o.staleness, 1 << 20);
  if (o.partitionBytes < 64 || o.partitionBytes > (size_t{1} << 30))
    fail(shoalInvalidArgument, "ps: partition size %zu must be between 64 bytes and 1 GiB",
         o.partitionBytes);
  if (!(o.timeoutSeconds > 0))
    fail(shoalInvalidArgument, "ps: timeout %g s must be positive", o.timeoutSeconds);
}

}  // namespace shoal::ps
