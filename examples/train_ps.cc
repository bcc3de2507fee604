// The model of train_allreduce trained through shoal's parameter server: S
// server processes own the parameters (cut into partitions spread over them)
// and apply SGD with momentum; W worker processes compute the gradient of
// their shard of each global batch, push it and pull the updated parameters
// in one push_pull.
//
//   shoalrun -n 6 examples/train_ps --servers 2 --mode sync --epochs 3 [--check]
//
// Ranks 0..W-1 are workers, the last S ranks servers (--servers 0: every rank
// is both). The servers start from zero, so what they hold is the distance u
// from the initial parameters theta0, which every worker derives from the
// seed: the parameters are theta0 + u. A worker pushes sum(shard gradients)
// / B; in sync mode the server's round is the sum over the workers, the mean
// gradient of the global batch, and its update (m = mu*m + g, u -= lr*m) is
// train_allreduce's step with a constant learning rate. In async and ssp
// modes each push is applied when it arrives.
//
// A shoal communicator over all ranks carries what is not the model: the
// batch statistics for the log (sync), the test evaluation, and --check.
#include <shoal/shoal.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <shoal/ps.hpp>
#include <stdexcept>
#include <string>
#include <vector>

#include "common/batches.h"
#include "common/hash_check.h"
#include "common/idx_dataset.h"
#include "common/loss_log.h"
#include "common/mlp.h"
#include "common/options.h"
#include "common/reference_run.h"
#include "common/shoal_comm.h"

