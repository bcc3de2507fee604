// Variables read here that are not shoal's own (config_table.inc lists only
// SHOAL_*), by launcher:
//   torchrun:  RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR, MASTER_PORT
//   Open MPI:  OMPI_COMM_WORLD_RANK, OMPI_COMM_WORLD_SIZE, OMPI_COMM_WORLD_LOCAL_RANK
//   Slurm:     SLURM_PROCID, SLURM_NTASKS, SLURM_LOCALID
// MASTER_ADDR/MASTER_PORT also give the root address under Open MPI and Slurm.
#include "core/env_init.h"

#include <cerrno>
#include <cstdlib>

#include "core/bootstrap_root.h"
#include "core/config.h"
#include "core/error.h"
#include "core/log.h"
#include "core/socket.h"

namespace shoal {

namespace {

std::string env(const char* name) {
  const char* v = getenv(name);
  return v ? std::string(v) : std::string();
}

int parseInt(const std::string& text, const char* name, const char* source) {
  char* end = nullptr;
  errno = 0;
  long v = strtol(text.c_str(), &end, 10);
  if (text.empty() || errno || *end || v < -1 || v > 1 << 30) {
    fail(shoalInvalidArgument, "%s: %s='%s' is not a valid integer", source, name, text.c_str());
  }
  return static_cast<int>(v);
}

// The root address when the launcher has none of its own. MASTER_PORT itself
// is taken by torch's TCPStore whenever torch.distributed runs next to shoal
// (torchrun's agent always starts one there), so shoal's root listens on the
// port after it.
std::string rootFromMaster(std::string* how) {
  std::string addr = env("MASTER_ADDR");
  std::string port = env("MASTER_PORT");
  if (addr.empty() || port.empty()) return {};
  int p = parseInt(port, "MASTER_PORT", "shoalCommInitFromEnv");
  if (p < 1 || p >= 65535) {
    fail(shoalInvalidArgument, "shoalCommInitFromEnv: MASTER_PORT=%s is not a usable port",
         port.c_str());
  }
  bool v6 = addr.find(':') != std::string::npos && addr[0] != '[';
  *how = "MASTER_ADDR:MASTER_PORT+1";
  return (v6 ? "[" + addr + "]" : addr) + ":" + std::to_string(p + 1);
}

}  // namespace

EnvInit resolveEnvInit() {
  EnvInit e;
  std::string rankVar, sizeVar, localVar;
  if (!config::getString("SHOAL_RANK").empty()) {
    e.source = "SHOAL_RANK/SHOAL_WORLD_SIZE";
    rankVar = "SHOAL_RANK";
    sizeVar = "SHOAL_WORLD_SIZE";
    localVar = "SHOAL_LOCAL_RANK";
  } else if (!env("RANK").empty() && !env("WORLD_SIZE").empty()) {
    e.source = "torchrun (RANK/WORLD_SIZE)";
    rankVar = "RANK";
    sizeVar = "WORLD_SIZE";
    localVar = "LOCAL_RANK";
  } else if (!env("OMPI_COMM_WORLD_RANK").empty()) {
    e.source = "Open MPI (OMPI_COMM_WORLD_RANK)";
    rankVar = "OMPI_COMM_WORLD_RANK";
    sizeVar = "OMPI_COMM_WORLD_SIZE";
    localVar = "OMPI_COMM_WORLD_LOCAL_RANK";
  } else if (!env("SLURM_PROCID").empty()) {
    e.source = "Slurm (SLURM_PROCID)";
    rankVar = "SLURM_PROCID";
    sizeVar = "SLURM_NTASKS";
    localVar = "SLURM_LOCALID";
  } else {
    fail(shoalInvalidUsage,
         "shoalCommInitFromEnv: no launcher variables found; set SHOAL_RANK, SHOAL_WORLD_SIZE and "
         "SHOAL_ROOT=host:port (shoalrun does), or start the program with torchrun, mpirun or "
         "srun");
  }
  const char* src = e.source.c_str();
  std::string sizeText = env(sizeVar.c_str());
  if (sizeText.empty()) {
    fail(shoalInvalidUsage, "shoalCommInitFromEnv: %s is set but %s is not", rankVar.c_str(),
         sizeVar.c_str());
  }
  e.rank = parseInt(env(rankVar.c_str()), rankVar.c_str(), src);
  e.size = parseInt(sizeText, sizeVar.c_str(), src);
  if (e.size < 1 || e.rank < 0 || e.rank >= e.size) {
    fail(shoalInvalidArgument, "shoalCommInitFromEnv (%s): %s=%d is outside 0..%d (%s=%d)", src,
         rankVar.c_str(), e.rank, e.size - 1, sizeVar.c_str(), e.size);
  }
  std::string local = env(localVar.c_str());
  e.localRank = local.empty() ? -1 : parseInt(local, localVar.c_str(), src);

  std::string how = "SHOAL_ROOT";
  e.rootHostPort = config::getString("SHOAL_ROOT");
  if (e.rootHostPort.empty()) e.rootHostPort = rootFromMaster(&how);
  if (e.rootHostPort.empty()) {
    fail(shoalInvalidUsage,
         "shoalCommInitFromEnv: rank %d of %d from %s, but no rendezvous address: set "
         "SHOAL_ROOT=<host of rank 0>:<free port> in every rank (with mpirun: -x "
         "SHOAL_ROOT=host:port), or MASTER_ADDR and MASTER_PORT (shoal then uses MASTER_PORT+1)",
         e.rank, e.size, src);
  }
  // Fail here, with the variable's name, rather than deep in the bootstrap.
  net::resolveHostPort(e.rootHostPort, how.c_str());

  e.secretHex = config::getString("SHOAL_SECRET");
  if (e.secretHex.empty()) {
    uint8_t derived[32];
    bootstrap::secretFromText("shoal-unauthenticated:" + e.rootHostPort, derived);
    e.secretHex = net::toHex(derived, sizeof(derived));
    if (e.rank == 0) {
      SHOAL_WARN(BOOTSTRAP,
                 "SHOAL_SECRET is not set: the bootstrap at %s is not authenticated by a secret "
                 "(anyone who can reach the port can join); set SHOAL_SECRET to the same random "
                 "hex string in every rank",
                 e.rootHostPort.c_str());
    }
  }
  SHOAL_INFO(ENV, "shoalCommInitFromEnv: rank %d of %d (local rank %d) from %s, root %s (%s)",
             e.rank, e.size, e.localRank, src, e.rootHostPort.c_str(), how.c_str());
  return e;
}

}  // namespace shoal
