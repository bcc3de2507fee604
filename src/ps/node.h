// One process's part in a parameter-server job (the object behind shoalPs_t):
// the communicator that carries it (bootstrap + transport, built by the same
// commCreate as collectives), and one progress thread that owns the transport
// from creation to destruction and runs this rank's worker and server sides.
// API calls hand requests to that thread and wait on OpState.
#pragma once

#include <atomic>
#include <condition_variable>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>

#include "core/bootstrap.h"
#include "core/comm.h"
#include "ps/links.h"
#include "ps/server.h"
#include "ps/worker.h"
#include "shoal/ps.h"

struct shoalPs {
  int rank = -1;
  int size = 0;
  int roles = 0;
  int workerIndex = -1, numWorkers = 0;
  int serverIndex = -1, numServers = 0;
  shoalPsOptions options{};

  std::mutex mu;
  std::condition_variable cv;
  // guarded by mu
  std::deque<shoal::ps::Request> submissions;
  std::unordered_map<uint64_t, std::shared_ptr<shoal::ps::OpState>> ops;
  uint64_t nextHandle = 1;
  bool ready = false;   // init finished (initCode says how)
  bool exited = false;  // the progress thread is done
  shoalResult_t initCode = shoalSuccess;
  std::string initError;
  shoalResult_t exitCode = shoalSuccess;
  std::string exitError;
  std::string lastError;
  shoalPsServerStats stats{};

  std::atomic<bool> submitted{false};
  std::atomic<bool> finalizing{false};
  std::thread progress;

  // owned by the progress thread
  std::unique_ptr<shoalComm> comm;
  std::unique_ptr<shoal::ps::Links> links;
  std::unique_ptr<shoal::ps::Server> server;
  std::unique_ptr<shoal::ps::Worker> worker;
};

namespace shoal::ps {

// Starts the progress thread, which joins the job; returns once init finished.
// Throws shoal::Error (init failures, with the thread already gone).
std::unique_ptr<shoalPs> nodeCreate(const UniqueIdData& id, int nranks, int rank, int roles,
                                    const shoalPsOptions& options);
// Hands a request to the progress thread; returns its handle.
uint64_t nodeSubmit(shoalPs* ps, Request r);
// Waits for a handle; throws shoal::Error with the operation's failure.
uint64_t nodeWait(shoalPs* ps, uint64_t handle);
// Workers leave, servers serve until every worker left; joins the thread.
void nodeFinalize(shoalPs* ps);

// SHOAL_PS_* variables (and SHOAL_TIMEOUT) as options; throws on bad values.
shoalPsOptions optionsFromEnv();
void checkOptions(const shoalPsOptions& o);

}  // namespace shoal::ps
