// Data-parallel training of a small MLP on Fashion-MNIST over shoal: every
// rank holds the whole model, computes the gradient sum of its shard of each
// global batch, and one shoalAllReduce (shoalSum over a single flat buffer)
// combines them before every rank takes the same SGD step.
//
//   shoalrun -n 4 examples/train_allreduce --epochs 5 --csv loss.csv [--check]
//
// Why shoalSum and not shoalAvg: the step needs the mean over the global
// batch, sum(all shard sums) / B. shoalAvg of per-rank means gives
// (1/N) sum_r (S_r / b_r), which equals it only when every shard has the same
// size b_r = B/N; B = 128 over 3, 5, 6 or 7 ranks, or the short last batch of
// an epoch, breaks that. Summing and dividing by B is the same formula for any
// rank count.
#include <shoal/shoal.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
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
#include "common/sgd.h"
#include "common/shoal_comm.h"

namespace {

constexpr const char* kProgram = "train_allreduce";

using train::Comm;

// --fault KIND:STEP[:RANK], parsed.
struct Fault {
  enum Kind { kNone, kParams, kGrad } kind = kNone;
  size_t step = 0;
  int rank = 0;
};

Fault parseFault(const std::string& text) {
  Fault f;
  if (text.empty()) return f;
  unsigned long long step = 0;
  int rank = 0, used = 0;
  if (sscanf(text.c_str(), "params:%llu:%d%n", &step, &rank, &used) == 2 &&
      used == static_cast<int>(text.size())) {
    f.kind = Fault::kParams;
  } else if (sscanf(text.c_str(), "grad:%llu%n", &step, &used) == 1 &&
             used == static_cast<int>(text.size())) {
    f.kind = Fault::kGrad;
  } else {
    throw std::invalid_argument("--fault: expected params:STEP:RANK or grad:STEP, not '" + text +
                                "'");
  }
  f.step = step;
  f.rank = rank;
  return f;
}

using train::secondsSince;

// Test accuracy: each rank evaluates a contiguous share of the test set and
// one all-reduce adds up the counts.
void evaluate(Comm& comm, train::Mlp& model, const float* params, const train::Dataset& test,
              size_t globalStep, double elapsed, train::LossLog* log) {
  const auto [begin, end] = train::BatchSchedule::shard(test.count, comm.rank(), comm.size());
  const train::BatchStats st = model.evaluate(params, test, begin, end);
  double sums[2] = {st.lossSum, static_cast<double>(st.correct)};
  comm.allReduce(sums, 2, shoalDouble, shoalSum, "shoalAllReduce(test accuracy)");
  if (log != nullptr) {
    printf("test after step %zu: loss %.4f accuracy %.2f%% (%zu images)\n", globalStep,
           sums[0] / static_cast<double>(test.count),
           100.0 * sums[1] / static_cast<double>(test.count), test.count);
    fflush(stdout);
    log->test(globalStep, test.count, sums[0], sums[1], elapsed);
  }
}

int run(const train::TrainOptions& o) {
  const Fault fault = parseFault(o.fault);
  // Data first: a missing or damaged file fails every rank the same way,
  // before any of them waits for the others.
  const train::Dataset trainSet = train::loadFashionMnist(o.dataDir, true);
  train::Dataset testSet = train::loadFashionMnist(o.dataDir, false);
  train::keepFirst(&testSet, o.testImages);
  if (testSet.features() != trainSet.features()) {
    throw train::DataError(o.dataDir + ": test images are " + std::to_string(testSet.rows) + "x" +
                           std::to_string(testSet.cols) + ", training images " +
                           std::to_string(trainSet.rows) + "x" + std::to_string(trainSet.cols));
  }

  Comm comm;
  const int rank = comm.rank(), ranks = comm.size();

  train::MlpShape shape;
  shape.inputs = trainSet.features();
  shape.hidden = o.hidden;
  shape.classes = train::Dataset::kClasses;
  train::Mlp model(shape);
  const size_t P = model.parameterCount();
  std::vector<float> params(P);
  model.initialize(params.data(), o.seed);
  train::SgdMomentum opt(P, o.lr, o.momentum);
  // The gradient, then the shard's summed loss and correct count, so the
  // batch statistics ride along in the same all-reduce.
  std::vector<float> buf(P + 2);

  train::BatchSchedule schedule(trainSet.count, o.batch, o.seed);
  const size_t perEpoch = schedule.stepsPerEpoch();
  const size_t total = o.steps ? std::min(o.steps, o.epochs * perEpoch) : o.epochs * perEpoch;

  std::unique_ptr<train::LossLog> log;
  std::unique_ptr<train::ReferenceCheck> reference;
  if (rank == 0) {
    log = std::make_unique<train::LossLog>(o.csv, perEpoch, o.logEvery);
    const size_t lowShard = o.batch / static_cast<size_t>(ranks);
    const std::string perRank = o.batch % static_cast<size_t>(ranks) == 0
                                    ? std::to_string(lowShard)
                                    : std::to_string(lowShard) + "-" + std::to_string(lowShard + 1);
    printf(
        "%s: %d rank%s, global batch %zu (%s per rank), %zu parameters (%zu KiB "
        "all-reduced per step), %zu steps (%zu per epoch), lr %g (%s) momentum %g seed %llu%s\n",
        kProgram, ranks, ranks == 1 ? "" : "s", o.batch, perRank.c_str(), P,
        (P + 2) * sizeof(float) / 1024, total, perEpoch, static_cast<double>(o.lr),
        o.cosine ? "cosine" : "constant", static_cast<double>(o.momentum),
        static_cast<unsigned long long>(o.seed), o.check ? ", --check" : "");
    fflush(stdout);
    if (o.check && o.checkSteps > 0) {
      reference = std::make_unique<train::ReferenceCheck>(shape, params.data(), o.lr, o.momentum,
                                                          o.checkSteps, o.checkTol, kProgram);
    }
  }

  const auto start = std::chrono::steady_clock::now();
  double comm_s = 0, check_s = 0;
  size_t samples = 0;
  for (size_t g = 0; g < total; ++g) {
    const size_t epoch = g / perEpoch;
    const std::vector<uint32_t> batch = schedule.globalBatch(epoch, g % perEpoch);
    const auto [lo, hi] = train::BatchSchedule::shard(batch.size(), rank, ranks);
    samples += batch.size();
    std::fill(buf.begin(), buf.end(), 0.f);
    const train::BatchStats st =
        model.accumulateGradient(params.data(), trainSet, batch.data() + lo, hi - lo, buf.data());
    buf[P] = static_cast<float>(st.lossSum);
    buf[P + 1] = static_cast<float>(st.correct);

    const auto t0 = std::chrono::steady_clock::now();
    comm.allReduce(buf.data(), buf.size(), shoalFloat, shoalSum, "shoalAllReduce(gradient)");
    comm_s += secondsSince(t0);
    if (g == 0 && rank == 0) {
      const char* algo = shoalCommLastAlgorithm(comm.get());
      const char* transport = shoalCommTransportName(comm.get());
      printf("gradient all-reduce: algorithm %s, transport %s\n", algo ? algo : "?",
             transport ? transport : "?");
      fflush(stdout);
    }

    if (fault.kind == Fault::kGrad && fault.step == g + 1) {
      for (size_t i = 0; i < P; ++i) buf[i] *= 2.f;
    }
    const float lr = o.cosine ? train::cosineLearningRate(o.lr, g, total) : o.lr;
    opt.setLearningRate(lr);
    opt.step(params.data(), buf.data(), batch.size());
    if (fault.kind == Fault::kParams && fault.step == g + 1 && fault.rank == rank) {
      params[P / 2] += 1e-3f;
    }

    if (o.check) {
      const auto c0 = std::chrono::steady_clock::now();
      uint64_t refFailed =
          reference && !reference->afterStep(trainSet, batch, lr, params.data(), g) ? 1 : 0;
      // The hash comparison carries rank 0's reference verdict to everyone.
      const uint64_t h = train::hashParameters(params.data(), P);
      if (!train::sameOnHolders(comm, &h, "shoalAllReduce(check: hashes)", &refFailed)) {
        train::reportDifferingHashes(comm, h, ranks, "rank", g + 1, kProgram);
        return 1;
      }
      if (refFailed != 0) {
        if (rank != 0) {
          fprintf(stderr, "%s: rank %d: stopping: rank 0 reported a check failure at step %zu\n",
                  kProgram, rank, g + 1);
        }
        return 1;
      }
      check_s += secondsSince(c0);
    }

    if (log) {
      log->step(g, batch.size(), buf[P], buf[P + 1], secondsSince(start), comm_s);
    }
    if ((g + 1) % perEpoch == 0 || g + 1 == total) {
      evaluate(comm, model, params.data(), testSet, g + 1, secondsSince(start), log.get());
    }
  }

  double times[2] = {secondsSince(start), comm_s};
  comm.allReduce(times, 2, shoalDouble, shoalMax, "shoalAllReduce(timings)");
  if (rank == 0) {
    printf(
        "done: %zu steps, %.0f samples/s, %.2f s in all, up to %.2f s of it in the gradient "
        "all-reduce on one rank\n",
        total, static_cast<double>(samples) / times[0], times[0], times[1]);
    if (o.check) {
      printf(
          "check passed: parameters bitwise identical on all %d rank%s after each of %zu "
          "steps; largest deviation from the single-process reference over the first %zu "
          "steps: %.3g of its displacement (step %zu; %.3g after the last; tolerance %.3g); "
          "checking took %.2f s\n",
          ranks, ranks == 1 ? "" : "s", total, std::min(o.checkSteps, total),
          reference ? reference->worst() : 0.0, reference ? reference->worstStep() : 0,
          reference ? reference->last() : 0.0, o.checkTol, check_s);
    }
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  train::TrainOptions o;
  const int rc = train::parseOptions(argc, argv, kProgram, &o);
  if (rc >= 0) return rc;
  try {
    return run(o);
  } catch (const std::exception& e) {
    const char* r = getenv("SHOAL_RANK");
    fprintf(stderr, "%s%s%s: %s\n", kProgram, r ? ": rank " : "", r ? r : "", e.what());
    return 1;
  }
}