namespace {

constexpr const char* kProgram = "train_ps";
constexpr uint64_t kParamsKey = 1;

using train::Comm;
using train::secondsSince;

struct PsOptions {
  int servers = 1;  // 0: every rank is worker and server
  shoalPsMode_t mode = shoalPsSync;
  int staleness = 0;
  std::string modeName = "sync";
};

// Takes train_ps's own options out of argv (the rest are train_allreduce's).
int parsePsOptions(int* argc, char** argv, PsOptions* p) {
  int out = 1;
  for (int i = 1; i < *argc; ++i) {
    const std::string a = argv[i];
    if ((a == "--servers" || a == "--mode") && i + 1 >= *argc) {
      fprintf(stderr, "%s: %s needs a value\n", kProgram, a.c_str());
      return 2;
    }
    if (a == "--servers") {
      char* end = nullptr;
      const long v = strtol(argv[++i], &end, 10);
      if (*end != 0 || v < 0 || v > 4096) {
        fprintf(stderr, "%s: bad value '%s' for --servers\n", kProgram, argv[i]);
        return 2;
      }
      p->servers = static_cast<int>(v);
    } else if (a == "--mode") {
      const std::string m = argv[++i];
      int s = 0, used = 0;
      p->modeName = m;
      if (m == "sync") {
        p->mode = shoalPsSync;
      } else if (m == "async") {
        p->mode = shoalPsAsync;
      } else if (sscanf(m.c_str(), "ssp:%d%n", &s, &used) == 1 &&
                 used == static_cast<int>(m.size()) && s >= 0) {
        p->mode = shoalPsBoundedStaleness;
        p->staleness = s;
      } else {
        fprintf(stderr, "%s: --mode is sync, async or ssp:STALENESS, not '%s'\n", kProgram,
                m.c_str());
        return 2;
      }
    } else if (a == "-h" || a == "--help") {
      printf(
          "%s: train_allreduce's model through the parameter server\n"
          "  --servers S        the last S ranks are servers, the others workers\n"
          "                     (default 1; 0: every rank is both)\n"
          "  --mode M           sync (default), async or ssp:STALENESS\n"
          "The learning rate is constant (the servers apply it); the other options:\n",
          kProgram);
      argv[out++] = argv[i];
    } else {
      argv[out++] = argv[i];
    }
  }
  *argc = out;
  return -1;
}

// Test accuracy: the workers split the test set; servers add nothing.
void evaluate(Comm& comm, train::Mlp* model, const float* params, const train::Dataset* test,
              int worker, int workers, size_t globalStep, double elapsed, train::LossLog* log) {
  double sums[3] = {0, 0, 0};  // loss, correct, images
  if (model != nullptr) {
    const auto [begin, end] = train::BatchSchedule::shard(test->count, worker, workers);
    const train::BatchStats st = model->evaluate(params, *test, begin, end);
    sums[0] = st.lossSum;
    sums[1] = static_cast<double>(st.correct);
    sums[2] = static_cast<double>(end - begin);
  }
  comm.allReduce(sums, 3, shoalDouble, shoalSum, "shoalAllReduce(test accuracy)");
  if (log != nullptr) {
    const size_t images = static_cast<size_t>(sums[2]);
    printf("test after step %zu: loss %.4f accuracy %.2f%% (%zu images)\n", globalStep,
           sums[0] / sums[2], 100.0 * sums[1] / sums[2], images);
    fflush(stdout);
    log->test(globalStep, images, sums[0], sums[1], elapsed);
  }
}

int run(const train::TrainOptions& o, const PsOptions& po) {
  Comm comm;
  const int rank = comm.rank(), ranks = comm.size();
  if (po.servers >= ranks) {
    throw std::invalid_argument("--servers " + std::to_string(po.servers) +
                                " leaves no worker among " + std::to_string(ranks) + " ranks");
  }
  const int workers = po.servers == 0 ? ranks : ranks - po.servers;
  const int servers = po.servers == 0 ? ranks : po.servers;
  const bool isWorker = rank < workers;
  const bool isServer = po.servers == 0 || rank >= workers;

  // Workers read the data (a missing file fails them before anyone waits);
  // the parameter count reaches the servers from rank 0.
  train::Dataset trainSet, testSet;
  train::MlpShape shape;
  shape.hidden = o.hidden;
  shape.classes = train::Dataset::kClasses;
  uint64_t inputs = 0;
  if (isWorker) {
    trainSet = train::loadFashionMnist(o.dataDir, true);
    testSet = train::loadFashionMnist(o.dataDir, false);
    train::keepFirst(&testSet, o.testImages);
    inputs = trainSet.features();
  }
  comm.broadcast(&inputs, 1, shoalUint64, 0, "shoalBroadcast(input size)");
  shape.inputs = static_cast<size_t>(inputs);
  train::Mlp model(shape);
  const size_t P = model.parameterCount();
  std::vector<float> theta0(P);
  model.initialize(theta0.data(), o.seed);

  // The parameter server job beside the communicator: rank 0's id.
  shoalUniqueId id;
  if (rank == 0) train::checkShoal(shoalGetUniqueId(&id), nullptr, "shoalGetUniqueId");
  comm.broadcast(&id, sizeof(id), shoalUint8, 0, "shoalBroadcast(parameter server id)");
  shoal::ps::Options opts = shoal::ps::optionsFromEnv();
  opts.mode = po.mode;
  opts.staleness = po.staleness;
  opts.update = shoalPsUpdateMomentum;
  opts.learningRate = static_cast<double>(o.lr);
  opts.momentum = static_cast<double>(o.momentum);
  // About two partitions per server, so every server holds part of the model.
  const size_t perServer = (P * sizeof(float) + 2 * static_cast<size_t>(servers) - 1) /
                           (2 * static_cast<size_t>(servers));
  opts.partitionBytes = std::max<size_t>(4096, (perServer + 4095) / 4096 * 4096);
  const shoal::ps::Role role = isWorker && isServer ? shoal::ps::Role::Both
                               : isWorker           ? shoal::ps::Role::Worker
                                                    : shoal::ps::Role::Server;
  shoal::ps::ParameterServer ps(shoal::UniqueId(id), ranks, rank, role, &opts);

  train::BatchSchedule schedule(isWorker ? trainSet.count : 60000, o.batch, o.seed);
  const size_t perEpoch = schedule.stepsPerEpoch();
  const size_t total = o.steps ? std::min(o.steps, o.epochs * perEpoch) : o.epochs * perEpoch;
  const bool sync = po.mode == shoalPsSync;

  std::unique_ptr<train::LossLog> log;
  std::unique_ptr<train::ReferenceCheck> reference;
  if (rank == 0) {
    log = std::make_unique<train::LossLog>(o.csv, perEpoch, o.logEvery);
    printf(
        "%s: %d worker%s, %d server%s%s, mode %s, global batch %zu, %zu parameters (%zu KiB "
        "pushed and pulled per step, partitions of %zu KiB), %zu steps (%zu per epoch), lr %g "
        "(constant, on the servers) momentum %g seed %llu%s\n",
        kProgram, workers, workers == 1 ? "" : "s", servers, servers == 1 ? "" : "s",
        po.servers == 0 ? " (the same processes)" : "", po.modeName.c_str(), o.batch, P,
        P * sizeof(float) / 1024, opts.partitionBytes / 1024, total, perEpoch,
        static_cast<double>(o.lr), static_cast<double>(o.momentum),
        static_cast<unsigned long long>(o.seed), o.check ? ", --check" : "");
    fflush(stdout);
    if (o.check && sync && o.checkSteps > 0) {
      reference = std::make_unique<train::ReferenceCheck>(shape, theta0.data(), o.lr, o.momentum,
                                                          o.checkSteps, o.checkTol, kProgram);
    }
  }

  std::vector<float> u(isWorker ? P : 0, 0.f), params(isWorker ? P : 0), grad(isWorker ? P : 0);
  if (isWorker) {
    std::copy(theta0.begin(), theta0.end(), params.begin());
    ps.registerBuffer(u.data(), u.size() * sizeof(float));
  }
  const auto start = std::chrono::steady_clock::now();
  double ps_s = 0, check_s = 0;
  size_t samples = 0;
  uint64_t version = 0;
  for (size_t g = 0; g < total; ++g) {
    double stats[2] = {0, 0};  // the batch's summed loss and correct count
    size_t batchSize = 0;
    std::vector<uint32_t> batch;
    if (isWorker) {
      batch = schedule.globalBatch(g / perEpoch, g % perEpoch);
      batchSize = batch.size();
      const auto [lo, hi] = train::BatchSchedule::shard(batch.size(), rank, workers);
      std::fill(grad.begin(), grad.end(), 0.f);
      const train::BatchStats st = model.accumulateGradient(
          params.data(), trainSet, batch.data() + lo, hi - lo, grad.data());
      stats[0] = st.lossSum;
      stats[1] = static_cast<double>(st.correct);
      const float inv = 1.0f / static_cast<float>(batch.size());
      for (float& x : grad) x *= inv;

      const auto t0 = std::chrono::steady_clock::now();
      version = ps.wait(ps.pushPull(kParamsKey, grad, u));
      ps_s += secondsSince(t0);
      if (sync && version != g + 1) {
        throw std::runtime_error("rank " + std::to_string(rank) + ": step " +
                                 std::to_string(g + 1) + " pulled version " +
                                 std::to_string(version) + " in sync mode (expected " +
                                 std::to_string(g + 1) + ")");
      }
      for (size_t i = 0; i < P; ++i) params[i] = theta0[i] + u[i];
    }

    if (sync) {
      // One step's statistics and checks for everyone (servers add zeros).
      comm.allReduce(stats, 2, shoalDouble, shoalSum, "shoalAllReduce(batch statistics)");
      if (o.check) {
        const auto c0 = std::chrono::steady_clock::now();
        uint64_t refFailed =
            reference && !reference->afterStep(trainSet, batch, o.lr, params.data(), g) ? 1 : 0;
        comm.allReduce(&refFailed, 1, shoalUint64, shoalMax, "shoalAllReduce(check: verdict)");
        const uint64_t h = isWorker ? train::hashParameters(params.data(), P) : 0;
        if (!train::sameOnHolders(comm, isWorker ? &h : nullptr, "shoalAllReduce(check: hashes)")) {
          train::reportDifferingHashes(comm, h, workers, "worker", g + 1, kProgram);
          return 1;
        }
        if (refFailed != 0) return 1;
        check_s += secondsSince(c0);
      }
    }

    if (log) {
      // Async: rank 0 knows only its own shard's statistics.
      const size_t counted =
          sync ? batchSize : train::BatchSchedule::shard(batchSize, 0, workers).second;
      samples += batchSize;
      log->step(g, counted, stats[0], stats[1], secondsSince(start), ps_s);
    }
    if ((g + 1) % perEpoch == 0 || g + 1 == total) {
      evaluate(comm, isWorker ? &model : nullptr, params.data(), &testSet, rank, workers, g + 1,
               secondsSince(start), log.get());
    }
  }

  // Every push is in: all workers pull the final parameters, which must be
  // identical and carry the expected version (sync: the number of rounds;
  // async and ssp: every worker's every push applied, nothing lost).
  comm.allReduce(&version, 1, shoalUint64, shoalMax, "shoalAllReduce(all pushes done)");
  uint64_t finalVersion = 0, finalHash = 0;
  if (isWorker) {
    finalVersion = ps.wait(ps.pull(kParamsKey, u));
    finalHash = train::hashParameters(u.data(), P);
  }
  const uint64_t expectVersion = sync ? total : total * static_cast<uint64_t>(workers);
  const bool sameFinal =
      train::sameOnHolders(comm, isWorker ? &finalHash : nullptr, "shoalAllReduce(final hashes)");
  uint64_t wrongVersion = isWorker && finalVersion != expectVersion ? 1 : 0;
  comm.allReduce(&wrongVersion, 1, shoalUint64, shoalMax, "shoalAllReduce(final versions)");

  double times[2] = {secondsSince(start), ps_s};
  comm.allReduce(times, 2, shoalDouble, shoalMax, "shoalAllReduce(timings)");
  if (isServer) {
    const shoal::ps::ServerStats st = ps.serverStats();
    printf(
        "server (counted per partition): %llu pushes accepted, %llu pulls served, %llu %s, largest "
        "worker lead %d, %d "
        "dead workers\n",
        static_cast<unsigned long long>(st.pushesAccepted),
        static_cast<unsigned long long>(st.pullsServed),
        static_cast<unsigned long long>(st.roundsCompleted),
        sync ? "rounds completed" : "pushes applied", st.maxLead, st.deadWorkers);
    fflush(stdout);
  }
  if (rank == 0) {
    printf(
        "done: %zu steps, %.0f samples/s, %.2f s in all, up to %.2f s of it in push_pull on one "
        "worker\n",
        total, static_cast<double>(samples) / times[0], times[0], times[1]);
    if (!sameFinal || wrongVersion != 0) {
      fprintf(stderr,
              "%s: the final parameters differ between workers or do not carry version %llu "
              "(worker 0 pulled version %llu)\n",
              kProgram, static_cast<unsigned long long>(expectVersion),
              static_cast<unsigned long long>(finalVersion));
    } else if (o.check && sync) {
      printf(
          "check passed: parameters bitwise identical on all %d workers after each of %zu steps, "
          "final version %llu; largest deviation from the single-process reference over the "
          "first %zu steps: %.3g of its displacement (step %zu; %.3g after the last; tolerance "
          "%.3g); checking took %.2f s\n",
          workers, total, static_cast<unsigned long long>(finalVersion),
          std::min(o.checkSteps, total), reference ? reference->worst() : 0.0,
          reference ? reference->worstStep() : 0, reference ? reference->last() : 0.0, o.checkTol,
          check_s);
    } else if (o.check) {
      printf(
          "check passed: final parameters identical on all %d workers at version %llu (every "
          "one of %llu pushes applied)\n",
          workers, static_cast<unsigned long long>(finalVersion),
          static_cast<unsigned long long>(expectVersion));
    }
  }
  if (!sameFinal || wrongVersion != 0) return 1;
  if (isWorker) ps.deregisterBuffer(u.data());
  ps.finalize();
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  PsOptions po;
  int rc = parsePsOptions(&argc, argv, &po);
  if (rc >= 0) return rc;
  train::TrainOptions o;
  o.cosine = false;
  o.lr = 0.05f;
  rc = train::parseOptions(argc, argv, kProgram, &o);
  if (rc >= 0) return rc;
  try {
    return run(o, po);
  } catch (const std::exception& e) {
    const char* r = getenv("SHOAL_RANK");
    fprintf(stderr, "%s%s%s: %s\n", kProgram, r ? ": rank " : "", r ? r : "", e.what());
    return 1;
  }
}
