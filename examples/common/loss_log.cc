#include "common/loss_log.h"

#include <cerrno>
#include <cstring>
#include <stdexcept>

namespace train {

LossLog::LossLog(const std::string& csvPath, size_t stepsPerEpoch, size_t logEvery)
    : path_(csvPath), stepsPerEpoch_(stepsPerEpoch), logEvery_(logEvery) {
  if (csvPath.empty()) return;
  csv_ = fopen(csvPath.c_str(), "w");
  if (csv_ == nullptr) throw std::runtime_error(csvPath + ": cannot create: " + strerror(errno));
  fprintf(csv_, "step,epoch,split,loss,accuracy,elapsed_s,comm_s\n");
}

LossLog::~LossLog() {
  if (csv_ != nullptr && fclose(csv_) != 0) {
    fprintf(stderr, "%s: cannot write: %s\n", path_.c_str(), strerror(errno));
  }
}

void LossLog::writeRow(size_t globalStep, const char* split, double loss, double accuracy,
                       double elapsed, double comm) {
  if (csv_ == nullptr) return;
  fprintf(csv_, "%zu,%.4f,%s,%.6f,%.5f,%.4f,%.4f\n", globalStep,
          static_cast<double>(globalStep) / static_cast<double>(stepsPerEpoch_), split, loss,
          accuracy, elapsed, comm);
}

void LossLog::step(size_t globalStep, size_t samples, double lossSum, double correct,
                   double elapsed, double commSeconds) {
  const double n = static_cast<double>(samples);
  writeRow(globalStep + 1, "train", lossSum / n, correct / n, elapsed, commSeconds);
  ++steps_;
  samples_ += samples;
  loss_ += lossSum;
  correct_ += correct;
  if ((globalStep + 1) % logEvery_ != 0) return;
  const double dt = elapsed - lastElapsed_, dc = commSeconds - lastComm_;
  printf("epoch %zu step %zu/%zu loss %.4f acc %.2f%% samples/s %.0f comm %.3fs (%.0f%%)\n",
         globalStep / stepsPerEpoch_ + 1, globalStep % stepsPerEpoch_ + 1, stepsPerEpoch_,
         loss_ / static_cast<double>(samples_), 100.0 * correct_ / static_cast<double>(samples_),
         dt > 0 ? static_cast<double>(samples_) / dt : 0.0, dc, dt > 0 ? 100.0 * dc / dt : 0.0);
  fflush(stdout);
  steps_ = samples_ = 0;
  loss_ = correct_ = 0;
  lastElapsed_ = elapsed;
  lastComm_ = commSeconds;
}

void LossLog::test(size_t globalStep, size_t samples, double lossSum, double correct,
                   double elapsed) {
  const double n = static_cast<double>(samples);
  writeRow(globalStep, "test", lossSum / n, correct / n, elapsed, 0);
  if (csv_ != nullptr) fflush(csv_);
}

}  // namespace train
